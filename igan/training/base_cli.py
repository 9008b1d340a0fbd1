"""The base of every task's training CLI, whatever its model: the run folder, config.yaml, the exit.

- :class:`RunFolderCLI`: a LightningCLI that claims its run folder before it builds the trainer;
- :class:`RunConfigSaver`: the resolved config as ``config.yaml`` beside the checkpoints;
- :func:`run`: one command from start to exit code: bad input and failed writes as one ``error:``
  line (exit 2), interrupts with what was saved, W&B falling back to offline or waiting for a
  resumed run's id.

The GAN's CLI is :mod:`igan.training.cli`, translation's :mod:`igan.translation.cli`.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import (
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)

from igan.errors import IganError
from igan.io.files import atomic_write
from igan.training import batch_limits, precision, wandb_logging
from igan.training.resume import GracefulInterrupt
from igan.training.run_folder import (
    RunFolderLock,
    guard_run_folder,
    launched_as_rank_zero,
)


class RunConfigSaver(SaveConfigCallback):
    """Writes the resolved config to ``<default_root_dir>/<run_name>/config.yaml``, beside the checkpoints.

    Lightning's default writes it to the logger's directory, shared by every run here.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "save_to_log_dir": False})
        self.batch_limits: dict[str, int | float] = {}  # as IganCLI read them (the dump casts 1 to 1.0)

    def save_config(self, trainer, pl_module, stage: str) -> None:
        checkpoint = trainer.checkpoint_callback
        if checkpoint is None or checkpoint.dirpath is None:
            return
        text = batch_limits.keep_in_dump(self.parser.dump(self.config, skip_none=False), self.batch_limits)
        atomic_write(Path(checkpoint.dirpath).parent / "config.yaml", text)


class RunFolderCLI(LightningCLI):
    """A LightningCLI whose trainer is built only once its run folder is claimed.

    The run's paths are resolved, the folder is locked (global rank 0 only: DDP's other ranks re-run
    the CLI), ``--ckpt_path`` is checked, and a new run over a folder that holds one is refused (or,
    with ``--overwrite``, the old run is moved aside). Subclasses provide ``run_name``,
    ``resume_checkpoint`` and ``build_trainer``.
    """

    claim_run_folder = True

    def parse_arguments(self, parser, args) -> None:
        """Parse, with ``trainer.precision`` left out or ``auto`` chosen for this machine
        (:mod:`igan.training.precision`); the run's config.yaml records the choice."""
        if isinstance(args, list):
            args = precision.unset_auto([str(a) for a in args])
        elif args is None and "auto" in " ".join(sys.argv[1:]):
            sys.argv[1:] = precision.unset_auto(sys.argv[1:])
        super().parse_arguments(parser, args)
        trainer = self.config.get("trainer") if hasattr(self.config, "get") else None
        if trainer is not None and trainer.get("precision") is None:
            trainer["precision"] = precision.resolve_precision("auto", trainer.get("accelerator", "auto"))

    def instantiate_trainer(self, **kwargs):
        name = self.run_name()
        root = Path(self.config.trainer.default_root_dir or "runs")
        checkpoint: ModelCheckpoint = self.config_init.checkpoint
        if checkpoint.dirpath is None:
            checkpoint.dirpath = str(root / name / "checkpoints")
        samples = self.config_init.samples
        if samples.dirpath is None:
            samples.dirpath = Path(self.config.samples_root) / name
        if self.config.overwrite and self.config.ckpt_path:
            raise IganError("--overwrite starts a new run and --ckpt_path continues one: give one of them")
        if self.claim_run_folder and launched_as_rank_zero():
            self.run_lock = RunFolderLock(Path(checkpoint.dirpath).parent)
            self.run_lock.acquire()
        try:
            resumed = self.resume_checkpoint(Path(checkpoint.dirpath))
            if resumed is None and getattr(self, "run_lock", None) is not None:
                guard_run_folder(self.run_lock, Path(checkpoint.dirpath), samples.dirpath, self.config.overwrite)
            return self.build_trainer(name, root, checkpoint, samples, resumed, **kwargs)
        except BaseException:
            self.release_run_folder()
            raise

    def release_run_folder(self) -> None:
        lock = getattr(self, "run_lock", None)
        if lock is not None:
            lock.release()

    @staticmethod
    def add_run_arguments(parser: LightningArgumentParser, default_name: str, default_group: str) -> None:
        """The arguments every task's run has: its name and folders, W&B, resume and overwrite."""
        parser.add_argument("--run_name", type=Optional[str], default=None,
                            help="Name of the run: grids in samples/<run_name>, checkpoints in "
                                 f"<trainer.default_root_dir>/<run_name>/checkpoints. Default {default_name}.")
        parser.add_argument("--wandb_project", type=str, default="igan", help="W&B project of the run.")
        parser.add_argument("--wandb_group", type=Optional[str], default=None,
                            help=f"W&B group of the run (default: {default_group}).")
        parser.add_argument("--samples_root", type=str, default="samples", help="Folder of the per-run grid folders.")
        parser.add_argument("--ckpt_path", type=Optional[str], default=None,
                            help="Resume training from this checkpoint ('last' for the run's last.ckpt).")
        parser.add_argument("--overwrite", type=bool, default=False,
                            help="Start a new run even where the run folder holds one: the earlier run "
                                 "(and its grid folder) is moved aside to .<name>.replaced-<time>, not deleted.")

    @staticmethod
    def add_checkpoint_arguments(parser: LightningArgumentParser) -> None:
        """Numbered checkpoints every 5 epochs; added after the task's callbacks, which keep their order."""
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.filename": "epoch{epoch:03d}",
            "checkpoint.auto_insert_metric_name": False,
            "checkpoint.save_last": False,  # last.ckpt is written after every epoch by LastCheckpoint
            "checkpoint.save_top_k": -1,
            "checkpoint.every_n_epochs": 5,
        })


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _write_failed(err: OSError) -> int:
    """One line for an OSError no writer turned into an IganError: the path and the cause."""
    where = f"cannot write {err.filename}" if err.filename else "a write failed"
    return _fail(f"{where} ({err.strerror or err})")


def _interrupted(cli: Optional[RunFolderCLI], err: BaseException) -> Optional[int]:
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


@dataclass
class _Again:
    """W&B stopped this start before training: start again (now offline, or after waiting for a run id)."""

    waited: float  # seconds spent so far waiting for W&B to free a resumed run's id


def run(cli_class: type, args: Optional[list[str]] = None) -> int:
    """Train one model with ``cli_class`` (a :class:`RunFolderCLI` with ``banner`` and ``summary``); the exit code.

    SIGTERM and Ctrl-C end it with last.ckpt saved and one ``interrupted:`` line (exit 143 / 130).
    When W&B fails to start online, the run starts again offline, once; when it refuses a resumed
    run's id as still in use, the run starts again after a pause, within
    :data:`~igan.training.wandb_logging.RUN_ID_WAIT_SECONDS`.
    """
    wandb_logging.choose_mode()
    outcome: int | _Again = _Again(waited=0.0)
    while isinstance(outcome, _Again):
        outcome = _train(args, cli_class, outcome.waited)
    return outcome


def _train(args: Optional[list[str]], cli_class: type, waited: float) -> int | _Again:
    """One start of the run: build the CLI (and with it the trainer and W&B run), then fit."""
    import wandb

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    cli = None
    try:
        try:
            cli = cli_class(args=args)
        except (IganError, ValueError) as err:  # bad config values, caught while building the classes
            return _fail(str(err))
        except OSError as err:  # a run folder or W&B folder that cannot be written
            return _write_failed(err)
        except Exception as err:  # wandb.init runs here (the logger's epoch axis); nothing is trained or written yet
            if wandb_logging.failed_online(err):
                return _Again(waited)
            if wandb_logging.wait_if_run_id_in_use(err, waited):
                return _Again(waited + 5.0)
            if wandb_logging.run_id_in_use(err):
                return _fail(f"W&B still holds this run's id after {waited:.0f} s ({str(err).splitlines()[0]}): "
                             "re-run the same command in a minute, or with --trainer.logger=false")
            raise
        print(cli.banner())
        try:
            cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=cli.config.ckpt_path)
        except IganError as err:
            return _fail(str(err))
        except OSError as err:  # a grid, metrics.csv or cache write the writers did not name
            return _write_failed(err)
        except Exception as err:
            if cli.trainer.global_step == 0 and wandb_logging.failed_online(err):
                return _Again(waited)  # once: WANDB_MODE is offline now
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
        if cli is not None:
            cli.release_run_folder()
        if wandb.run is not None:
            wandb.finish()
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():  # Lightning and GracefulInterrupt installed their own
                if handler is not None:
                    signal.signal(sig, handler)
