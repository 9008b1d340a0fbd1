"""The held-out grid of a translation run: the same characters every epoch, in every style.

Row 0 holds the source glyphs, then each style has two rows: the translation and the truth.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from igan.io.images import grid_array, save_image


class HeldOutGrid(L.Callback):
    """Before training and after every epoch: ``<dirpath>/epoch_<NNN>.png`` and W&B's ``samples``.

    The columns are the first ``num_chars`` held-out characters that every style has.

    Args:
        num_chars: characters (columns) in the grid.
        dirpath: folder of the grids; the CLI sets ``samples/<run_name>`` when None.
    """

    def __init__(self, num_chars: int = 8, dirpath: str | None = None) -> None:
        if num_chars < 1:
            raise ValueError(f"samples.num_chars must be >= 1, got {num_chars}")
        self.num_chars = num_chars
        self.dirpath: Path | None = Path(dirpath) if dirpath else None
        self.last_path: Path | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = Path(trainer.default_root_dir) / "samples"

    def grid_path(self, epoch: int) -> Path | None:
        return self.dirpath / f"epoch_{epoch:03d}.png" if self.dirpath is not None else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0 and trainer.global_step == 0:
            self.log_grid(trainer, pl_module, 0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.log_grid(trainer, pl_module, trainer.current_epoch + 1)

    @staticmethod
    def columns(datamodule, num_chars: int) -> list[int]:
        """Character ids of the grid: held-out characters present in every style, in data order."""
        held = datamodule.held_out
        pairs = held.pairs
        chars, styles = pairs.char_index[held.indices], pairs.style_index[held.indices]
        complete = [int(c) for c in torch.unique(chars, sorted=True)
                    if len(torch.unique(styles[chars == c])) == len(pairs.styles)]
        return (complete or torch.unique(chars, sorted=True).tolist())[:num_chars]

    def images(self, datamodule, pl_module) -> torch.Tensor:
        """(rows * columns, 1, H, W) in [-1, 1]: sources, then per style translations and truths (blank where absent)."""
        datamodule.setup("fit")
        held = datamodule.held_out
        pairs = held.pairs
        columns = self.columns(datamodule, self.num_chars)
        chars, styles = pairs.char_index[held.indices], pairs.style_index[held.indices]
        sources = pairs.sources[torch.tensor(columns)].float().div(127.5).sub(1).unsqueeze(1)
        rows = [sources]
        for style in range(len(pairs.styles)):
            translated = pl_module.translate(sources, torch.full((len(columns),), style)).cpu().float()
            truth = torch.ones_like(sources)  # white where the style lacks the character
            for j, c in enumerate(columns):
                at = torch.nonzero((chars == c) & (styles == style)).flatten()
                if len(at):
                    truth[j] = pairs.targets[held.indices[at[0]]].float().div(127.5).sub(1)
            rows += [translated, truth]
        return torch.cat(rows)

    def log_grid(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        if not trainer.is_global_zero:
            return
        images = self.images(trainer.datamodule, pl_module)
        grid = grid_array(images, nrow=len(self.columns(trainer.datamodule, self.num_chars)))
        self.last_path = save_image(grid, self.grid_path(epoch))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({"samples": wandb.Image(grid, caption=f"epoch {epoch}"), "epoch": epoch})
