"""``train_gan.py``: LightningCLI over the GAN module and the data module, logging to W&B.

The config (``--config configs/<dataset>_<model>.yaml``) names the generator and
discriminator by class path; every field can be overridden on the command line and unknown
keys are rejected. W&B runs offline unless the environment's WANDB_MODE says otherwise.
"""

from __future__ import annotations

import os
import re
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
from igan.metrics.callback import REFERENCE_FILE, Metrics
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
from igan.training.run_folder import (
    RunFolderLock,
    guard_run_folder,
    launched_as_rank_zero,
)

#: Trainer arguments where Lightning reads an int as a count of batches and a float as a fraction.
BATCH_LIMITS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches")


def raw_settings(args: list[str], keys: tuple[str, ...]) -> dict[str, object]:
    """The value each ``trainer.<key>`` was last given as written: a command-line string or a YAML scalar.

    ``--config`` files are read in order with the command line, as LightningCLI applies them.
    """
    found: dict[str, object] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, equals, value = arg.partition("=")
        wanted = name == "--config" or (name.startswith("--trainer.") and name[len("--trainer."):] in keys)
        if wanted and not equals and i + 1 < len(args):  # "--key value"
            value, i = args[i + 1], i + 1
        if name == "--config":
            try:
                trainer = (yaml.safe_load(Path(value).read_text()) or {}).get("trainer") or {}
            except (OSError, yaml.YAMLError, AttributeError):
                trainer = {}
            found.update({k: trainer[k] for k in keys if isinstance(trainer, dict) and k in trainer})
        elif name.startswith("--trainer.") and name[len("--trainer."):] in keys:
            found[name[len("--trainer."):]] = value
        i += 1
    return found


def written_as_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("+").isdigit()


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
        path = Path(checkpoint.dirpath).parent / "config.yaml"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:  # through a temporary file: a full disk leaves the previous config.yaml, not half of one
            path.parent.mkdir(parents=True, exist_ok=True)
            text = self.parser.dump(self.config, skip_none=False)
            if self.batch_limits:
                config = yaml.safe_load(text)
                config["trainer"].update(self.batch_limits)
                text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise IganError(f"cannot write {path} ({err.strerror or err})") from err


class RunFolderCLI(LightningCLI):
    """A LightningCLI whose trainer is built only once its run folder is claimed.

    The run's paths are resolved, the folder is locked (global rank 0 only: DDP's other ranks re-run
    the CLI), ``--ckpt_path`` is checked, and a new run over a folder that holds one is refused (or,
    with ``--overwrite``, the old run is moved aside). Subclasses provide ``run_name``,
    ``resume_checkpoint`` and ``build_trainer``.
    """

    claim_run_folder = True

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


class IganCLI(RunFolderCLI):
    """LightningCLI with igan's run naming, W&B logger, checkpoints and sample grids."""

    def __init__(self, args: Optional[list[str]] = None, claim_run_folder: bool = True) -> None:
        # False builds the model, data and trainer without locking or guarding the run folder: for tools
        # that only inspect a config (python -m igan.summary), never for a run that trains.
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
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        self.add_run_arguments(parser, "<dataset>-<model>-s<seed>", "the dataset name")
        parser.add_argument("--label", type=Optional[str], default=None,
                            help="Model label grouping runs in W&B and igan.dashboard "
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
        """``limit_*_batches=1`` means one batch when written as an integer (Lightning would read all of them)."""
        raw = raw_settings(getattr(self, "raw_args", []), BATCH_LIMITS)
        self.batch_limits: dict[str, int | float] = {}  # instantiating the trainer's config casts 1 back to 1.0
        for key in BATCH_LIMITS:
            value = self.config.trainer.get(key)
            if value != 1 or key not in raw:
                continue
            one = written_as_int(raw[key])
            self.config.trainer[key] = self.batch_limits[key] = 1 if one else 1.0
            if launched_as_rank_zero():
                print(f"note: trainer.{key}={raw[key]} read as "
                      + ("one batch per epoch; write 1.0 for all batches" if one
                         else "all batches (the fraction 1.0); write 1 for one batch per epoch"),
                      file=sys.stderr, flush=True)

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
            trainer_config["plugins"] = [AtomicCheckpointIO()]
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


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _write_failed(err: OSError) -> int:
    """One line for an OSError no writer turned into an IganError: the path and the cause."""
    where = f"cannot write {err.filename}" if err.filename else "a write failed"
    return _fail(f"{where} ({err.strerror or err})")


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


def main(args: Optional[list[str]] = None, cli_class: Optional[type] = None, _waited: float = 0.0) -> int:
    """Train one model from a config; returns the process exit code.

    ``cli_class`` is :class:`IganCLI` by default (another task passes its own: it needs ``banner``,
    ``summary`` and ``release_run_folder``). SIGTERM and Ctrl-C end it with last.ckpt saved and one
    ``interrupted:`` line (exit 143 / 130).
    """
    cli_class = cli_class or IganCLI
    wandb_logging.choose_mode()
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
                return main(args, cli_class)
            if wandb_logging.wait_if_run_id_in_use(err, _waited):
                return main(args, cli_class, _waited + 5.0)
            if wandb_logging.run_id_in_use(err):
                return _fail(f"W&B still holds this run's id after {_waited:.0f} s ({str(err).splitlines()[0]}): "
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
                cli.release_run_folder()
                return main(args, cli_class)  # once: WANDB_MODE is offline now
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


if __name__ == "__main__":
    sys.exit(main())
