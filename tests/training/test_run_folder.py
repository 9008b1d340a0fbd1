"""A second command loses nothing: a finished run is not started over, one folder trains one run at a time.

Every case runs the real CLI (``igan.training.cli.main``) in-process; the lock's holder is a real second
process where the case needs one (a live holder, then one killed with SIGKILL).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from test_failures import RUN, cli_args, fails_cleanly, snapshot

from igan.io.checkpoint_file import load_checkpoint_file
from igan.training.cli import main
from igan.training.history import read_history
from igan.training.run_folder import RunFolderLock, launched_as_rank_zero

QUIET = ["--trainer.logger=false"]  # W&B plays no part here and costs seconds per run


def run_dir(out: Path) -> Path:
    return out / "runs" / RUN


@pytest.fixture
def finished(tiny_cifar10, tmp_path):
    """A finished 1-epoch run under ``tmp_path/out`` (run and grid folders), and the bytes of its files."""
    out = tmp_path / "out"
    assert main(cli_args(out, tiny_cifar10, *QUIET)) == 0
    assert not (run_dir(out) / ".lock").exists()  # a clean end removes the lock file
    return out, snapshot(out)


# ------------------------------------------------------------------ a run folder that holds a run


def test_rerun_without_ckpt_path_stops_and_changes_no_byte(finished, tiny_cifar10, capsys):
    out, before = finished
    line = fails_cleanly(capsys, cli_args(out, tiny_cifar10, *QUIET),
                         f"{run_dir(out)} already holds a run (last epoch 1)", "--ckpt_path=last", "--run_name=",
                         "--overwrite")
    assert line
    assert snapshot(out) == before  # nothing changed, added or removed (no lock file left either)


def test_a_folder_with_only_the_epoch_0_row_is_no_run(tiny_cifar10, tmp_path):
    """A run killed in its first epoch, before any checkpoint, left nothing to continue: a new run may start."""
    out = tmp_path / "out"
    run_dir(out).mkdir(parents=True)
    (run_dir(out) / "metrics.csv").write_text("epoch,global_step\n0,0\n")
    assert main(cli_args(out, tiny_cifar10, *QUIET)) == 0
    assert [r["epoch"] for r in read_history(run_dir(out) / "metrics.csv")] == ["0", "1"]


def test_a_checkpoint_alone_holds_a_run(tiny_cifar10, tmp_path, capsys):
    out = tmp_path / "out"
    (run_dir(out) / "checkpoints").mkdir(parents=True)
    (run_dir(out) / "checkpoints" / "epoch005.ckpt").write_bytes(b"x")
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, *QUIET), "already holds a run (checkpoints epoch005.ckpt")


def test_overwrite_moves_the_old_run_and_its_grids_aside(finished, tiny_cifar10, capsys):
    out, before = finished
    old_ckpt = (run_dir(out) / "checkpoints" / "last.ckpt").read_bytes()
    assert main(cli_args(out, tiny_cifar10, *QUIET, "--overwrite=true", "--trainer.max_epochs=2")) == 0
    err = capsys.readouterr().err
    moved = [line for line in err.splitlines() if line.startswith("--overwrite: moved the earlier run aside")]
    assert len(moved) == 1, err[-2000:]
    (aside,) = (out / "runs").glob(f".{RUN}.replaced-*")
    (grids_aside,) = (out / "samples").glob(f".{RUN}.replaced-*")
    assert str(aside) in moved[0] and str(grids_aside) in moved[0]
    assert aside.name.split(".replaced-")[1] == grids_aside.name.split(".replaced-")[1]
    # The earlier run, byte for byte, under its new names.
    renamed = {name.replace(RUN, aside.name if name.startswith("runs") else grids_aside.name, 1): data
               for name, data in before.items()}
    assert {k: v for k, v in snapshot(out).items() if ".replaced-" in k} == renamed
    assert (aside / "checkpoints" / "last.ckpt").read_bytes() == old_ckpt
    # And the new run in the run's own folder.
    assert load_checkpoint_file(run_dir(out) / "checkpoints" / "last.ckpt")["global_step"] == 4
    assert [r["epoch"] for r in read_history(run_dir(out) / "metrics.csv")] == ["0", "1", "2"]
    assert not (aside / ".lock").exists() and not (run_dir(out) / ".lock").exists()


def test_overwrite_and_ckpt_path_together_are_refused(finished, tiny_cifar10, capsys):
    out, before = finished
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, *QUIET, "--overwrite=true", "--ckpt_path=last"),
                  "--overwrite starts a new run and --ckpt_path continues one")
    assert snapshot(out) == before


# ------------------------------------------------------------------ one training per folder

HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from igan.training.run_folder import RunFolderLock
RunFolderLock(sys.argv[2]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def hold_lock(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(REPO), str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_training_on_a_locked_folder_stops_at_once(finished, tiny_cifar10, capsys):
    out, before = finished
    holder = hold_lock(run_dir(out))
    try:
        start = time.monotonic()
        fails_cleanly(capsys, cli_args(out, tiny_cifar10, *QUIET, "--ckpt_path=last", "--trainer.max_epochs=2"),
                      f"run folder {run_dir(out)} is in use by another training (pid {holder.pid} on ")
        assert time.monotonic() - start < 30  # before any training
        assert load_checkpoint_file(run_dir(out) / "checkpoints" / "last.ckpt")["global_step"] == 2
    finally:
        holder.kill()
        holder.wait()
    # Killed without releasing: the next run takes the lock over with one warning and resumes.
    assert main(cli_args(out, tiny_cifar10, *QUIET, "--ckpt_path=last", "--trainer.max_epochs=2")) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning: taking over the lock")]
    assert len(warnings) == 1 and f"pid {holder.pid} on " in warnings[0], err[-2000:]
    assert load_checkpoint_file(run_dir(out) / "checkpoints" / "last.ckpt")["global_step"] == 4
    assert not (run_dir(out) / ".lock").exists()


def test_two_runs_started_together_cannot_both_train(tiny_cifar10, tmp_path):
    """Two train_gan.py processes on one fresh run folder: one trains, the other stops with one line."""
    out = tmp_path / "out"
    env = {**{k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}, "PYTHONPATH": str(REPO),
           "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    driver = tmp_path / "driver.py"  # the tiny CIFAR-10's md5s, as conftest sets them
    driver.write_text(
        "import sys\nsys.path.insert(0, sys.argv[1])\nfrom pathlib import Path\nfrom conftest import _md5\n"
        "from torchvision.datasets import CIFAR10\nf = Path(sys.argv[2]) / 'cifar-10-batches-py'\n"
        "CIFAR10.train_list = [[f'data_batch_{i}', _md5(f / f'data_batch_{i}')] for i in range(1, 6)]\n"
        "CIFAR10.test_list = [['test_batch', _md5(f / 'test_batch')]]\n"
        "CIFAR10.meta = dict(CIFAR10.meta, md5=_md5(f / 'batches.meta'))\n"
        "from igan.training.cli import main\nsys.exit(main(sys.argv[3:]))\n")
    argv = [sys.executable, str(driver), str(REPO / "tests"), str(tiny_cifar10),
            *cli_args(out, tiny_cifar10, *QUIET, "--trainer.max_epochs=3")]
    procs = [subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (err,) = [err for code, err in results if code == 2]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "is in use by another training" in errors[0] or "already holds a run" in errors[0]
    assert [r["epoch"] for r in read_history(run_dir(out) / "metrics.csv")] == ["0", "1", "2", "3"]


def test_the_lock_file_names_its_holder_and_is_removed_on_release(tmp_path):
    lock = RunFolderLock(tmp_path / "run")
    lock.acquire()
    text = (tmp_path / "run" / ".lock").read_text()
    assert f"pid={os.getpid()}\n" in text and "host=" in text and "started=" in text
    other = RunFolderLock(tmp_path / "run")  # another open file: flock conflicts within one process too
    with pytest.raises(Exception, match=f"in use by another training \\(pid {os.getpid()} on "):
        other.acquire()
    lock.release()
    lock.release()  # twice is harmless
    assert not (tmp_path / "run" / ".lock").exists()
    other.acquire()
    other.release()


def test_only_rank_zero_locks(monkeypatch):
    for env, expected in (({}, True), ({"LOCAL_RANK": "0"}, True), ({"LOCAL_RANK": "1"}, False),
                          ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False), ({"RANK": "3", "LOCAL_RANK": "0"}, False),
                          ({"RANK": "0"}, True)):
        for key in ("RANK", "LOCAL_RANK", "NODE_RANK"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert launched_as_rank_zero() is expected, env


def test_a_ddp_child_neither_locks_nor_checks(finished, tiny_cifar10, monkeypatch, capsys):
    """LOCAL_RANK=1 (a process Lightning's DDP launcher started): rank 0 already checked and holds the lock."""
    out, _ = finished
    holder = RunFolderLock(run_dir(out))
    holder.acquire()
    try:
        monkeypatch.setenv("LOCAL_RANK", "1")
        monkeypatch.setattr("igan.training.cli.IganCLI.build_trainer",
                            lambda self, *a, **k: (_ for _ in ()).throw(SystemExit(7)))
        with pytest.raises(SystemExit, match="7"):
            main(cli_args(out, tiny_cifar10, *QUIET))
        assert "error:" not in capsys.readouterr().err
    finally:
        holder.release()


def test_label_defaults_to_the_run_name_without_seed_and_reaches_w_and_b(tiny_cifar10, tmp_path, monkeypatch):
    import igan.training.wandb_logging as wandb_logging

    seen = []
    real = wandb_logging.EpochAxisWandbLogger.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs["config"]["label"])
        real(self, *args, **kwargs)

    monkeypatch.setattr(wandb_logging.EpochAxisWandbLogger, "__init__", spy)
    assert main(cli_args(tmp_path / "a", tiny_cifar10, "--trainer.max_epochs=0")) == 0
    assert main(cli_args(tmp_path / "b", tiny_cifar10, "--trainer.max_epochs=0", "--label=dcgan-small")) == 0
    assert seen == ["cifar10-dcgan", "dcgan-small"]
    assert "label: dcgan-small\n" in (tmp_path / "b" / "runs" / RUN / "config.yaml").read_text()
