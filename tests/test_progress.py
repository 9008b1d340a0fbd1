"""The progress bar's whole-run estimate, on a real Trainer."""

from __future__ import annotations

import sys
import time

import lightning as L
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "metrics"))
from metrics_toys import TinyData, TinyGAN  # noqa: E402

from igan.progress import RunProgressBar, format_minutes  # noqa: E402


class SlowBatches(L.Callback):
    """Every batch takes at least 20 ms, so the pace is known to within scheduling noise."""

    def on_train_batch_end(self, *args) -> None:
        time.sleep(0.02)


class Snapshot(L.Callback):
    """The bar's estimate and postfix after each batch (callbacks after the bar see its state)."""

    def __init__(self, bar: RunProgressBar) -> None:
        self.bar, self.seen = bar, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        left = self.bar.time_left(trainer)
        self.seen.append((trainer.current_epoch, batch_idx, left, self.bar.get_metrics(trainer, pl_module).get("run_left")))


def test_run_left_counts_the_batches_of_every_remaining_epoch(tmp_path):
    bar = RunProgressBar()
    snap = Snapshot(bar)
    trainer = L.Trainer(max_epochs=3, limit_train_batches=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[SlowBatches(), bar, snap])
    torch.manual_seed(0)
    trainer.fit(TinyGAN(), datamodule=TinyData(cache_dir=str(tmp_path), key="tiny"))
    assert len(snap.seen) == 12
    for index, (epoch, batch_idx, left, shown) in enumerate(snap.seen):
        remaining = 12 - (4 * epoch + batch_idx + 1)
        assert left is not None and shown == format_minutes(left)
        if remaining == 0:
            assert left == 0.0
        else:  # remaining batches at the pace so far: at least 20 ms each, and not wildly more
            assert 0.02 * remaining <= left <= 0.5 * remaining, (index, left)


def test_no_estimate_without_an_epoch_budget(tmp_path):
    bar = RunProgressBar()
    snap = Snapshot(bar)
    trainer = L.Trainer(max_epochs=-1, max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[bar, snap])
    trainer.fit(TinyGAN(), datamodule=TinyData(cache_dir=str(tmp_path), key="tiny"))
    assert snap.seen and all(left is None and shown is None for _, _, left, shown in snap.seen)
