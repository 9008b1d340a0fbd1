"""Training entry of translation runs: ``igan train --config configs/translate/<x>.yaml`` (dispatched here by ``task: translation``).

The configs carry ``task: translation`` at their top level, which is what ``train_gan.py`` reads
to send them here. The run folder, checkpoints (atomic, ``last.ckpt`` every epoch), exact resume,
graceful interrupts, W&B with an ``epoch`` axis and the one-line errors are those of
:mod:`igan.training.cli`; the grid, the held-out scores and ``metrics.csv`` are translation's own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal, Optional

import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser

from igan.io.checkpoint_file import load_checkpoint_file
from igan.errors import IganError
from igan.training import wandb_logging
from igan.training.base_cli import RunConfigSaver, RunFolderCLI
from igan.training.checkpoints import AtomicCheckpointIO, LastCheckpoint
from igan.training.cli import main as train_main
from igan.training.guards import DivergenceGuard
from igan.training.resume import ExactResume, GracefulInterrupt
from igan.translation.data import PairsDataModule
from igan.translation.grid import HeldOutGrid
from igan.translation.history import TranslationHistory
from igan.translation.metrics import HeldOutMetrics
from igan.translation.module import Translation

TASK = "translation"
#: Hyperparameters a resumed checkpoint must share with the run (the rest may change, e.g. the learning rate).
ARCHITECTURE = ("image_size", "num_styles", "block", "block_resolutions", "width_g", "width_d", "style_dim",
                "kernel_size", "group_channels", "reduction_ratio", "attention_pool")


def check_resumable(ckpt: dict, path: Path, hparams: dict, data: dict) -> None:
    """Refuse a checkpoint that is no translation checkpoint, or of another architecture or styles."""
    if (ckpt.get("igan") or {}).get("task") != TASK or "state_dict" not in ckpt or "loops" not in ckpt:
        raise IganError(f"{path} is not a checkpoint of a translation training run")
    saved = ckpt.get("hyper_parameters") or {}
    differ = [k for k in ARCHITECTURE if _plain(saved.get(k)) != _plain(hparams.get(k))]
    if differ:
        shown = ", ".join(f"model.{k}={saved.get(k)!r} (this run {hparams.get(k)!r})" for k in differ)
        raise IganError(f"{path} was trained with {shown}; resume with the config it was trained with")
    saved_data = ckpt.get("datamodule_hyper_parameters") or {}
    for key in ("source_font", "styles", "image_size"):
        if key in saved_data and _plain(saved_data[key]) != _plain(data.get(key)):
            raise IganError(f"{path} was trained on data.{key}={saved_data[key]!r}, this run has {data.get(key)!r}")


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


class TranslationCLI(RunFolderCLI):
    """LightningCLI over :class:`Translation` and :class:`PairsDataModule`, with igan's run folder."""

    def __init__(self, args: list[str] | None = None) -> None:
        super().__init__(
            Translation, PairsDataModule, run=False, args=args, seed_everything_default=0,
            save_config_callback=RunConfigSaver, save_config_kwargs={"overwrite": True},
            trainer_defaults={"default_root_dir": "runs", "log_every_n_steps": 10},
            parser_kwargs={"prog": "igan train"},
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--task", type=Literal["translation"], default=TASK,
                            help="Marks a translation config (train_gan.py dispatches on it).")
        self.add_run_arguments(parser, "calligraphy_pairs-<block>-s<seed>", "translate")
        parser.add_lightning_class_args(HeldOutGrid, "samples")
        parser.add_lightning_class_args(HeldOutMetrics, "metrics")
        self.add_checkpoint_arguments(parser)
        parser.link_arguments("data.image_size", "model.image_size")
        parser.link_arguments("data.styles", "model.num_styles", compute_fn=len)

    def run_name(self) -> str:
        return self.config.run_name or f"calligraphy_pairs-{self.config.model.block}-s{self.config.seed_everything}"

    def build_trainer(self, name: str, root: Path, checkpoint: ModelCheckpoint, samples: HeldOutGrid,
                      resumed: Optional[dict], **kwargs):
        wandb_id = ((resumed or {}).get("igan") or {}).get("wandb_run_id")
        if self.config.trainer.logger in (None, True):
            config = yaml.safe_load(self.parser.dump(self.config, skip_link_targets=False, skip_none=False))
            root.mkdir(parents=True, exist_ok=True)
            logger = wandb_logging.EpochAxisWandbLogger(
                project=self.config.wandb_project, name=name, group=self.config.wandb_group or "translate",
                save_dir=str(root), config=config, **({"id": wandb_id, "resume": "allow"} if wandb_id else {}),
            )
            logger.progress_source = self.model
            kwargs["logger"] = logger
        metrics: HeldOutMetrics = self.config_init.metrics
        # Lightning calls callbacks in list order, checkpoints last: the metrics.csv row of an epoch
        # follows its grid and scores, and the checkpoint follows the row.
        extra = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
        extra += [TranslationHistory(Path(checkpoint.dirpath).parent, list(self.config.data.styles), samples, metrics),
                  last := LastCheckpoint(checkpoint.dirpath),
                  DivergenceGuard(checkpoint.dirpath),
                  ExactResume(self.config.seed_everything if type(self.config.seed_everything) is int else None),
                  GracefulInterrupt(last)]
        trainer_config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        if not trainer_config.get("plugins"):
            trainer_config["plugins"] = [AtomicCheckpointIO()]
        trainer = self._instantiate_trainer(trainer_config, extra)
        for logger in trainer.loggers:
            if isinstance(logger, wandb_logging.EpochAxisWandbLogger) and trainer.is_global_zero:
                logger.define_epoch_axis()
        return trainer

    def resume_checkpoint(self, checkpoint_dir: Path) -> dict | None:
        ckpt_path = self.config.ckpt_path
        if not ckpt_path:
            return None
        path = checkpoint_dir / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
        if ckpt_path == "last" and not path.is_file():
            raise IganError(f"--ckpt_path=last: no last.ckpt in {checkpoint_dir} to resume from")
        ckpt = load_checkpoint_file(path)
        check_resumable(ckpt, path, dict(self.model.hparams), dict(self.datamodule.hparams))
        self.config.ckpt_path = str(path)
        return ckpt

    def banner(self) -> str:
        """The line printed before training: the run, its block and the size of its networks."""
        g = sum(p.numel() for p in self.model.generator.parameters())
        d = sum(p.numel() for p in self.model.discriminator.parameters())
        return f"Run '{self.run_name()}': block {self.model.hparams.block}; G {g / 1e6:.2f} M params, D {d / 1e6:.2f} M params"

    def summary(self) -> str:
        checkpoint: ModelCheckpoint = self.config_init.checkpoint
        samples: HeldOutGrid = self.config_init.samples
        last = Path(checkpoint.dirpath) / "last.ckpt"
        lines = [f"Run '{self.run_name()}' finished after {self.trainer.current_epoch} epoch(s).",
                 f"  checkpoint:   {last if last.exists() else 'none written'}",
                 f"  metrics:      {Path(checkpoint.dirpath).parent / 'metrics.csv'}"]
        if samples.last_path is not None:
            lines.append(f"  grids:        {samples.dirpath}/epoch_*.png (latest {samples.last_path.name})")
        return "\n".join(lines)


def main(args: list[str] | None = None) -> int:
    """Train one translation model from a config; returns the process exit code."""
    return train_main(args, cli_class=TranslationCLI)


def is_translation_config(path: str | os.PathLike) -> bool:
    """Whether a config file says ``task: translation`` at its top level (what train_gan.py dispatches on)."""
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(config, dict) and config.get("task") == TASK


if __name__ == "__main__":
    sys.exit(main())
