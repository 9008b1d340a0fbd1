"""``train_gan.py``: LightningCLI over the GAN module and the data module, logging to W&B.

The config (``--config configs/<dataset>_<model>.yaml``) names the generator and
discriminator by class path; every field can be overridden on the command line and unknown
keys are rejected. W&B runs offline unless the environment's WANDB_MODE says otherwise.
What every task's command shares (the run folder, config.yaml, errors, W&B retries) is
:mod:`igan.training.base_cli`; this module is the GAN's own: its arguments, run name, resume
check, logger and callbacks.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Optional

import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser
from lightning.pytorch.loggers import WandbLogger

from igan.io.checkpoint_file import load_checkpoint_file
from igan.data import GANDataModule
from igan.errors import IganError
from igan.gan import GAN
from igan.metrics.callback import Metrics
from igan.metrics.real_reference import REFERENCE_FILE
from igan.models.spec import spec_of
from igan.models.summary import model_summary
from igan.training import base_cli, batch_limits, wandb_logging
from igan.training.base_cli import RunConfigSaver, RunFolderCLI
from igan.training.callbacks import SampleGrid
from igan.training.checkpoints import (
    AtomicCheckpointIO,
    BestFIDCheckpoint,
    LastCheckpoint,
    check_resumable,
)
from igan.training.guards import DivergenceGuard
from igan.training.history import RunHistory
from igan.training.progress import RunProgressBar
from igan.training.resume import ExactResume, GracefulInterrupt, cluster_plugins
from igan.training.run_folder import launched_as_rank_zero


class IganCLI(RunFolderCLI):
    """LightningCLI with igan's run naming, W&B logger, checkpoints and sample grids."""

    def __init__(self, args: Optional[list[str]] = None, claim_run_folder: bool = True) -> None:
        # False builds the model, data and trainer without locking or guarding the run folder: for tools
        # that only inspect a config (igan summary), never for a run that trains.
        self.claim_run_folder = claim_run_folder
        super().__init__(
            GAN,
            GANDataModule,
            run=False,
            args=args,
            seed_everything_default=0,
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"default_root_dir": "runs", "log_every_n_steps": 10},
            parser_kwargs={"prog": "igan train"},
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        self.add_run_arguments(parser, "<dataset>-<model>-s<seed>", "the dataset name")
        parser.add_argument("--label", type=Optional[str], default=None,
                            help="Model label grouping runs in W&B and igan dashboard "
                                 "(default: the run name without its trailing -s<seed>).")
        parser.add_lightning_class_args(SampleGrid, "samples")
        parser.add_lightning_class_args(Metrics, "metrics")
        self.add_checkpoint_arguments(parser)
        parser.add_argument("--last_every_n_steps", type=Optional[int], default=None,
                            help="Also write last.ckpt every N training steps (generator updates), "
                                 "not only after every epoch.")
        for net in ("generator", "discriminator"):
            parser.link_arguments("data.image_size", f"model.{net}.init_args.image_size")
            parser.link_arguments("data.channels", f"model.{net}.init_args.channels")

    def parse_arguments(self, parser, args) -> None:
        self.raw_args = [str(a) for a in (sys.argv[1:] if args is None else args)] if not isinstance(args, dict) else []
        super().parse_arguments(parser, args)

    def before_instantiate_classes(self) -> None:
        """``limit_*_batches=1`` as written: one batch, or ``1.0`` all (:mod:`igan.training.batch_limits`)."""
        # Instantiating the trainer's config casts 1 back to 1.0: build_trainer passes these again.
        self.batch_limits = batch_limits.as_written(getattr(self, "raw_args", []), self.config.trainer,
                                                    announce=launched_as_rank_zero())
        for key, value in self.batch_limits.items():
            self.config.trainer[key] = value

    def run_name(self) -> str:
        if self.config.run_name:
            return self.config.run_name
        model = getattr(self.model.generator, "name", type(self.model.generator).__name__.lower())
        return f"{self.config.data.name}-{model}-s{self.config.seed_everything}"

    def resume_checkpoint(self, checkpoint_dir: Path) -> Optional[dict]:
        """The checkpoint ``--ckpt_path`` names (``last``: the run's last.ckpt), checked for this run.

        Loaded once here with ``weights_only=True`` (Lightning loads it again through
        :class:`AtomicCheckpointIO`, also without pickled code) so that a missing file, a file
        that is no checkpoint, or one of another model or dataset stops with one clear message
        before anything is trained or written.
        """
        ckpt_path = self.config.ckpt_path
        if not ckpt_path:
            return None
        path = checkpoint_dir / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
        if ckpt_path == "last" and not path.is_file():
            raise IganError(f"--ckpt_path=last: no last.ckpt in {checkpoint_dir} to resume from")
        ckpt = load_checkpoint_file(path)
        check_resumable(ckpt, path, spec_of(self.model.generator), spec_of(self.model.discriminator),
                        dict(self.datamodule.hparams))
        self.config.ckpt_path = str(path)
        return ckpt

    def build_trainer(self, name: str, root: Path, checkpoint: ModelCheckpoint, samples: SampleGrid,
                      resumed: Optional[dict], **kwargs):
        wandb_id = ((resumed or {}).get("igan") or {}).get("wandb_run_id")
        self.model_stats = model_summary(self.model.generator, self.model.discriminator)
        if self.config.trainer.logger in (None, True):
            config = yaml.safe_load(self.parser.dump(self.config, skip_link_targets=False, skip_none=False))
            # Parameters and FLOPs of G and D, like the papers' tables: comparable across runs.
            config["model_summary"] = self.model_stats
            config["label"] = self.config.label or re.sub(r"-s\d+$", "", name)
            root.mkdir(parents=True, exist_ok=True)
            logger = wandb_logging.EpochAxisWandbLogger(
                project=self.config.wandb_project, name=name, group=self.config.wandb_group or self.config.data.name,
                save_dir=str(root), config=config,
                # A resumed run continues the W&B run its checkpoint names (offline too).
                **({"id": wandb_id, "resume": "allow"} if wandb_id else {}),
            )
            logger.progress_source = self.model
            kwargs["logger"] = logger
        metrics = self.config_init.get("metrics")
        run_dir = Path(checkpoint.dirpath).parent
        if metrics is not None:  # the real-vs-real precision/recall/density/coverage, beside metrics.csv
            metrics.reference_path = run_dir / REFERENCE_FILE
        # Order matters: Lightning calls callbacks in list order (checkpoints last), so the
        # history row of an epoch is written after that epoch's grid and metrics exist.
        extra = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
        # The guard checks every batch before any checkpoint of it is written (Lightning runs checkpoint
        # callbacks last); ExactResume saves and restores the data order, RNG states and loss sums.
        extra += [RunHistory(run_dir, samples=samples, metrics=metrics),
                  last := LastCheckpoint(checkpoint.dirpath, every_n_train_steps=self.config.last_every_n_steps),
                  DivergenceGuard(checkpoint.dirpath),
                  ExactResume(self.config.seed_everything if type(self.config.seed_everything) is int else None),
                  GracefulInterrupt(last)]
        if metrics is not None and metrics.every_n_epochs > 0:
            extra.append(BestFIDCheckpoint(checkpoint.dirpath))
        trainer_config = {**self._get(self.config_init, "trainer", default={}), **getattr(self, "batch_limits", {}),
                          **kwargs}
        configured = list(trainer_config.get("callbacks") or []) + extra
        if trainer_config.get("enable_progress_bar", True) is not False and not any(
                isinstance(c, ProgressBar) for c in configured):
            extra.append(RunProgressBar())  # Lightning's bar, plus the time left for the whole run
        if not trainer_config.get("plugins"):
            trainer_config["plugins"] = [AtomicCheckpointIO(), *cluster_plugins()]  # no SLURM requeue in a study
        trainer = self._instantiate_trainer(trainer_config, extra)
        for callback in trainer.callbacks:
            if isinstance(callback, RunConfigSaver):
                callback.batch_limits = getattr(self, "batch_limits", {})
        for logger in trainer.loggers:
            if isinstance(logger, wandb_logging.EpochAxisWandbLogger) and trainer.is_global_zero:
                logger.define_epoch_axis()
        return trainer

    def banner(self) -> str:
        """The line printed before training: the run and the size of its networks."""
        stats = self.model_stats
        return (f"Run '{self.run_name()}': G {stats['params_G'] / 1e6:.2f} M params, "
                f"{stats['flops_G_per_image'] / 1e9:.3f} GFLOPs per image; D {stats['params_D'] / 1e6:.2f} M params, "
                f"{stats['flops_D_per_image'] / 1e9:.3f} GFLOPs per image")

    def summary(self) -> str:
        """Where the run left its checkpoint, grids and W&B files."""
        checkpoint: ModelCheckpoint = self.config_init.checkpoint
        samples: SampleGrid = self.config_init.samples
        lines = [f"Run '{self.run_name()}' finished after {self.trainer.current_epoch} epoch(s)."]
        last = Path(checkpoint.dirpath) / "last.ckpt"
        lines.append(f"  checkpoint:   {last if last.exists() else 'none written'}")
        config = Path(checkpoint.dirpath).parent / "config.yaml"
        if config.is_file():
            lines.append(f"  config:       {config}")
        if samples.last_path is not None:
            lines.append(f"  sample grids: {samples.dirpath}/epoch_*.png (latest {samples.last_path.name})")
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger):
                run = logger.experiment
                run_dir = Path(run.dir).parent if getattr(run, "dir", None) else None
                mode = os.environ.get("WANDB_MODE", "online")
                if mode == "offline" and run_dir is not None:
                    lines.append(f"  W&B run:      {run_dir} (offline; upload with: wandb sync {run_dir})")
                elif mode != "disabled":
                    lines.append(f"  W&B run:      {getattr(run, 'url', None) or run_dir}")
        return "\n".join(lines)


def main(args: Optional[list[str]] = None, cli_class: Optional[type] = None) -> int:
    """Train one model from a config; returns the process exit code (:func:`igan.training.base_cli.run`).

    ``cli_class`` is :class:`IganCLI` by default (another task passes its own).
    """
    return base_cli.run(cli_class or IganCLI, args)


if __name__ == "__main__":
    sys.exit(main())
