"""``train_gan.py``: LightningCLI over the GAN module and the data module, logging to W&B.

The config (``--config configs/<dataset>_<model>.yaml``) names the generator and
discriminator by class path; every field can be overridden on the command line and unknown
keys are rejected. W&B runs offline unless the environment's WANDB_MODE says otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import (
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)
from lightning.pytorch.loggers import WandbLogger

from igan.checkpoint_file import load_checkpoint_file
from igan.data import GANDataModule
from igan.errors import IganError
from igan.gan import GAN
from igan.metrics.callback import Metrics
from igan.models.spec import spec_of
from igan.models.summary import model_summary
from igan.training import wandb_logging
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
from igan.training.resume import ExactResume, GracefulInterrupt


class RunConfigSaver(SaveConfigCallback):
    """Writes the resolved config to ``<default_root_dir>/<run_name>/config.yaml``, beside the checkpoints.

    Lightning's default writes it to the logger's directory, shared by every run here.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "save_to_log_dir": False})

    def save_config(self, trainer, pl_module, stage: str) -> None:
        checkpoint = trainer.checkpoint_callback
        if checkpoint is None or checkpoint.dirpath is None:
            return
        run_dir = Path(checkpoint.dirpath).parent
        run_dir.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, run_dir / "config.yaml", skip_none=False, overwrite=True)


class IganCLI(LightningCLI):
    """LightningCLI with igan's run naming, W&B logger, checkpoints and sample grids."""

    def __init__(self, args: Optional[list[str]] = None) -> None:
        super().__init__(
            GAN,
            GANDataModule,
            run=False,
            args=args,
            seed_everything_default=0,
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"default_root_dir": "runs", "log_every_n_steps": 10},
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--run_name", type=Optional[str], default=None,
                            help="Name of the run: grids in samples/<run_name>, checkpoints in "
                                 "<trainer.default_root_dir>/<run_name>/checkpoints. "
                                 "Default <dataset>-<model>-s<seed>.")
        parser.add_argument("--wandb_project", type=str, default="igan", help="W&B project of the run.")
        parser.add_argument("--wandb_group", type=Optional[str], default=None,
                            help="W&B group of the run (default: the dataset name).")
        parser.add_argument("--samples_root", type=str, default="samples", help="Folder of the per-run grid folders.")
        parser.add_argument("--ckpt_path", type=Optional[str], default=None,
                            help="Resume training from this checkpoint ('last' for the run's last.ckpt).")
        parser.add_lightning_class_args(SampleGrid, "samples")
        parser.add_lightning_class_args(Metrics, "metrics")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.filename": "epoch{epoch:03d}",
            "checkpoint.auto_insert_metric_name": False,
            "checkpoint.save_last": False,  # last.ckpt is written after every epoch by LastCheckpoint
            "checkpoint.save_top_k": -1,
            "checkpoint.every_n_epochs": 5,
        })
        parser.add_argument("--last_every_n_steps", type=Optional[int], default=None,
                            help="Also write last.ckpt every N training steps (generator updates), "
                                 "not only after every epoch.")
        for net in ("generator", "discriminator"):
            parser.link_arguments("data.image_size", f"model.{net}.init_args.image_size")
            parser.link_arguments("data.channels", f"model.{net}.init_args.channels")

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

    def instantiate_trainer(self, **kwargs):
        name = self.run_name()
        root = Path(self.config.trainer.default_root_dir or "runs")
        checkpoint: ModelCheckpoint = self.config_init.checkpoint
        if checkpoint.dirpath is None:
            checkpoint.dirpath = str(root / name / "checkpoints")
        resumed = self.resume_checkpoint(Path(checkpoint.dirpath))
        wandb_id = ((resumed or {}).get("igan") or {}).get("wandb_run_id")
        self.model_stats = model_summary(self.model.generator, self.model.discriminator)
        if self.config.trainer.logger in (None, True):
            config = yaml.safe_load(self.parser.dump(self.config, skip_link_targets=False, skip_none=False))
            # Parameters and FLOPs of G and D, like the papers' tables: comparable across runs.
            config["model_summary"] = self.model_stats
            root.mkdir(parents=True, exist_ok=True)
            logger = wandb_logging.EpochAxisWandbLogger(
                project=self.config.wandb_project, name=name, group=self.config.wandb_group or self.config.data.name,
                save_dir=str(root), config=config,
                # A resumed run continues the W&B run its checkpoint names (offline too).
                **({"id": wandb_id, "resume": "allow"} if wandb_id else {}),
            )
            logger.progress_source = self.model
            kwargs["logger"] = logger
        samples: SampleGrid = self.config_init.samples
        if samples.dirpath is None:
            samples.dirpath = Path(self.config.samples_root) / name
        metrics = self.config_init.get("metrics")
        run_dir = Path(checkpoint.dirpath).parent
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
        trainer_config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        configured = list(trainer_config.get("callbacks") or []) + extra
        if trainer_config.get("enable_progress_bar", True) is not False and not any(
                isinstance(c, ProgressBar) for c in configured):
            extra.append(RunProgressBar())  # Lightning's bar, plus the time left for the whole run
        if not trainer_config.get("plugins"):
            trainer_config["plugins"] = [AtomicCheckpointIO()]
        trainer = self._instantiate_trainer(trainer_config, extra)
        for logger in trainer.loggers:
            if isinstance(logger, wandb_logging.EpochAxisWandbLogger) and trainer.is_global_zero:
                logger.define_epoch_axis()
        return trainer

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


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _interrupted(cli: Optional[IganCLI], err: BaseException) -> Optional[int]:
    """Exit code after SIGTERM / Ctrl-C, with the one line saying what was saved; None for other exits."""
    stop = next((c for c in getattr(getattr(cli, "trainer", None), "callbacks", []) if isinstance(c, GracefulInterrupt)),
                None)
    if stop is not None and stop.outcome:
        print(stop.outcome, file=sys.stderr, flush=True)
        return stop.exit_code or 130
    if isinstance(err, KeyboardInterrupt):
        print("interrupted (Ctrl-C) before training started; nothing to resume", file=sys.stderr, flush=True)
        return 130
    return None


def main(args: Optional[list[str]] = None) -> int:
    """Train one GAN from a config; returns the process exit code.

    SIGTERM and Ctrl-C end it with last.ckpt saved and one ``interrupted:`` line (exit 143 / 130).
    """
    wandb_logging.choose_mode()
    import wandb

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    cli = None
    try:
        try:
            cli = IganCLI(args=args)
        except (IganError, ValueError) as err:  # bad config values, caught while building the classes
            return _fail(str(err))
        except Exception as err:  # wandb.init runs here (the logger's epoch axis); nothing is trained or written yet
            if wandb_logging.failed_online(err):
                return main(args)
            raise
        stats = cli.model_stats
        print(f"Run '{cli.run_name()}': G {stats['params_G'] / 1e6:.2f} M params, "
              f"{stats['flops_G_per_image'] / 1e9:.3f} GFLOPs per image; D {stats['params_D'] / 1e6:.2f} M params, "
              f"{stats['flops_D_per_image'] / 1e9:.3f} GFLOPs per image")
        try:
            cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=cli.config.ckpt_path)
        except IganError as err:
            return _fail(str(err))
        except Exception as err:
            if cli.trainer.global_step == 0 and wandb_logging.failed_online(err):
                return main(args)  # once: WANDB_MODE is offline now
            raise
        if cli.trainer.is_global_zero:  # other DDP ranks have no run folder or W&B run of their own
            print(cli.summary())
        return 0
    except (KeyboardInterrupt, SystemExit) as err:  # SIGTERM and Ctrl-C end fit with these
        code = _interrupted(cli, err)
        if code is None:
            raise
        return code
    finally:
        if wandb.run is not None:
            wandb.finish()
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():  # Lightning and GracefulInterrupt installed their own
                if handler is not None:
                    signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
