"""The progress bar's whole-run estimate, on a real Trainer."""

from __future__ import annotations

import sys
import time

import lightning as L
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "metrics"))
from metrics_toys import TinyData, TinyGAN  # noqa: E402

from igan.training.progress import RunProgressBar, format_minutes  # noqa: E402


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


class SlowEvaluations(L.Callback):
    """An evaluation of 0.3 s before training and at every epoch end, as the FID callback does."""

    def on_train_start(self, *args) -> None:
        time.sleep(0.3)

    def on_train_epoch_end(self, *args) -> None:
        time.sleep(0.3)


def test_run_left_counts_the_batches_and_evaluations_of_every_remaining_epoch(tmp_path):
    bar = RunProgressBar()
    snap = Snapshot(bar)
    # The evaluations run before the bar's own hooks: the bar must see them anyway.
    trainer = L.Trainer(max_epochs=3, limit_train_batches=4, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[SlowEvaluations(), SlowBatches(), bar, snap])
    torch.manual_seed(0)
    trainer.fit(TinyGAN(), datamodule=TinyData(cache_dir=str(tmp_path), key="tiny"))
    assert len(snap.seen) == 12
    for index, (epoch, batch_idx, left, shown) in enumerate(snap.seen):
        batches = 12 - (4 * epoch + batch_idx + 1)
        evaluations = 3 - epoch  # this epoch's end included, from the first epoch on
        assert left is not None and shown == format_minutes(left)
        # at least 20 ms per batch and 0.3 s per evaluation left, and not wildly more
        assert 0.02 * batches + 0.3 * evaluations <= left <= 0.5 * batches + 1.0 * evaluations, (index, left)


def test_no_estimate_without_an_epoch_budget(tmp_path):
    bar = RunProgressBar()
    snap = Snapshot(bar)
    trainer = L.Trainer(max_epochs=-1, max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[bar, snap])
    trainer.fit(TinyGAN(), datamodule=TinyData(cache_dir=str(tmp_path), key="tiny"))
    assert snap.seen and all(left is None and shown is None for _, _, left, shown in snap.seen)


def test_run_left_is_capped_by_max_time(tmp_path):
    bar = RunProgressBar()
    snap = Snapshot(bar)
    # 1000 epochs of 4 batches at >= 20 ms each would be > 80 s; the Timer stops the run after 1 s.
    trainer = L.Trainer(max_epochs=1000, max_time={"seconds": 1}, limit_train_batches=4, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[SlowEvaluations(), SlowBatches(), bar, snap])
    trainer.fit(TinyGAN(), datamodule=TinyData(cache_dir=str(tmp_path), key="tiny"))
    lefts = [left for _, _, left, _ in snap.seen]
    assert trainer.current_epoch < 1000 and lefts and all(left is not None for left in lefts)
    # the second budgeted plus one epoch end (0.3 s, or the start-up gap before the first one ends),
    # not 1000 epochs of >= 0.38 s: a wide bound, so a slow machine's start-up cannot fail it
    assert all(left <= 10.0 for left in lefts), lefts
    assert lefts[-1] < lefts[0]
