"""``igan study``: bad arguments are one line; a killed study continues its runs; translation configs too."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TEST_CHARS, requires_kai_font

from igan.study.cli import main
from igan.study.plan import training_seconds
from igan.training.history import read_history

DCGAN = str(REPO / "configs" / "calligraphy_dcgan.yaml")


@pytest.mark.parametrize("args, message", [
    (["--epochs", "1", "--trainer.max_epochs=3"], "error: --trainer.max_epochs is set by the study itself"),
    (["--epochs", "1", "--ckpt_path=last"], "error: --ckpt_path is set by the study itself"),
    (["--epochs", "1", "--seeds", "0", "one"], "error: argument --seeds: seeds are integers, got 'one'"),
    (["--epochs", "1", "--seeds", "2", "2"], "error: --seeds lists a seed twice"),
    (["--epochs", "1", "--jobs", "0"], "error: --jobs must be >= 1, got 0"),
    (["--epochs", "0"], "error: --epochs must be >= 1"),
    (["--epochs", "1", "--minutes", "0"], "error: --minutes must be > 0, got 0"),
    (["--epochs", "1", "--minutes", "inf"], "error: --minutes must be > 0, got inf"),
    (["--epochs", "1", "--trainer.max_time=00:00:01:00"], "error: --trainer.max_time is set by the study itself"),
])
def test_bad_arguments_are_one_error_line(tmp_path, capsys, args, message):
    assert main(["--configs", DCGAN, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert main(["--configs", str(tmp_path / "missing.yaml"), "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert "error: config not found" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def tiny_runs(calligraphy_root: Path) -> list[str]:
    """Overrides for runs of a few seconds: width 8, 2 batches of 8 per epoch, no FID, no W&B."""
    return ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
            "--data.batch_size=8", "--trainer.limit_train_batches=2", "--data.image_size=32",
            f"--data.chars={TEST_CHARS}", f"--data.root={calligraphy_root}", "--metrics.every_n_epochs=0",
            "--samples.num=16", "--trainer.enable_model_summary=false", "--checkpoint.every_n_epochs=0",
            "--trainer.logger=false"]  # W&B's service of a killed run may hold its id a while: not tested here


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "study ended early"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.05)


@requires_kai_font
def test_a_killed_study_continues_its_runs_from_their_last_checkpoints(tmp_path, capsys, calligraphy_root):
    tiny = tiny_runs(calligraphy_root)
    out = tmp_path / "study"
    args = ["--configs", DCGAN, "--seeds", "0", "1", "--jobs", "2", "--epochs", "4", "--out", str(out), *tiny]
    runs = {seed: out / "runs" / f"calligraphy_dcgan-s{seed}" for seed in (0, 1)}
    # A hard stop of the whole study (kill -9 of the study and its trainings) once run s0 saved an epoch.
    study = subprocess.Popen([sys.executable, "-m", "igan", "study", *args], cwd=REPO, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(runs[0] / "checkpoints" / "last.ckpt", study)
    finally:
        os.killpg(study.pid, signal.SIGKILL)
        study.wait()
    before = read_history(runs[0] / "metrics.csv")[:2]  # epochs 0 and 1: in the checkpoint, never rewritten
    assert [r["epoch"] for r in before] == ["0", "1"]

    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "  calligraphy_dcgan-s0: resume from last.ckpt" in printed
    assert "calligraphy_dcgan-s0] resuming from last.ckpt at epoch" in printed
    assert "calligraphy_dcgan-s0] epoch 4/4" in printed and "Study finished" in printed
    for seed, run_dir in runs.items():
        rows = read_history(run_dir / "metrics.csv")
        assert [r["epoch"] for r in rows] == ["0", "1", "2", "3", "4"]
        steps = [int(r["global_step"]) for r in rows]
        assert steps == sorted(steps) and steps[-1] == 8  # 2 updates per epoch, none repeated or lost
        assert (out / "samples" / run_dir.name / "epoch_004.png").is_file()
    # Continued, not restarted: a restart would have rewritten epoch 1 with another clock and losses.
    assert read_history(runs[0] / "metrics.csv")[:2] == before
    log = (runs[0] / "train.log").read_text()
    assert log.count("=== igan.study") == 2 and "resuming from last.ckpt" in log

    assert main(args) == 0  # everything done: nothing trains, the comparison is rebuilt
    printed = capsys.readouterr().out
    assert "Plan: 2 done, 0 to resume, 0 new" in printed and "resuming" not in printed and "starting" not in printed
    assert (out / "compare" / "montage.png").is_file()
    assert "calligraphy_dcgan" in (out / "compare" / "table.md").read_text()


@requires_kai_font
def test_a_time_budget_stops_each_run_and_counts_it_done(tmp_path, capsys, calligraphy_root):
    out = tmp_path / "study"
    args = ["--configs", DCGAN, "--epochs", "500", "--minutes", "0.05", "--out", str(out), *tiny_runs(calligraphy_root)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "at most 500 epoch(s) or 0.05 minutes each" in printed and "Study finished" in printed
    run = out / "runs" / "calligraphy_dcgan-s0"
    epochs = int(read_history(run / "metrics.csv")[-1]["epoch"])
    assert 0 < epochs < 500  # stopped by the 3 s budget, not by the epochs
    assert training_seconds(run) >= 3.0  # Lightning's clock, saved in last.ckpt
    rows = (run / "metrics.csv").read_bytes()

    assert main(args) == 0  # the budget is spent: done, nothing trains again
    printed = capsys.readouterr().out
    assert f"calligraphy_dcgan-s0: done ({epochs}/500 epochs, its time spent)" in printed
    assert "Plan: 1 done, 0 to resume, 0 new" in printed and "resuming" not in printed
    assert (run / "metrics.csv").read_bytes() == rows
    assert (out / "compare" / "table.md").is_file()

    assert main([*args[:5], "0.1", *args[6:]]) == 0  # a larger budget continues the run from its last.ckpt
    printed = capsys.readouterr().out
    assert "resuming from last.ckpt" in printed
    assert int(read_history(run / "metrics.csv")[-1]["epoch"]) > epochs and training_seconds(run) >= 6.0


@requires_kai_font
def test_a_study_of_translation_configs_trains_and_compares_the_blocks(tmp_path, capsys, calligraphy_root):
    translate = REPO / "configs" / "translate"
    tiny = ["--model.width_g=8", "--model.width_d=8", "--model.style_dim=8", "--data.image_size=16",
            "--model.block_resolutions=[8]", f"--data.chars={TEST_CHARS}", f"--data.root={calligraphy_root}",
            '--data.styles=["AR PL UKai CN", "LXGW WenKai"]', "--data.batch_size=4",
            "--trainer.limit_train_batches=2", "--samples.num_chars=4", "--metrics.num_chars=3",
            "--metrics.batch_size=4", "--metrics.fid=false", "--trainer.enable_model_summary=false",
            "--trainer.logger=false"]
    out = tmp_path / "study"
    args = ["--configs", str(translate / "calligraphy_conv.yaml"), str(translate / "calligraphy_involution.yaml"),
            "--epochs", "1", "--out", str(out), *tiny]
    assert main(args) == 0
    assert "Study finished" in capsys.readouterr().out
    for block in ("conv", "involution"):
        rows = read_history(out / "runs" / f"calligraphy_{block}-s0" / "metrics.csv")
        assert [r["epoch"] for r in rows] == ["0", "1"] and float(rows[-1]["l1"]) > 0
    table = (out / "compare" / "table.md").read_text()
    assert "| UNet+conv |" in table and "| UNet+involution |" in table
