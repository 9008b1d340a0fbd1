"""Lightning's progress bar plus what a long CPU run most needs: the time left for the whole run."""

from __future__ import annotations

import math
import time
from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


def format_minutes(seconds: float) -> str:
    """How long runs and studies report time: minutes with one decimal."""
    return f"{seconds / 60:.1f} min"


class RunProgressBar(TQDMProgressBar):
    """TQDM bar whose postfix also shows ``run_left``: the estimated time to the last epoch's end.

    The pace is wall-clock per batch since training started in this process, so once an epoch
    has ended it includes the per-epoch grids, FID evaluation and checkpoints. Shown only when
    the run is bounded by ``max_epochs`` and the epoch length is known.
    """

    def __init__(self, refresh_rate: int = 1, leave: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)
        self._start: Optional[float] = None
        self._seen = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._start, self._seen = time.perf_counter(), 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._seen += 1
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def time_left(self, trainer: L.Trainer) -> Optional[float]:
        """Seconds to the end of the run at the pace so far; None before the first batch or when unbounded."""
        per_epoch, max_epochs = trainer.num_training_batches, trainer.max_epochs
        if self._start is None or self._seen == 0 or not max_epochs or max_epochs < 0 or not math.isfinite(per_epoch):
            return None
        done_this_epoch = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        remaining = (max_epochs - trainer.current_epoch) * per_epoch - done_this_epoch
        return max(0.0, remaining) * (time.perf_counter() - self._start) / self._seen

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        left = self.time_left(trainer)
        if left is not None:
            items["run_left"] = format_minutes(left)
        return items
