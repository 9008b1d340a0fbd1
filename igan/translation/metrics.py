"""Held-out scores of a translation run: L1, SSIM, FID and KID per style and overall, per epoch.

Every evaluation translates the source glyph of each held-out character into every style and
compares it with the true glyph of that style: L1 (mean absolute difference of intensities in
[0, 1]) and SSIM (torchmetrics, data range 1) image by image, FID and KID (the Inception path of
:mod:`igan.metrics`) of the translated against the true glyphs, one Inception pass per image.
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_warn
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.image.kid import KernelInceptionDistance

from igan.metrics.cache import cache_path, cached_real_features
from igan.metrics.evaluate import KID_SUBSET_SIZE, extract_features
from igan.metrics.frechet import FeaturePassThrough, frechet_distance
from igan.metrics.inception import (
    InceptionFeatures,
    InceptionWeightsMissing,
    load_inception,
)

SCORES = ("l1", "ssim", "fid", "kid", "kid_std")


def style_slug(style: str) -> str:
    """A column-safe name of a style font: ``LXGW WenKai`` -> ``lxgw-wenkai``; a path gives its file stem."""
    name = Path(style).stem if "/" in style else style
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "style"


def metric_columns(styles: list[str]) -> list[str]:
    """The overall scores, then each style's as ``<score>_<style slug>``."""
    return [*SCORES, *(f"{score}_{style_slug(s)}" for s in styles for score in SCORES)]


def held_out_selection(datamodule, num_chars: int | None) -> Tensor:
    """Indices into the held-out dataset of the pairs of its first ``num_chars`` characters (all when None)."""
    held = datamodule.held_out
    chars = held.pairs.char_index[held.indices]
    if num_chars is None:
        return torch.arange(len(held))
    first = torch.unique(chars, sorted=True)[:num_chars]
    return torch.nonzero(torch.isin(chars, first)).flatten()


def unit(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1]."""
    return images.float().add(1).div(2).clamp(0, 1)


def pixel_scores(fake: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """Per image: L1 and SSIM of ``fake`` against ``real`` (both (N, 1, H, W) in [-1, 1])."""
    fake, real = unit(fake), unit(real)
    l1 = (fake - real).abs().flatten(1).mean(dim=1)
    ssim = structural_similarity_index_measure(fake, real, data_range=1.0, reduction="none")
    return l1, ssim


class RealSet:
    """The true glyphs' features of one style (or all): FID by :func:`frechet_distance`, KID by torchmetrics."""

    def __init__(self, real: Tensor, subsets: int = 100, seed: int = 0) -> None:
        self.real, self.subsets, self.seed = real.float(), subsets, seed

    def kid(self, fake: Tensor) -> tuple[float, float]:
        """KID (mean, std) over subsets of ``min(1000, N_real, N_fake)``; one subset when that is both counts."""
        size = min(KID_SUBSET_SIZE, len(self.real), len(fake))
        subsets = 1 if size == len(self.real) == len(fake) else self.subsets
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")  # moot here
            torch.manual_seed(self.seed)
            metric = KernelInceptionDistance(feature=FeaturePassThrough(self.real.shape[1]), subsets=subsets,
                                             subset_size=size, sync_on_compute=False)
            metric.update(self.real, real=True)
            metric.update(fake.float(), real=False)
            kid, kid_std = metric.compute()
        return float(kid), float(kid_std)


class HeldOutMetrics(L.Callback):
    """Scores the held-out characters before training and every ``every_n_epochs`` epochs.

    Results: :attr:`results` maps epoch -> {``l1``, ``ssim``, ``fid``, ``kid``, ``kid_std``,
    ``<score>_<style>`` ..., ``eval_seconds``}; W&B gets each as ``metrics/<key>`` against ``epoch``.
    FID and KID are left out (with one warning) where no Inception weights exist, or when ``fid``
    is false. The true glyphs' Inception features are cached under ``data.root/fid_stats``.

    Args:
        every_n_epochs: evaluate every this many epochs (0 = off); the last epoch is always scored.
        num_chars: held-out characters scored (the first ones, by their order in the data), in every
            style; None = all. FID depends on the count: compare runs at equal ``num_chars``.
        fid: also compute FID and KID.
        batch_size: images per generator call (Inception takes its own chunks, the fastest for the device).
        weights: a TorchScript Inception file (see :func:`igan.metrics.load_inception`).
        at_start: also score before training (epoch 0).
    """

    def __init__(self, every_n_epochs: int = 1, num_chars: int | None = 128, fid: bool = True,
                 batch_size: int = 50, weights: str | None = None, at_start: bool = True) -> None:
        if every_n_epochs < 0:
            raise ValueError(f"metrics.every_n_epochs must be >= 0, got {every_n_epochs}")
        if num_chars is not None and num_chars < 2:
            raise ValueError(f"metrics.num_chars must be >= 2 (FID needs a covariance) or null, got {num_chars}")
        if batch_size < 1:
            raise ValueError(f"metrics.batch_size must be >= 1, got {batch_size}")
        self.every_n_epochs, self.num_chars, self.fid, self.batch_size = every_n_epochs, num_chars, fid, batch_size
        self.weights, self.at_start = weights, at_start
        self.results: dict[int, dict[str, float]] = {}
        self.extractor: InceptionFeatures | None = None
        self.evaluators: dict[int | None, RealSet] | None = None  # style id (None = all) -> true glyphs

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or self.every_n_epochs == 0 or not self.fid or self.extractor is not None:
            return
        try:
            self.extractor = load_inception(self.weights)
        except InceptionWeightsMissing as err:
            self.fid = False
            rank_zero_warn(f"held-out FID/KID are off for this run (L1 and SSIM stay on): {err}")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_start and self.every_n_epochs > 0 and trainer.current_epoch == 0 and 0 not in self.results:
            self.evaluate_epoch(trainer, pl_module, 0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and 0 <= trainer.max_epochs <= epoch
        if self.every_n_epochs > 0 and (epoch % self.every_n_epochs == 0 or last or trainer.should_stop):
            self.evaluate_epoch(trainer, pl_module, epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"results": self.results}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.results = {int(k): v for k, v in state_dict.get("results", {}).items()}

    def evaluate_epoch(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> dict | None:
        """Rank 0 scores, the others wait for its result (the evaluation is small)."""
        if trainer.sanity_checking or trainer.fast_dev_run:
            return None
        values = None
        if trainer.is_global_zero:
            start = time.perf_counter()
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                values = self.scores(trainer.datamodule, pl_module)
            values["eval_seconds"] = time.perf_counter() - start
        values = trainer.strategy.broadcast(values, src=0)
        self.results[epoch] = values
        if "fid" in values:
            trainer.callback_metrics["metrics/fid"] = torch.tensor(values["fid"])
        trainer.callback_metrics["metrics/l1"] = torch.tensor(values["l1"])
        if trainer.is_global_zero:
            self._log(trainer, epoch, values)
        return values

    def scores(self, datamodule, pl_module) -> dict[str, float]:
        """Every score of the current generator on the selected held-out pairs."""
        datamodule.setup("fit")
        held = datamodule.held_out
        selected = held_out_selection(datamodule, self.num_chars)
        sources, targets, styles = held.__getitems__(selected.tolist())
        fakes = torch.cat([pl_module.translate(s, y).cpu() for s, y in
                           zip(sources.split(self.batch_size), styles.split(self.batch_size))])
        l1, ssim = pixel_scores(fakes, targets)
        names = datamodule.style_names()
        groups: dict[str, Tensor] = {"": torch.ones(len(styles), dtype=torch.bool)}
        groups.update({f"_{style_slug(name)}": styles == s for s, name in enumerate(names)})
        values: dict[str, float] = {}
        for suffix, mask in groups.items():
            if mask.any():
                values[f"l1{suffix}"] = l1[mask].mean().item()
                values[f"ssim{suffix}"] = ssim[mask].mean().item()
        if self.fid and self.extractor is not None:
            values.update(self._fid(datamodule, targets, styles, fakes, names))
        return values

    def _fid(self, datamodule, targets: Tensor, styles: Tensor, fakes: Tensor, names: list[str]) -> dict[str, float]:
        self.extractor.to("cpu")
        if self.evaluators is None:
            self.evaluators = self._build_evaluators(datamodule, targets, styles, len(names))
        fake = extract_features(self.extractor, fakes.split(self.batch_size)).pool
        values = {}
        for style, evaluator in self.evaluators.items():
            mask = torch.ones(len(styles), dtype=torch.bool) if style is None else styles == style
            if int(mask.sum()) < 2:
                continue
            kid, kid_std = evaluator.kid(fake[mask])
            suffix = "" if style is None else f"_{style_slug(names[style])}"
            values.update({f"fid{suffix}": frechet_distance(evaluator.real, fake[mask]),
                           f"kid{suffix}": kid, f"kid_std{suffix}": kid_std})
        return values

    def _build_evaluators(self, datamodule, targets: Tensor, styles: Tensor, num_styles: int) -> dict:
        """Real features of the true glyphs (cached on disk by their content), one evaluator per style and one overall."""
        digest = hashlib.sha256(targets.numpy().tobytes() + styles.numpy().tobytes()).hexdigest()[:12]
        cache_dir = Path(datamodule.fid_cache_dir()) if hasattr(datamodule, "fid_cache_dir") else Path("fid_stats")
        path = cache_path(cache_dir, f"calligraphy_pairs-heldout-{digest}", tuple(targets.shape[1:]), len(targets),
                          self.extractor.name)
        started = time.perf_counter()
        real, cached = cached_real_features(path, self.extractor, len(targets), lambda: targets.split(self.batch_size))
        if not cached:
            rank_zero_info(f"metrics: held-out real features of {len(targets)} glyphs in "
                           f"{time.perf_counter() - started:.0f} s -> {path}")
        evaluators: dict[int | None, RealSet] = {None: RealSet(real)}
        for style in range(num_styles):
            mask = styles == style
            if int(mask.sum()) >= 2:
                evaluators[style] = RealSet(real[mask])
        return evaluators

    def _log(self, trainer: L.Trainer, epoch: int, values: dict[str, float]) -> None:
        fid = f"  FID {values['fid']:.2f}  KID {values['kid']:.4f}" if "fid" in values else ""
        rank_zero_info(f"held-out epoch {epoch}: L1 {values['l1']:.4f}  SSIM {values['ssim']:.4f}{fid}  "
                       f"({values['eval_seconds']:.0f} s)")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.log({**{f"metrics/{k}": v for k, v in values.items()}, "epoch": epoch})
