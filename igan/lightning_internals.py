"""The Lightning internals igan relies on, each where Lightning has no public API for it.

Everything else uses Lightning's public API; :func:`trainer_timer` is here as the place igan finds
the Timer, which the Trainer holds without an accessor (igan.metrics, a lower layer, keeps its own
line). tests/test_lightning_internals.py checks that each of these still exists and still means
what igan assumes, so a Lightning upgrade that breaks one fails there, by name, rather than
silently changing training.
"""

from __future__ import annotations

from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.strategies import DDPStrategy


def trainer_timer(trainer: L.Trainer) -> Optional[Timer]:
    """The Timer that ``trainer.max_time`` adds (or one given as a callback); None without one."""
    return next((c for c in trainer.callbacks if isinstance(c, Timer)), None)


def ddp_kwargs(strategy: DDPStrategy) -> dict[str, Any]:
    """The keyword arguments the strategy will pass to ``DistributedDataParallel`` (mutable until it wraps the module).

    Public only as ``DDPStrategy(**kwargs)`` at construction; the module must adjust them afterwards.
    """
    return strategy._ddp_kwargs


def step_logs_are_written(trainer: L.Trainer) -> bool:
    """Whether Lightning writes this training step's logged values to the loggers.

    Lightning's own condition (log_every_n_steps over the run's batches, or a requested stop), not public.
    """
    return trainer._logger_connector.should_update_logs


def can_request_stop_after_batch(trainer: L.Trainer) -> bool:
    """Whether :func:`request_stop_after_batch` can take Lightning's SIGTERM path on this trainer."""
    return hasattr(getattr(trainer, "_signal_connector", None), "received_sigterm")


def request_stop_after_batch(trainer: L.Trainer, stop: bool = True) -> None:
    """Set (or clear) what Lightning's SIGTERM handler sets: stop after the current batch with ``SIGTERMException``.

    Read back publicly as ``trainer.received_sigterm``; there is no public setter.
    """
    trainer._signal_connector.received_sigterm = stop
