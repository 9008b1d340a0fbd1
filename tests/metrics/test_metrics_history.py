"""The metrics callback's precision/recall/density/coverage in metrics.csv, and resuming a run whose
metrics.csv predates those columns. A real Trainer, RunHistory and checkpoint; a toy Inception."""

from __future__ import annotations

import csv

import lightning as L
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint
from metrics_toys import TinyData, TinyGAN, toy_extractor

from igan.metrics import callback as callback_module
from igan.metrics.callback import Metrics
from igan.training.history import COLUMNS, RunHistory, read_history

NEW = ["precision", "recall", "density", "coverage", "distinct_nn"]


@pytest.fixture(autouse=True)
def extractor(monkeypatch):
    shared = toy_extractor(chunk_size=8)
    monkeypatch.setattr(callback_module, "load_inception", lambda weights=None, chunk_size=50: shared)
    return shared


def train(tmp_path, max_epochs: int, ckpt_path=None) -> Metrics:
    L.seed_everything(0, verbose=False)
    metrics = Metrics(num_samples=16, batch_size=8)
    callbacks = [metrics, RunHistory(tmp_path / "run", metrics=metrics),
                 ModelCheckpoint(dirpath=tmp_path / "run" / "checkpoints", save_last=True)]
    trainer = L.Trainer(
        max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )
    trainer.fit(TinyGAN(), datamodule=TinyData(cache_dir=str(tmp_path / "fid_stats"), key="tiny"), ckpt_path=ckpt_path)
    return metrics


def test_every_evaluation_fills_the_new_columns(tmp_path):
    metrics = train(tmp_path, max_epochs=2)
    rows = read_history(tmp_path / "run" / "metrics.csv")
    assert list(rows[0]) == COLUMNS and COLUMNS[-5:] == NEW
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for row in rows:
        for key in NEW:
            assert float(row[key]) == pytest.approx(metrics.results[int(row["epoch"])][key], rel=1e-5)
        assert 0 <= float(row["precision"]) <= 1 and 0 <= float(row["coverage"]) <= 1
        assert 0 < float(row["distinct_nn"]) <= 1


def test_resuming_a_run_with_an_old_header_rewrites_it_with_the_new_one(tmp_path):
    train(tmp_path, max_epochs=1)
    path = tmp_path / "run" / "metrics.csv"
    before = read_history(path)
    old_columns = [c for c in COLUMNS if c not in NEW]
    with open(path, "w", newline="") as f:  # the file as igan wrote it before the new columns
        writer = csv.DictWriter(f, fieldnames=old_columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(before)

    train(tmp_path, max_epochs=2, ckpt_path=tmp_path / "run" / "checkpoints" / "last.ckpt")
    with open(path, newline="") as f:
        assert next(csv.reader(f)) == COLUMNS
    rows = read_history(path)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for old, new in zip(before, rows[:2]):  # every old value under its own column, the new ones empty
        assert {c: new[c] for c in old_columns} == {c: old[c] for c in old_columns}
        assert all(new[key] == "" for key in NEW)
    assert all(0 <= float(rows[2][key]) for key in NEW) and float(rows[2]["fid"]) > 0
