"""``igan study --executor slurm`` on a real SLURM: a study to its comparison, and a cancelled task resumed.

CI starts a one-node SLURM on localhost (.ci/slurm/start.sh); without one these tests skip with the reason.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, TEST_CHARS, requires_kai_font

from igan.study import slurm
from igan.study.slurm_state import ENDED, read_jobs
from igan.study.cli import main
from igan.training.history import read_history

CONFIGS = [str(REPO / "configs" / "calligraphy_dcgan.yaml"), str(REPO / "configs" / "calligraphy_sagan.yaml")]


def slurm_problem() -> str:
    """Why no job can run on a SLURM here ("" when one can)."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM here (sinfo/sbatch not found); CI starts one with .ci/slurm/start.sh"
    try:
        done = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "SLURM's controller does not answer (sinfo timed out)"
    states = done.stdout.split()
    if done.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mix", "alloc") for s in states):
        return f"no SLURM node up (sinfo: {(done.stderr or done.stdout).strip() or 'no nodes'})"
    return ""


PROBLEM = slurm_problem()
pytestmark = [requires_kai_font, pytest.mark.skipif(bool(PROBLEM), reason=PROBLEM)]


@pytest.fixture
def out(tmp_path):
    """The study folder; any task of it still queued when the test ends is cancelled."""
    folder = tmp_path / "study"
    yield folder
    ours = [job for job in read_jobs(folder).values() if job in slurm.queue()]
    if ours:
        subprocess.run(["scancel", *ours], check=False)


def tiny(calligraphy_root: Path) -> list[str]:
    return ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8", "--data.image_size=16",
            "--data.batch_size=8", "--trainer.limit_train_batches=2", f"--data.chars={TEST_CHARS}",
            f"--data.root={calligraphy_root}", "--metrics.every_n_epochs=0", "--samples.num=4",
            "--trainer.enable_model_summary=false", "--checkpoint.every_n_epochs=0", "--trainer.logger=false"]


def wait_until_out_of_queue(out: Path, timeout: float = 300.0) -> None:
    """Until no task of the study is pending or running (its jobs.json's ids gone from squeue)."""
    deadline = time.monotonic() + timeout
    while True:
        ours = set(read_jobs(out).values())
        left = {job: state for job, (state, _) in slurm.queue().items() if job in ours and state not in ENDED}
        if not left:
            return
        assert time.monotonic() < deadline, f"tasks still in the queue after {timeout} s: {left}"
        time.sleep(0.5)


def test_a_study_on_slurm_trains_as_one_array_and_writes_the_comparison(out, capsys, calligraphy_root):
    args = ["--configs", *CONFIGS, "--seeds", "0", "1", "--epochs", "2", "--out", str(out), "--executor", "slurm",
            "--slurm-parallel", "2", "--slurm-cpus-per-task", "1", *tiny(calligraphy_root)]  # the partition's time
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "State: 0 done, 0 running, 0 queued, 0 stopped, 0 failed, 4 not submitted yet" in printed
    assert ": 4 task(s), 2 at a time (calligraphy_dcgan-s0 " in printed and "Next: the same command" in printed
    assert f"\n  igan study {' '.join(args[:4])}" in printed  # the command to run next
    jobs = read_jobs(out)
    assert sorted(jobs) == ["calligraphy_dcgan-s0", "calligraphy_dcgan-s1", "calligraphy_sagan-s0",
                            "calligraphy_sagan-s1"]
    assert len({job.split("_")[0] for job in jobs.values()}) == 1  # one array

    assert main(args) == 0  # while the array runs: states only, nothing submitted twice
    printed = capsys.readouterr().out
    assert "Submitted" not in printed and read_jobs(out) == jobs
    wait_until_out_of_queue(out)

    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "State: 4 done, 0 running" in printed and "Submitted" not in printed and "Study finished" in printed
    comparison = json.loads((out / "compare" / "comparison.json").read_text())
    assert comparison["baseline"] == "calligraphy_dcgan"
    assert [[(r["name"], r["status"]) for r in g["runs"]] for g in comparison["groups"]] == [
        [("calligraphy_dcgan-s0", "finished"), ("calligraphy_dcgan-s1", "finished")],
        [("calligraphy_sagan-s0", "finished"), ("calligraphy_sagan-s1", "finished")]]
    assert (out / "compare" / "table.md").is_file() and (out / "compare" / "montage.png").is_file()
    for name, job in jobs.items():
        folder = out / "runs" / name
        assert [r["epoch"] for r in read_history(folder / "metrics.csv")] == ["0", "1", "2"]
        log = (folder / "train.log").read_text()
        assert log.count("=== igan.study") == 1 and f"starting (SLURM job {job} on " in log
        assert "auto-requeueing enabled" not in log  # Lightning's own SLURM requeue stayed off
        machine = json.loads((folder / "machine.json").read_text())
        assert machine["threads"] == 1 and machine["cpu_seconds"] > 0  # the task's CPU, as --slurm-cpus-per-task


def wait_for_checkpoint(folder: Path, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not (folder / "checkpoints" / "last.ckpt").is_file():
        assert time.monotonic() < deadline, f"no last.ckpt in {folder} after {timeout} s"
        time.sleep(0.05)


def test_stopped_tasks_are_resubmitted_and_resume_while_finished_runs_are_not_retrained(out, capsys,
                                                                                         calligraphy_root):
    """s0 is cancelled (scancel: SIGTERM), s1 gets the time limit's warning (SIGUSR2, submitit's --signal)."""
    epochs = 16
    args = ["--configs", CONFIGS[0], "--seeds", "0", "1", "2", "--epochs", str(epochs), "--out", str(out),
            "--executor", "slurm", "--slurm-cpus-per-task", "1", "--slurm-time", "10", *tiny(calligraphy_root)]
    runs = [out / "runs" / f"calligraphy_dcgan-s{seed}" for seed in (0, 1, 2)]
    assert main(args) == 0
    jobs = read_jobs(out)
    # Each is stopped once it has a checkpoint to resume from, with epochs still to go.
    wait_for_checkpoint(runs[0])
    subprocess.run(["scancel", jobs["calligraphy_dcgan-s0"]], check=False)  # checked below: it stopped
    wait_for_checkpoint(runs[1])
    subprocess.run(["scancel", "--signal=USR2", jobs["calligraphy_dcgan-s1"]], check=False)
    wait_until_out_of_queue(out)
    before = [read_history(run / "metrics.csv") for run in runs[:2]]
    assert all(1 <= int(rows[-1]["epoch"]) < epochs for rows in before), "a run finished before it was stopped"
    assert read_history(runs[2] / "metrics.csv")[-1]["epoch"] == str(epochs)
    finished = (runs[2] / "metrics.csv").read_text()
    assert "interrupted (SIGTERM)" in (runs[1] / "train.log").read_text()  # the warning made it save and stop

    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "State: 1 done, 0 running, 0 queued, 2 stopped" in printed
    for seed in (0, 1):
        assert f"calligraphy_dcgan-s{seed}: stopped at " in printed
    assert printed.count("resubmitted, resuming from last.ckpt") == 2
    assert ": 2 task(s), 2 at a time (calligraphy_dcgan-s0 " in printed
    resubmitted = read_jobs(out)
    assert resubmitted["calligraphy_dcgan-s2"] == jobs["calligraphy_dcgan-s2"]
    assert all(resubmitted[f"calligraphy_dcgan-s{seed}"] != jobs[f"calligraphy_dcgan-s{seed}"] for seed in (0, 1))
    wait_until_out_of_queue(out)

    assert main(args) == 0
    assert "State: 3 done" in capsys.readouterr().out
    for run, rows_before in zip(runs, before):
        rows = read_history(run / "metrics.csv")
        assert [int(r["epoch"]) for r in rows] == list(range(epochs + 1))
        assert int(rows[-1]["global_step"]) == 2 * epochs  # no update repeated or lost
        # Resumed, not restarted: the epochs before the stop are the same rows, and its log says so.
        kept = [r for r in rows_before if int(r["epoch"]) < int(rows_before[-1]["epoch"])]
        assert rows[:len(kept)] == kept
        log = (run / "train.log").read_text()
        assert log.count("=== igan.study") == 2 and "resuming from last.ckpt at epoch" in log
    # The finished run was not trained again.
    assert (runs[2] / "metrics.csv").read_text() == finished
    assert (runs[2] / "train.log").read_text().count("=== igan.study") == 1
