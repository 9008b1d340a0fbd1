"""Exact resume, SIGKILL / SIGTERM / Ctrl-C, the divergence guard and reproducibility, on CPU.

A run resumed from ``last.ckpt`` must end bit-identical to a run that was never interrupted:
weights, optimizer states, EMA, the losses in metrics.csv and the grid PNGs. Runs are tiny (width
8, 3 batches of 8 per epoch, 16-image grids) and go through the real CLI (``igan.training.cli.main``),
in-process where possible and as subprocesses where a signal must hit a live process.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO

from igan.io.checkpoint_file import load_checkpoint_file
from igan.training.cli import main

RUN = "cifar10-dcgan-s0"
TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.limit_train_batches=3", "--data.batch_size=8", "--data.num_workers=0",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--metrics.every_n_epochs=0", "--samples.num=16", "--model.ema_decay=0.9"]
LOSSES = ["global_step", "g_updates", "d_updates", "d_loss", "g_loss", "d_real", "d_fake", "diversity", "grid"]


def args(out: Path, data: Path, *extra: str) -> list[str]:
    return ["--config", str(REPO / "configs" / "cifar10_dcgan.yaml"), *TINY, f"--data.root={data}",
            f"--trainer.default_root_dir={out / 'runs'}", f"--samples_root={out / 'samples'}", *extra]


def train(out: Path, data: Path, *extra: str) -> int:
    return main(args(out, data, *extra))


def last_ckpt(out: Path) -> Path:
    return out / "runs" / RUN / "checkpoints" / "last.ckpt"


def history(out: Path) -> list[dict[str, str]]:
    with open(out / "runs" / RUN / "metrics.csv", newline="") as f:
        return [{k: row[k] for k in ["epoch", *LOSSES]} for row in csv.DictReader(f)]


def assert_same_tree(a, b, where="checkpoint"):
    """Nested dicts/lists of tensors and plain values, equal bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs (max |diff| {(a.double() - b.double()).abs().max().item():.3g})"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b))} differ"
        for key in a:
            assert_same_tree(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_run(a: Path, b: Path, epochs: int = 2) -> None:
    """Two run folders: same final weights (G, D, EMA), optimizer states, losses and grids."""
    ca, cb = load_checkpoint_file(last_ckpt(a)), load_checkpoint_file(last_ckpt(b))
    assert ca["epoch"] == cb["epoch"] and ca["global_step"] == cb["global_step"] == 3 * epochs
    assert any(k.startswith("generator_ema.module.") for k in ca["state_dict"])
    assert_same_tree(ca["state_dict"], cb["state_dict"], "state_dict")
    assert_same_tree(ca["optimizer_states"], cb["optimizer_states"], "optimizer_states")
    assert history(a) == history(b)
    assert [int(r["epoch"]) for r in history(a)] == list(range(epochs + 1))
    for epoch in range(epochs + 1):
        name = f"epoch_{epoch:03d}.png"
        assert (a / "samples" / RUN / name).read_bytes() == (b / "samples" / RUN / name).read_bytes(), name


@pytest.fixture(autouse=True)
def one_thread():
    """In-process runs use the single thread the subprocess runs get (OMP_NUM_THREADS=1): float
    reductions split over a different number of threads round differently (3e-7 apart), and
    bit-identity is only promised for the same settings."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def straight(tiny_cifar10, tmp_path):
    """An uninterrupted 2-epoch run, the reference."""
    out = tmp_path / "straight"
    assert train(out, tiny_cifar10, "--trainer.max_epochs=2") == 0
    return out


# ---------------------------------------------------------------- exact resume


def test_resume_after_epoch_1_is_bit_identical(straight, tiny_cifar10, tmp_path):
    out = tmp_path / "resumed"
    assert train(out, tiny_cifar10, "--trainer.max_epochs=1") == 0
    first = load_checkpoint_file(last_ckpt(out))
    assert first["epoch"] == 0 and first["global_step"] == 3
    state = first["callbacks"]["ExactResume"]
    assert (state["epoch"], state["batch"], state["seed"]) == (1, 0, 0)
    assert set(state["rng"]) >= {"torch", "numpy", "python"}
    assert train(out, tiny_cifar10, "--trainer.max_epochs=2", "--ckpt_path=last") == 0
    assert_same_run(straight, out)


def test_same_seed_same_run_and_deterministic_flag(straight, tiny_cifar10, tmp_path):
    """Reproducibility: the same config and seed give the same losses and grid bytes, with
    ``--trainer.deterministic=true`` too; another seed gives another run."""
    again = tmp_path / "again"
    assert train(again, tiny_cifar10, "--trainer.max_epochs=2", "--trainer.deterministic=true") == 0
    assert_same_run(straight, again)
    other = tmp_path / "other"
    assert train(other, tiny_cifar10, "--trainer.max_epochs=1", "--seed_everything=1", f"--run_name={RUN}") == 0
    assert history(other)[1]["d_loss"] != history(straight)[1]["d_loss"]


def test_epoch_order_depends_on_seed_and_epoch_only():
    from igan.data.sampler import EpochShuffleSampler

    a, b = EpochShuffleSampler(50, seed=3), EpochShuffleSampler(50, seed=3)
    a.set_epoch(4)
    order = list(a)
    torch.rand(7)  # the global RNG plays no part
    b.set_epoch(4)
    assert list(b) == order and sorted(order) == list(range(50))
    b.set_epoch(5)
    assert list(b) != order
    assert EpochShuffleSampler(50, seed=4).order(4).tolist() != order
    b.start_at(4, skip=16)  # a run resumed after 2 batches of 8 in epoch 4
    assert list(b) == order[16:]
    b.set_epoch(4)
    assert list(b) == order  # the skip applies to one pass only
    plain = EpochShuffleSampler(50, seed=3)  # never told the epoch: a new order every pass
    assert list(plain) == a.order(0).tolist() and list(plain) == a.order(1).tolist()


def test_datamodule_draws_batches_through_the_epoch_sampler(tiny_cifar10):
    from igan.data import GANDataModule
    from igan.data.sampler import EpochShuffleSampler

    dm = GANDataModule(name="cifar10", root=str(tiny_cifar10), image_size=32, channels=3, batch_size=8)
    loader = dm.train_dataloader()
    assert loader.sampler is dm.train_sampler and isinstance(loader.sampler, EpochShuffleSampler)
    assert loader.drop_last and len(loader) == 100 // 8
    dm.train_sampler.set_epoch(3)
    first = next(iter(loader))
    expected = torch.stack([dm.dataset[i][0] for i in dm.train_sampler.order(3)[:8].tolist()])
    assert torch.equal(first, expected)


def test_step_checkpoints_do_not_replace_the_epoch_end_checkpoint(tiny_cifar10, tmp_path):
    """With steps per epoch a multiple of --last_every_n_steps, last.ckpt is still the epoch-end one
    (written after the epoch's grid and metrics row), not the step save of its last batch."""
    out = tmp_path / "steps"
    assert train(out, tiny_cifar10, "--trainer.max_epochs=1", "--last_every_n_steps=3") == 0
    ckpt = load_checkpoint_file(last_ckpt(out))
    assert ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] == 1  # after the epoch-end hooks
    assert ckpt["callbacks"]["RunHistory"]["train_seconds"] > 0


# ---------------------------------------------------------------- kills and signals

DRIVER = r'''
import hashlib, os, sys, time
from pathlib import Path

from torchvision.datasets import CIFAR10

import igan.gan
from igan.training.cli import main

marker, block_at, root = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
folder = root / "cifar-10-batches-py"  # the tiny CIFAR-10 of conftest: its md5s, as there
md5 = lambda name: hashlib.md5((folder / name).read_bytes()).hexdigest()
CIFAR10.train_list = [[f"data_batch_{i}", md5(f"data_batch_{i}")] for i in range(1, 6)]
CIFAR10.test_list = [["test_batch", md5("test_batch")]]
CIFAR10.meta = dict(CIFAR10.meta, md5=md5("batches.meta"))

step = igan.gan.GAN.training_step


def training_step(self, batch, batch_idx):
    if self.trainer.global_step == block_at and not marker.exists():
        marker.write_text(str(self.trainer.global_step))  # the test kills or signals us now
        for _ in range(6000):
            if self.trainer.received_sigterm and not os.environ.get("BLOCK_THROUGH_SIGTERM"):
                break
            time.sleep(0.05)
    return step(self, batch, batch_idx)


igan.gan.GAN.training_step = training_step
sys.exit(main(sys.argv[4:]))
'''


def subprocess_env(**extra: str) -> dict[str, str]:
    """This checkout first on the path, one thread, offline W&B with a W&B service of its own (an inherited
    WANDB_SERVICE would attach the child to this process's wandb-core, and a killed child's run would
    stay "in use" there)."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    return {**env, "PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            **extra}


def start_blocked(tmp_path: Path, out: Path, data: Path, block_at: int, *extra: str,
                  env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    """A training subprocess that stops (alive) before the step after ``block_at`` generator updates."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    marker = tmp_path / f"blocked-{out.name}"
    env = env or subprocess_env()
    proc = subprocess.Popen([sys.executable, str(driver), str(marker), str(block_at), str(data),
                             *args(out, data, *extra)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"training ended before step {block_at}:\n{proc.communicate()[1][-3000:]}")
        assert time.monotonic() < deadline, "training did not reach the step in time"
        time.sleep(0.1)
    return proc, marker


def reap(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:  # wandb-core and anything else of the killed run's session
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return proc.returncode, out, err


def test_sigkill_in_epoch_2_then_resume_is_bit_identical(straight, tiny_cifar10, tmp_path):
    out = tmp_path / "killed"
    proc, _ = start_blocked(tmp_path, out, tiny_cifar10, 4, "--trainer.max_epochs=2")  # epoch 2, batch 2
    saved = last_ckpt(out).read_bytes()
    os.kill(proc.pid, signal.SIGKILL)
    code, _, _ = reap(proc)
    assert code == -signal.SIGKILL
    assert last_ckpt(out).read_bytes() == saved  # the end-of-epoch-1 checkpoint
    assert load_checkpoint_file(last_ckpt(out))["global_step"] == 3
    assert train(out, tiny_cifar10, "--trainer.max_epochs=2", "--ckpt_path=last") == 0
    assert_same_run(straight, out)


def as_written_before_gan_saved_its_sums(path: Path) -> None:
    """Rewrite a checkpoint into the older layout: the epoch's loss sums in ExactResume's state."""
    ckpt = load_checkpoint_file(path)
    saved = ckpt["igan"].pop("epoch_sums")
    if not ckpt["igan"]:
        del ckpt["igan"]
    ckpt["callbacks"]["ExactResume"].update(epoch_sums=saved["sums"], epoch_counts=saved["counts"])
    torch.save(ckpt, path)


def test_sigkill_after_a_step_checkpoint_resumes_mid_epoch_bit_identical(straight, tiny_cifar10, tmp_path):
    """``--last_every_n_steps=1``: last.ckpt after step 4 (epoch 2, batch 1 of 3); killed in step 5.
    The checkpoint is rewritten into the layout of checkpoints from before GAN saved its own loss
    sums (they were in ExactResume's state): those still resume exactly. (The SIGTERM test below
    resumes mid-epoch from the current layout.)"""
    out = tmp_path / "killed-mid"
    proc, _ = start_blocked(tmp_path, out, tiny_cifar10, 4, "--trainer.max_epochs=2", "--last_every_n_steps=1")
    os.kill(proc.pid, signal.SIGKILL)
    reap(proc)
    ckpt = load_checkpoint_file(last_ckpt(out))
    assert ckpt["global_step"] == 4
    assert (ckpt["callbacks"]["ExactResume"]["epoch"], ckpt["callbacks"]["ExactResume"]["batch"]) == (1, 1)
    as_written_before_gan_saved_its_sums(last_ckpt(out))
    assert train(out, tiny_cifar10, "--trainer.max_epochs=2", "--ckpt_path=last", "--last_every_n_steps=1") == 0
    assert_same_run(straight, out)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_save_last_ckpt_and_resume_exactly(sig, straight, tiny_cifar10, tmp_path):
    out = tmp_path / f"signal-{sig.name}"
    proc, _ = start_blocked(tmp_path, out, tiny_cifar10, 4, "--trainer.max_epochs=2")
    before = last_ckpt(out).read_bytes()
    os.kill(proc.pid, sig)
    code, _, err = reap(proc)
    assert code == (143 if sig == signal.SIGTERM else 130), err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert lines == [f"interrupted ({'SIGTERM' if sig == signal.SIGTERM else 'Ctrl-C'}) in epoch 2 at step 5: "
                     f"saved {last_ckpt(out)}; resume with --ckpt_path=last"], err[-3000:]
    assert "Traceback" not in err
    assert last_ckpt(out).read_bytes() != before
    ckpt = load_checkpoint_file(last_ckpt(out))  # weights_only: loadable, and a training checkpoint
    assert ckpt["global_step"] == 5 and ckpt["callbacks"]["ExactResume"]["batch"] == 2
    # The module's own state holds the loss sums of the epoch's two batches; ExactResume's does not.
    assert ckpt["igan"]["epoch_sums"]["counts"]["d_loss"] == 2 and "epoch_sums" not in ckpt["callbacks"]["ExactResume"]
    assert not list(last_ckpt(out).parent.glob(".*.tmp"))
    assert train(out, tiny_cifar10, "--trainer.max_epochs=2", "--ckpt_path=last") == 0
    assert_same_run(straight, out)


def test_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tiny_cifar10, tmp_path):
    """Ctrl-C twice inside a step: no half-updated batch is saved; the epoch-1 checkpoint stays."""
    out = tmp_path / "hard"
    proc, _ = start_blocked(tmp_path, out, tiny_cifar10, 4, "--trainer.max_epochs=2",
                            env=subprocess_env(BLOCK_THROUGH_SIGTERM="1"))
    before = last_ckpt(out).read_bytes()
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(2)
    os.kill(proc.pid, signal.SIGINT)
    code, _, err = reap(proc)
    assert code == 130, err[-3000:]
    assert "Ctrl-C: finishing the current step" in err
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert lines == [f"interrupted (Ctrl-C) in epoch 2 at step 4, during a batch: kept the previous {last_ckpt(out)}; "
                     "resume with --ckpt_path=last"], err[-3000:]
    assert "Traceback" not in err
    assert last_ckpt(out).read_bytes() == before


def test_sigterm_in_the_last_batch_stops_after_the_epoch_end(tiny_cifar10, tmp_path):
    """Stopping before the epoch-end hooks would lose the epoch's grid and metrics row on resume."""
    out = tmp_path / "last-batch"
    proc, _ = start_blocked(tmp_path, out, tiny_cifar10, 2, "--trainer.max_epochs=3")  # epoch 1, batch 3 of 3
    os.kill(proc.pid, signal.SIGTERM)
    code, _, err = reap(proc)
    assert code == 143, err[-3000:]
    assert f"interrupted (SIGTERM) at the end of epoch 1 (step 3): saved {last_ckpt(out)}" in err
    assert [r["epoch"] for r in history(out)] == ["0", "1"]
    assert (out / "samples" / RUN / "epoch_001.png").is_file()
    state = load_checkpoint_file(last_ckpt(out))["callbacks"]["ExactResume"]
    assert (state["epoch"], state["batch"]) == (1, 0)


# ---------------------------------------------------------------- divergence


def nan_after(monkeypatch, calls: int) -> None:
    """The DCGAN loss of D turns NaN from its ``calls``-th call on."""
    from igan.gan import losses

    dis, gen = losses.LOSSES["ns"]
    count = {"n": 0}

    def poisoned(d_real, d_fake):
        count["n"] += 1
        loss = dis(d_real, d_fake)
        return loss * float("nan") if count["n"] >= calls else loss

    monkeypatch.setitem(losses.LOSSES, "ns", (poisoned, gen))


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(tiny_cifar10, tmp_path, monkeypatch, capsys):
    out = tmp_path / "nan"
    nan_after(monkeypatch, 5)  # the 5th D update: epoch 2, batch 2
    # Not a logging step (every 10th batch): the guard must see the step's own losses, not the logged ones.
    assert train(out, tiny_cifar10, "--trainer.max_epochs=3", "--last_every_n_steps=1",
                 "--trainer.log_every_n_steps=10") == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "training diverged in epoch 2 at step 5 (batch 2 of 3)" in lines[0] and "train/d_loss=nan" in lines[0]
    assert f"the last good checkpoint {last_ckpt(out)} is kept" in lines[0]
    ckpt = load_checkpoint_file(last_ckpt(out))
    assert ckpt["global_step"] == 4  # the step before the NaN, not the NaN step
    assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values() if t.is_floating_point())
    assert [r["epoch"] for r in history(out)] == ["0", "1"]


def test_nan_in_epoch_2_leaves_the_epoch_1_checkpoint_bytes_unchanged(tiny_cifar10, tmp_path, monkeypatch, capsys):
    out = tmp_path / "nan-epoch"
    assert train(out, tiny_cifar10, "--trainer.max_epochs=1") == 0
    before = last_ckpt(out).read_bytes()
    nan_after(monkeypatch, 2)  # the 2nd D update of the resumed run: epoch 2, batch 2
    assert train(out, tiny_cifar10, "--trainer.max_epochs=3", "--ckpt_path=last") == 2
    assert "error: training diverged in epoch 2 at step 5" in capsys.readouterr().err
    assert last_ckpt(out).read_bytes() == before


def test_huge_learning_rate_diverges_cleanly(tiny_cifar10, tmp_path, capsys):
    out = tmp_path / "lr"
    assert train(out, tiny_cifar10, "--trainer.max_epochs=5", "--model.lr_d=1e30", "--model.lr_g=1e30") == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "training diverged in epoch" in line and "at step" in line
    if last_ckpt(out).is_file():
        ckpt = load_checkpoint_file(last_ckpt(out))
        assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values() if t.is_floating_point())


def test_atomic_checkpoint_io_refuses_non_finite_weights(tmp_path):
    from igan.errors import IganError
    from igan.training.checkpoints import AtomicCheckpointIO

    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    good = path.read_bytes()
    with pytest.raises(IganError, match=r"non-finite values \(NaN/Inf\) in w"):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("inf")])}}, path)
    with pytest.raises(IganError, match=r"optimizer_states\[0\]\.state\[0\]\.exp_avg"):
        io.save_checkpoint({"state_dict": {"w": torch.ones(3)},
                            "optimizer_states": [{"state": {0: {"exp_avg": torch.tensor([float("nan")])}}}]}, path)
    assert path.read_bytes() == good


def test_detect_anomaly_flag_still_works(tiny_cifar10, tmp_path):
    assert train(tmp_path / "anomaly", tiny_cifar10, "--trainer.max_epochs=1", "--trainer.detect_anomaly=true") == 0
