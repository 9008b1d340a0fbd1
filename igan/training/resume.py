"""Exact resume and graceful interrupts.

Resuming from ``last.ckpt`` continues a run exactly where the checkpoint left it: on the same
machine, device and settings, a run interrupted and resumed ends with the same weights, optimizer
states, EMA, logged losses and grids, bit for bit, as a run that was never interrupted.

Besides the weights and optimizer states (in every checkpoint), three things decide what a
training step does: the order of the batches, the noise drawn from the global RNGs, and the
per-epoch loss sums behind ``metrics.csv``. :class:`ExactResume` makes the first two functions of
the checkpoint alone; :class:`igan.gan.GAN` saves and restores its own loss sums:

- the batch order of epoch ``e`` is a permutation drawn from ``(seed, e)`` alone
  (:class:`EpochShuffleSampler`), not from whatever the global RNG held when the epoch began; a
  run resumed mid-epoch skips the batches the epoch had already trained on;
- the global RNGs (torch CPU and CUDA, numpy, Python ``random``) are seeded from
  ``(seed, epoch, batch, rank)`` before every training batch, so the noise of a step depends on
  its place in the run only (not on how many numbers anything drew before it: a resume, a
  metrics evaluation, a logger); their states at save time are stored in the checkpoint too.

:class:`GracefulInterrupt` turns SIGTERM and the first Ctrl-C into "finish this batch, write
``last.ckpt`` (atomically), exit"; a second Ctrl-C stops at once and keeps the last checkpoint
rather than save a half-updated batch.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Optional

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from igan.data.sampler import EpochShuffleSampler
from igan.lightning_internals import can_request_stop_after_batch, request_stop_after_batch
from igan.noise import SEED_MASK, derived_seed


def seed_all(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy and Python ``random`` from one 63-bit seed."""
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


def rng_states() -> dict[str, Any]:
    """The global RNG states, as tensors and plain data (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Put back what :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"].cpu())
    if states.get("cuda") and torch.cuda.is_available():
        cuda = [s.cpu() for s in states["cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            rank_zero_warn(f"the checkpoint holds CUDA RNG states of {len(cuda)} device(s), this machine has "
                           f"{torch.cuda.device_count()}; the CUDA noise will differ from an uninterrupted run")
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = states["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))


def _train_sampler(trainer: L.Trainer) -> Optional[EpochShuffleSampler]:
    sampler = getattr(trainer.datamodule, "train_sampler", None) if trainer.datamodule is not None else None
    return sampler if isinstance(sampler, EpochShuffleSampler) else None


class ExactResume(L.Callback):
    """Saves in every checkpoint, and restores, all that decides the next batch and the next noise.

    - Data: epoch ``e`` takes its batches in the order ``EpochShuffleSampler`` draws from
      ``(seed, e)``; a run resumed after batch ``b`` skips the ``b`` batches the epoch already had.
    - Noise: the global RNGs (torch CPU and CUDA, numpy, Python ``random``) are seeded from
      ``(seed, epoch, batch, rank)`` before every training batch, so what a step draws depends on
      where it is in the run and on nothing that ran before it; the states at save time are also
      stored, and put back when a run resumes.

    ``seed`` is the run's seed (``seed_everything``); None takes ``torch.initial_seed()`` at setup.
    A resumed run keeps the seed its checkpoint recorded. A checkpoint written at the end of epoch
    ``e`` (0-based) resumes at epoch ``e + 1``, batch 0; one written after batch ``b`` of epoch ``e``
    (a step checkpoint, or on SIGTERM / Ctrl-C) resumes at epoch ``e``, batch ``b + 1``.
    Under DDP a mid-epoch resume restarts that epoch's order (Lightning warns); epochs stay exact.
    """

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed
        self._trainer: Optional[L.Trainer] = None
        self._epoch = 0  # the epoch in progress (or the one that just ended)
        self._batches_done = 0  # batches of it trained
        self._epoch_done = False
        self._restored: Optional[dict[str, Any]] = None

    @property
    def state_key(self) -> str:
        return "ExactResume"

    def position(self) -> tuple[int, int, int]:
        """(epoch, batches done in it, items of its order consumed) that a checkpoint written now resumes at."""
        trainer = self._trainer
        num_batches = trainer.num_training_batches if trainer is not None else float("inf")
        if self._epoch_done or self._batches_done >= num_batches:
            return self._epoch + 1, 0, 0
        loader = trainer.train_dataloader if trainer is not None else None
        batch_size = getattr(loader, "batch_size", None) or 0
        return self._epoch, self._batches_done, self._batches_done * batch_size

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer
        if self.seed is None:
            self.seed = torch.initial_seed() & SEED_MASK

    def state_dict(self) -> dict[str, Any]:
        epoch, batch, items = self.position()
        return {
            "version": 1, "seed": int(self.seed or 0), "epoch": epoch, "batch": batch, "items": items,
            "rng": rng_states(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After the callbacks' states are restored, before the training DataLoader exists."""
        restored = self._restored
        if restored is not None:
            self.seed = int(restored["seed"])
        sampler = _train_sampler(trainer)
        if sampler is not None:
            sampler.seed = int(self.seed)
            if restored is not None:
                # Under DDP Lightning wraps the sampler and shards its order: no skipping there.
                skip = int(restored.get("items", 0)) if trainer.world_size == 1 else 0
                sampler.start_at(int(restored["epoch"]), skip)
        elif restored is not None and restored.get("batch", 0) > 0:
            rank_zero_warn("resuming mid-epoch without igan's EpochShuffleSampler: the rest of the epoch "
                           "sees batches in another order than an uninterrupted run")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        restored, self._restored = self._restored, None
        self._epoch, self._batches_done, self._epoch_done = trainer.current_epoch, 0, False
        if restored is None:
            return
        epoch, batch = int(restored["epoch"]), int(restored["batch"])
        if epoch != trainer.current_epoch:
            rank_zero_warn(f"the checkpoint's resume state is for epoch {epoch}, the trainer resumes at epoch "
                           f"{trainer.current_epoch}; the run will not match an uninterrupted one exactly")
            return
        if trainer.world_size == 1:  # the states are rank 0's
            set_rng_states(restored["rng"])
        if batch > 0:
            self._batches_done = batch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch, self._batches_done, self._epoch_done = trainer.current_epoch, 0, False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        # The batch is fetched already: from here on only the step draws. Each rank draws its own noise.
        seed_all(derived_seed(int(self.seed), "noise", trainer.current_epoch, batch_idx, trainer.global_rank))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._batches_done = batch_idx + 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_done = True  # before the epoch-end checkpoints (Lightning calls those last)


class GracefulInterrupt(L.Callback):
    """SIGTERM or a first Ctrl-C: finish the batch, write ``last.ckpt`` atomically, stop.

    Lightning stops a run at the end of the batch on SIGTERM (its own handler); the first Ctrl-C
    takes the same path here. A stop requested during an epoch's last batch waits for the epoch's
    end (grid, metrics row, epoch checkpoint) so that the saved state is that of a finished epoch.
    A second Ctrl-C raises KeyboardInterrupt at once; the checkpoint is then written only if the
    interrupt came between batches, never with a half-updated batch.

    After ``trainer.fit`` ends by an interrupt, :attr:`outcome` is the one line to print and
    :attr:`exit_code` the process exit status (130 for Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, last_checkpoint) -> None:
        self.last_checkpoint = last_checkpoint  # the LastCheckpoint whose dirpath holds last.ckpt
        self.outcome: Optional[str] = None
        self.exit_code: Optional[int] = None
        self._trainer: Optional[L.Trainer] = None
        self._sigints = 0
        self._in_batch = False
        self._epoch_ended = False
        self._deferred = False
        self._previous_sigint: Any = None

    @property
    def path(self) -> Path:
        return Path(self.last_checkpoint.dirpath) / "last.ckpt"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._trainer = trainer
        self._sigints = 0
        if threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)

    def restore_signal_handlers(self) -> None:
        if self._previous_sigint is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.restore_signal_handlers()

    def _on_sigint(self, signum, frame) -> None:
        self._sigints += 1
        if self._sigints == 1 and self._trainer is not None and can_request_stop_after_batch(self._trainer):
            request_stop_after_batch(self._trainer)  # Lightning's SIGTERM path: stop after this batch
            print("\nCtrl-C: finishing the current step, then saving last.ckpt (Ctrl-C again to stop at once)",
                  file=sys.stderr, flush=True)
            return
        raise KeyboardInterrupt

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_ended = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._in_batch = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._in_batch = False
        if trainer.received_sigterm and batch_idx + 1 >= trainer.num_training_batches:
            # Lightning would stop before the epoch-end hooks; let them run, stop right after.
            request_stop_after_batch(trainer, False)
            self._deferred = True

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._epoch_ended = True
        if self._deferred:
            self._deferred = False
            request_stop_after_batch(trainer)  # Lightning checks it after every epoch-end hook

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            how, self.exit_code = ("Ctrl-C", 130) if self._sigints else ("SIGTERM", 143)
            consistent = True
        elif isinstance(exception, KeyboardInterrupt):
            how, self.exit_code = "Ctrl-C", 130
            consistent = not self._in_batch
        else:
            return  # errors (divergence, disk full, ...) never overwrite the last checkpoint
        if isinstance(exception, SIGTERMException) and self._epoch_ended:  # raised after the epoch-end hooks
            where = f"at the end of epoch {trainer.current_epoch} (step {trainer.global_step})"
        else:
            where = f"in epoch {trainer.current_epoch + 1} at step {trainer.global_step}"
        if consistent:
            try:  # on every rank (DDP saves collectively; rank 0 writes)
                trainer.save_checkpoint(self.path)
            except Exception as err:  # noqa: BLE001 - report, keep whatever was there
                kept = f"; kept {self.path}" if self.path.is_file() else ""
                self.outcome = f"interrupted ({how}) {where}: could not save {self.path}: {err}{kept}"
                return
            self.outcome = f"interrupted ({how}) {where}: saved {self.path}; resume with --ckpt_path=last"
        elif self.path.is_file():
            self.outcome = (f"interrupted ({how}) {where}, during a batch: kept the previous {self.path}; "
                            "resume with --ckpt_path=last")
        else:
            self.outcome = f"interrupted ({how}) {where}, during a batch, before any checkpoint was written"


#: Set to "1" in the environment of a study's SLURM array task (:mod:`igan.study.slurm_task`).
NO_REQUEUE_ENV = "IGAN_SLURM_NO_REQUEUE"


def cluster_plugins() -> list:
    """Lightning's SLURM environment with its auto-requeue off, when ``IGAN_SLURM_NO_REQUEUE=1`` under SLURM.

    Lightning requeues a SLURM job by itself on SIGUSR1; a study's array task is resubmitted by the
    study instead, which resumes it from last.ckpt, and the two must not both requeue it. Anywhere
    else, nothing: Lightning picks its cluster environment as usual.
    """
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    if os.environ.get(NO_REQUEUE_ENV) != "1" or not SLURMEnvironment.detect():
        return []
    return [SLURMEnvironment(auto_requeue=False)]
