"""Callbacks: the per-epoch fixed-noise sample grid, saved to disk and logged to W&B."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from igan.images import grid_array, save_png


def fixed_noise(num: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The same (num, latent_dim) batch on every machine and for every model with this latent size."""
    return torch.randn(num, latent_dim, generator=torch.Generator().manual_seed(seed))


class SampleGrid(L.Callback):
    """Every epoch, and once before training, draws the fixed noise batch through the generator.

    Grids go to ``<dirpath>/epoch_<NNN>.png`` (NNN = epochs trained so far, 000 before
    training) and to W&B as ``samples`` with ``epoch`` as x-axis, so runs of different
    models line up epoch by epoch on one dashboard.

    Args:
        num: images per grid.
        seed: seed of the fixed noise (the same seed gives the same noise to every model).
        dirpath: folder of the grids; the CLI sets ``samples/<run_name>`` when None.
    """

    def __init__(self, num: int = 64, seed: int = 0, dirpath: Optional[str] = None) -> None:
        if num < 1:
            raise ValueError(f"samples.num must be >= 1, got {num}")
        self.num, self.seed = num, seed
        self.dirpath: Optional[Path] = Path(dirpath) if dirpath else None
        self.noise: Optional[torch.Tensor] = None
        self.last_path: Optional[Path] = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.noise = fixed_noise(self.num, pl_module.latent_dim, self.seed)
        if self.dirpath is None:
            self.dirpath = Path(trainer.default_root_dir) / "samples"
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and trainer.is_global_zero:
                logger.experiment.define_metric("epoch")
                logger.experiment.define_metric("samples", step_metric="epoch")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0:  # not when resuming: that grid exists already
            self.log_grid(trainer, pl_module, epoch=0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.log_grid(trainer, pl_module, epoch=trainer.current_epoch + 1)

    def log_grid(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        if not trainer.is_global_zero:
            return
        grid = grid_array(pl_module.sample(self.noise))
        self.last_path = save_png(grid, self.dirpath / f"epoch_{epoch:03d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({"samples": wandb.Image(grid, caption=f"epoch {epoch}"), "epoch": epoch})
