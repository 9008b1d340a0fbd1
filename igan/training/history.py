"""``runs/<run>/metrics.csv``: one row per epoch, everything a comparison of runs needs, no W&B required.

Columns (``epoch`` = epochs completed, 0 = before training):

- ``global_step`` (the trainer's, = generator updates), ``g_updates``, ``d_updates``;
- ``train_seconds``: cumulative training wall-clock, evaluation, grids and checkpoints excluded
  (from the start of each epoch's first batch to the end of its last), so runs with and without
  metrics compare on the same clock;
- ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``: means over the epoch's iterations;
- ``fid``, ``kid``, ``kid_std``, ``is``, ``is_std``, ``eval_seconds``: from the metrics callback,
  empty where it did not evaluate;
- ``diversity``: per-pixel spread of the fixed-noise samples (see
  :func:`igan.training.callbacks.diversity`); it does not tell partial collapse (a few glyphs
  repeated) or noise from health, which ``distinct_nn`` does;
- ``grid``: the epoch's fixed-noise grid, relative to the run directory;
- ``precision``, ``recall``, ``density``, ``coverage``: from the metrics callback (see
  :mod:`igan.metrics.prdc_scores`), empty where it did not evaluate;
- ``distinct_nn``: the collapse measure of the same evaluation, the share of distinct nearest real
  neighbours among the generated samples (:mod:`igan.metrics.prdc_scores`), read against its
  real-vs-real value in ``real_reference.json``.

Columns added later are appended last, so readers of older files find every earlier column where it was.

The file survives resuming: rows after the checkpoint's epoch (written by a run killed before its
next checkpoint) are dropped, then rows are appended. The kept rows are rewritten under the current
header, so a file written before a column was added gains it (empty) instead of misaligned rows.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch

from igan.io.files import atomic_write

COLUMNS = [
    "epoch", "global_step", "g_updates", "d_updates", "train_seconds",
    "d_loss", "g_loss", "d_real", "d_fake",
    "fid", "kid", "kid_std", "is", "is_std", "diversity", "eval_seconds", "grid",
    "precision", "recall", "density", "coverage", "distinct_nn",
]


def read_history(path: str | Path) -> list[dict[str, str]]:
    """The rows of a metrics.csv as dicts of strings (empty string = no value)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class RunHistory(L.Callback):
    """Writes ``<run_dir>/metrics.csv`` after the fixed-noise grid and the metrics of each epoch.

    Register it after :class:`igan.training.callbacks.SampleGrid` and the metrics callback: Lightning
    calls callbacks in order, so their values for the epoch exist when the row is written.
    """

    def __init__(self, run_dir: str | Path, samples=None, metrics=None, columns: Optional[list[str]] = None) -> None:
        self.path = Path(run_dir) / "metrics.csv"
        self.columns = list(columns or COLUMNS)  # another task's module (translation) brings its own
        self.samples, self.metrics = samples, metrics
        self.train_seconds = 0.0
        self._epoch_start: Optional[float] = None
        self._last_batch_end: Optional[float] = None

    # Training time, evaluation excluded.
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = self._last_batch_end = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self._epoch_start is None:
            self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._last_batch_end = time.perf_counter()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        if trainer.current_epoch == 0 and trainer.global_step == 0:  # a new run: an old file of the name goes
            self.path.unlink(missing_ok=True)
            self.write_row(trainer, pl_module, epoch=0)
        else:
            self._truncate_after(trainer.current_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._epoch_start is not None and self._last_batch_end is not None:
            self.train_seconds += self._last_batch_end - self._epoch_start
        # Checkpoint names ("epoch{epoch:03d}") read `epoch` here: epochs completed, as everywhere.
        trainer.callback_metrics["epoch"] = torch.tensor(trainer.current_epoch + 1)
        if trainer.is_global_zero:
            self.write_row(trainer, pl_module, epoch=trainer.current_epoch + 1)

    def row(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> dict[str, Any]:
        values: dict[str, Any] = {
            "epoch": epoch,
            "global_step": trainer.global_step,
            "g_updates": trainer.global_step,
            "d_updates": int(getattr(pl_module, "d_updates", 0)),
            "train_seconds": round(self.train_seconds, 3),
        }
        if epoch > 0 and hasattr(pl_module, "epoch_means"):
            values.update(pl_module.epoch_means())
        if self.metrics is not None:
            values.update(getattr(self.metrics, "results", {}).get(epoch, {}))
        if self.samples is not None:
            if hasattr(self.samples, "diversity"):
                values["diversity"] = self.samples.diversity.get(epoch)
            grid = self.samples.grid_path(epoch)
            if grid is not None and grid.exists():
                values["grid"] = os.path.relpath(grid.resolve(), self.path.parent.resolve())
        return {key: values.get(key) for key in self.columns}

    def write_row(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        """Append one row, all or nothing: a full disk or a kill mid-write leaves the previous complete file."""
        old = self.path.read_text() if self.path.exists() else ""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if not old:
            writer.writerow(self.columns)
        writer.writerow([_format(v) for v in self.row(trainer, pl_module, epoch).values()])
        atomic_write(self.path, old + buffer.getvalue())

    def _truncate_after(self, epoch: int) -> None:
        """Drop rows of epochs after ``epoch`` (left by a run killed before its next checkpoint)."""
        if not self.path.exists():
            return
        rows = [r for r in read_history(self.path) if r.get("epoch", "").isdigit() and int(r["epoch"]) <= epoch]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.path, buffer.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {"train_seconds": self.train_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.train_seconds = float(state_dict.get("train_seconds", 0.0))
