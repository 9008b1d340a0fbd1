"""Lightning's progress bar plus what a long CPU run most needs: the time left for the whole run."""

from __future__ import annotations

import math
import time
from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from igan.lightning_internals import trainer_timer


def format_minutes(seconds: float) -> str:
    """How long runs and studies report time: minutes with one decimal."""
    return f"{seconds / 60:.1f} min"


class RunProgressBar(TQDMProgressBar):
    """TQDM bar whose postfix also shows ``run_left``: the estimated time to the last epoch's end.

    Two paces, both wall-clock: per batch (data loading included) and per epoch end (sample grids,
    FID evaluation, checkpoints: the gap between an epoch's last batch and the next one's first).
    Until an epoch has ended, the start-up gap (from ``fit`` to the first batch: the epoch-0
    evaluation and, on a first run, the real-image statistics) stands in for an epoch end, so the
    first epoch's estimate counts evaluations too (too many where that gap held one-off work, such as
    the real-image statistics, or evaluations run only every few epochs; too few after a resume,
    whose start has no evaluation). Under ``trainer.max_time`` it is at most the Timer's time
    remaining plus one epoch end (the evaluation after the stop). Shown only when the run is bounded
    by ``max_epochs`` with a known epoch length, or by ``max_time``.
    """

    def __init__(self, refresh_rate: int = 1, leave: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self._fit_start: Optional[float] = None
        self._startup: Optional[float] = None
        self._mark = self._last_end = None
        self._busy, self._seen, self._gaps = 0.0, 0, []
        self._done_this_epoch = 0  # batches of the current epoch trained (a resumed run's skipped ones included)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_start, self._startup, self._mark, self._last_end = time.perf_counter(), None, None, None
        self._busy, self._seen, self._gaps = 0.0, 0, []
        self._done_this_epoch = 0

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self._done_this_epoch = 0
        super().on_train_epoch_start(trainer, *args)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._startup is None:
            self._startup = now - (self._fit_start if self._fit_start is not None else now)
        elif batch_idx == 0 and self._last_end is not None:
            self._gaps.append(now - self._last_end)
        if batch_idx == 0 or self._mark is None:
            self._mark = now

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        now = time.perf_counter()
        self._busy += now - self._mark
        self._mark = self._last_end = now
        self._seen += 1
        self._done_this_epoch = batch_idx + 1  # Lightning's batch_idx counts the epoch's batches, resumed ones too
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def time_left(self, trainer: L.Trainer) -> Optional[float]:
        """Seconds to the end of the run at the paces so far; None before the first batch or when unbounded."""
        if self._seen == 0:
            return None
        epoch_end = sum(self._gaps) / len(self._gaps) if self._gaps else (self._startup or 0.0)
        left = None
        per_epoch, max_epochs = trainer.num_training_batches, trainer.max_epochs
        if max_epochs and max_epochs > 0 and math.isfinite(per_epoch):
            batches_left = max(0, (max_epochs - trainer.current_epoch) * per_epoch - self._done_this_epoch)
            epoch_ends_left = max(0, max_epochs - trainer.current_epoch)  # this epoch's end is still ahead
            left = batches_left * self._busy / self._seen + epoch_ends_left * epoch_end
        timer = trainer_timer(trainer)
        remaining = timer.time_remaining() if timer is not None else None
        if remaining is not None:
            by_time = max(0.0, remaining) + epoch_end
            left = by_time if left is None else min(left, by_time)
        return left

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        left = self.time_left(trainer)
        if left is not None:
            items["run_left"] = format_minutes(left)
        return items
