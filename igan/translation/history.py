"""``runs/<run>/metrics.csv`` of a translation run: :class:`igan.training.history.RunHistory`'s
file and rules (one row per epoch, rows after a resumed checkpoint dropped), with the translation
losses and the held-out scores per style as columns."""

from __future__ import annotations

import csv
import os
from typing import Any

import lightning as L

from igan.training.history import RunHistory, _format, read_history
from igan.translation.metrics import metric_columns

LOSSES = ["d_loss", "g_loss", "g_adv", "train_l1", "d_real", "d_fake"]


def history_columns(styles: list[str]) -> list[str]:
    return ["epoch", "global_step", "g_updates", "d_updates", "train_seconds", *LOSSES,
            *metric_columns(styles), "eval_seconds", "grid"]


class TranslationHistory(RunHistory):
    """Writes ``<run_dir>/metrics.csv`` after the epoch's held-out grid and scores (register it after them)."""

    def __init__(self, run_dir, styles: list[str], samples=None, metrics=None) -> None:
        super().__init__(run_dir, samples=samples, metrics=metrics)
        self.columns = history_columns(styles)

    def row(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> dict[str, Any]:
        values: dict[str, Any] = {
            "epoch": epoch, "global_step": trainer.global_step, "g_updates": trainer.global_step,
            "d_updates": int(pl_module.d_updates), "train_seconds": round(self.train_seconds, 3),
        }
        if epoch > 0:
            values.update(pl_module.epoch_means())
        if self.metrics is not None:
            values.update(self.metrics.results.get(epoch, {}))
        if self.samples is not None:
            grid = self.samples.grid_path(epoch)
            if grid is not None and grid.exists():
                values["grid"] = os.path.relpath(grid.resolve(), self.path.parent.resolve())
        return {key: values.get(key) for key in self.columns}

    def write_row(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.columns)
            writer.writerow([_format(v) for v in self.row(trainer, pl_module, epoch).values()])

    def _truncate_after(self, epoch: int) -> None:
        if not self.path.exists():
            return
        rows = [r for r in read_history(self.path) if r.get("epoch", "").isdigit() and int(r["epoch"]) <= epoch]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)
