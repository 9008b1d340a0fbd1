"""igan.study.slurm_state: which runs go into the next array, from real run folders and squeue's states."""

import csv
from pathlib import Path

from igan.study.plan import PlannedRun, run_dir
from igan.study.slurm_state import run_statuses
from igan.training.history import COLUMNS


def write_run(folder: Path, epochs: int, last_ckpt: bool = False, log: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({"epoch": e, "global_step": 2 * e} for e in range(epochs + 1))
    if last_ckpt:
        (folder / "checkpoints").mkdir(exist_ok=True)
        (folder / "checkpoints" / "last.ckpt").write_bytes(b"")
    if log:
        (folder / "train.log").write_text(log)


def test_only_runs_neither_done_nor_in_the_queue_are_submitted_again(tmp_path):
    out = tmp_path / "study"
    names = ["done", "running", "queued", "cancelled", "timeout", "crashed", "fresh", "gone"]
    runs = [PlannedRun(Path("c.yaml"), name, 4) for name in names]
    folders = {r.name: run_dir(out, r) for r in runs}
    write_run(folders["done"], 4)
    write_run(folders["running"], 2)  # epochs and no last.ckpt yet: its task writes it; nothing may move the folder
    write_run(folders["cancelled"], 2, last_ckpt=True, log="...\ninterrupted (SIGTERM) at epoch 2: last.ckpt saved\n")
    write_run(folders["timeout"], 1, last_ckpt=True)
    (out / "slurm").mkdir(parents=True)
    (out / "slurm" / "7_4_0_log.err").write_text("slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 12:00 DUE TO TIME "
                                                 "LIMIT ***\n")
    write_run(folders["crashed"], 1, log="Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n\n")
    jobs = {name: f"7_{i}" for i, name in enumerate(names) if name != "fresh"}
    tasks = {"7_0": ("COMPLETED", "None"), "7_1": ("RUNNING", "None"), "7_2": ("PENDING", "Priority"),
             "7_3": ("CANCELLED", "None")}
    statuses = {s.run.name: s for s in run_statuses(runs, out, jobs, tasks)}
    assert {n: s.state for n, s in statuses.items()} == {
        "done": "done", "running": "running", "queued": "queued", "cancelled": "stopped", "timeout": "stopped",
        "crashed": "failed", "fresh": "new", "gone": "failed"}
    # Stopped from outside and new runs go in; the failures are held back, their folders untouched.
    assert [n for n, s in statuses.items() if s.submit] == ["cancelled", "timeout", "fresh"]
    assert statuses["crashed"].describe() == ("failed at 1/4 epochs (task 7_5: RuntimeError: CUDA out of memory); "
                                              "held back: fix the cause, then add --slurm-retry-failed")
    assert folders["crashed"].is_dir()
    statuses = {s.run.name: s for s in run_statuses(runs, out, jobs, tasks, retry_failed=True)}
    assert [n for n, s in statuses.items() if s.submit] == ["cancelled", "timeout", "crashed", "fresh", "gone"]
    assert folders["running"].is_dir() and statuses["running"].run.done == 2
    # The resubmitted ones resume where a last.ckpt allows, and each line says what happened.
    assert [statuses[n].run.state for n in ("cancelled", "timeout", "crashed")] == ["resume", "resume", "new"]
    assert statuses["queued"].describe() == "queued (task 7_2, Priority)"
    assert statuses["running"].describe() == "running (2/4 epochs, task 7_1)"
    assert statuses["cancelled"].describe() == ("stopped at 2/4 epochs (task 7_3: interrupted (SIGTERM) at epoch 2: "
                                                "last.ckpt saved); resubmitted, resuming from last.ckpt")
    assert "DUE TO TIME LIMIT" in statuses["timeout"].describe()
    assert statuses["crashed"].describe() == ("failed at 1/4 epochs (task 7_5: RuntimeError: CUDA out of memory); "
                                              "resubmitted, starting over")
    assert "no log written" in statuses["gone"].describe()
    # The crashed run had epochs but no last.ckpt: moved aside (as a local study does), so it starts over there.
    assert list(out.joinpath("runs").glob(".crashed.replaced-*"))
