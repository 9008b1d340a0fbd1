"""Callbacks: the per-epoch fixed-noise sample grid (and involution kernel maps), on disk and in W&B."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info

from igan.io.images import grid_array, save_image
from igan.noise import fixed_noise
from igan.training.kernel_maps import (
    generate_with_kernel_maps,
    involution_layers,
    kernel_map_tiles,
)


def diversity(images: torch.Tensor) -> float:
    """Per-pixel standard deviation across a batch of images in [-1, 1], averaged over pixels.

    A collapse detector that needs no feature extractor: 64 real calligraphy glyphs give about
    0.58, a generator that draws one pattern for every z gives close to 0.
    """
    return images.detach().float().std(dim=0).mean().item()


class SampleGrid(L.Callback):
    """Every epoch, and once before training, draws the fixed noise batch through the generator.

    Grids go to ``<dirpath>/epoch_<NNN>.png`` (NNN = epochs trained so far, 000 before
    training) and to W&B as ``samples`` with ``epoch`` as x-axis, so runs of different
    models line up epoch by epoch on one dashboard.

    For a generator with involution layers, the first ``kernel_maps`` images of the batch are
    also drawn beside their kernel maps (one per layer, see :mod:`igan.training.kernel_maps`) into
    ``kernels_epoch_<NNN>.png`` and W&B's ``kernel_maps``.

    Args:
        num: images per grid.
        seed: seed of the fixed noise (the same seed gives the same noise to every model).
        dirpath: folder of the grids; the CLI sets ``samples/<run_name>`` when None.
        kernel_maps: images shown with their involution kernel maps (0 = off; at most ``num``).
    """

    def __init__(self, num: int = 64, seed: int = 0, dirpath: Optional[str] = None, kernel_maps: int = 16) -> None:
        if num < 1:
            raise ValueError(f"samples.num must be >= 1, got {num}")
        if kernel_maps < 0:
            raise ValueError(f"samples.kernel_maps must be >= 0, got {kernel_maps}")
        self.num, self.seed, self.kernel_maps = num, seed, min(kernel_maps, num)
        self.dirpath: Optional[Path] = Path(dirpath) if dirpath else None
        self.noise: Optional[torch.Tensor] = None
        self.last_path: Optional[Path] = None
        self.diversity: dict[int, float] = {}  # epoch -> diversity of that epoch's grid
        self.real_diversity: Optional[float] = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.noise = fixed_noise(self.num, pl_module.latent_dim, self.seed)
        if self.dirpath is None:
            self.dirpath = Path(trainer.default_root_dir) / "samples"

    def grid_path(self, epoch: int) -> Optional[Path]:
        return self.dirpath / f"epoch_{epoch:03d}.png" if self.dirpath is not None else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.real_diversity = self.measure_real_diversity(trainer)
        if self.real_diversity is not None and trainer.is_global_zero:
            rank_zero_info(f"diversity of {self.num} real training images: {self.real_diversity:.3f}")
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.experiment.summary["metrics/diversity_real"] = self.real_diversity
        if trainer.current_epoch == 0 and trainer.global_step == 0:  # not when resuming: that grid exists already
            self.log_grid(trainer, pl_module, epoch=0)

    def measure_real_diversity(self, trainer: L.Trainer) -> Optional[float]:
        """:func:`diversity` of ``num`` real images (a seeded choice): the level a healthy generator reaches."""
        dataset = getattr(trainer.datamodule, "dataset", None) if trainer.datamodule is not None else None
        if dataset is None or len(dataset) < 2:
            return None
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(self.seed))[: self.num]
        items = [dataset[int(i)] for i in order]
        images = torch.stack([item[0] if isinstance(item, (tuple, list)) else item for item in items])
        return diversity(images)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.log_grid(trainer, pl_module, epoch=trainer.current_epoch + 1)

    def log_grid(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        if not trainer.is_global_zero:
            return
        samples = pl_module.sample(self.noise)
        self.diversity[epoch] = diversity(samples)
        grid = grid_array(samples)
        self.last_path = save_image(grid, self.grid_path(epoch))
        images = {"samples": grid}
        kernels = self.kernel_map_grid(pl_module)
        if kernels is not None:
            save_image(kernels, self.dirpath / f"kernels_epoch_{epoch:03d}.png")
            images["kernel_maps"] = kernels
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logged = {key: wandb.Image(array, caption=f"epoch {epoch}") for key, array in images.items()}
                logger.experiment.log({**logged, "metrics/diversity": self.diversity[epoch], "epoch": epoch})

    def kernel_map_grid(self, pl_module: L.LightningModule):
        """Rows of ``[image | kernel map per involution layer]`` pairs, or None without involution."""
        generator = pl_module.eval_generator
        layers = len(involution_layers(generator))
        if self.kernel_maps == 0 or layers == 0:
            return None
        z = self.noise[: self.kernel_maps].to(pl_module.device)
        tiles = kernel_map_tiles(*generate_with_kernel_maps(generator, z))
        per_row = max(1, round((self.kernel_maps ** 0.5)))  # samples per row: a roughly square grid
        return grid_array(tiles, nrow=per_row * (1 + layers))
