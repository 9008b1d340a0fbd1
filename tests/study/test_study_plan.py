"""igan.study.plan: a re-run study skips finished runs and resumes killed ones; the time it has left."""

import csv
from pathlib import Path

import pytest

from igan.study.plan import PlannedRun, estimate_left, max_time, plan_run, training_args
from igan.training.history import COLUMNS


def write_metrics(run_dir: Path, epochs: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({"epoch": e, "global_step": 2 * e} for e in range(epochs + 1))


def test_time_left_uses_each_runs_own_pace_the_mean_for_the_others_and_the_jobs():
    a, b, c = (PlannedRun(Path(f"{n}.yaml"), n, epochs=10) for n in "abc")
    assert estimate_left([a, b, c]) is None  # nothing measured yet
    a.done, a.pace = 10, 60.0
    b.done, b.pace = 4, 120.0
    # b: 6 epochs left at its own 120 s; c: 10 epochs at the mean pace (60 + 120) / 2 = 90 s.
    assert estimate_left([a, b, c]) == pytest.approx(6 * 120 + 10 * 90)
    # Two jobs run b and c side by side: the study ends with the longer, c.
    assert estimate_left([a, b, c], jobs=2) == pytest.approx(10 * 90)
    assert estimate_left([a, b, c], jobs=8) == pytest.approx(10 * 90)  # only two runs are left


def test_time_left_lays_the_queue_out_on_the_jobs_and_counts_what_runs_spend_beyond_their_budget():
    # make compare's shape: nine 21-minute runs, two at a time. The first two ended after 23 minutes
    # (start-up and the last evaluation beyond the budget), two are 5 minutes in, five wait.
    runs = [PlannedRun(Path("c.yaml"), f"r{i}", epochs=60, minutes=21.0) for i in range(9)]
    for run, seconds in zip(runs[:2], (22 * 60, 24 * 60)):  # overruns of 1 and 3 minutes: 2 on average
        run.done, run.pace, run.seconds, run.ended = 33, 35.0, seconds, True
    runs[0].trained, runs[0].seconds = 120.0, 20 * 60  # resumed with 2 minutes spent: the same overrun
    for run in runs[2:4]:
        run.done, run.pace, run.seconds = 9, 33.0, 5 * 60
    # Running: 23 - 5 = 18 minutes each; then the five queued 23-minute runs fill the two slots in
    # turn (3 after one, 2 after the other): the last one runs alone, 18 + 3 x 23 = 87 minutes.
    assert estimate_left(runs, jobs=2) == pytest.approx((18 + 3 * 23) * 60)
    assert estimate_left(runs, jobs=1) == pytest.approx((2 * 18 + 5 * 23) * 60)
    # A run that failed after a minute ended early: it says nothing of the overrun, and needs no time.
    failed = PlannedRun(Path("c.yaml"), "failed", epochs=60, minutes=21.0)
    failed.seconds, failed.ended = 60.0, True
    assert estimate_left([*runs, failed], jobs=2) == pytest.approx((18 + 3 * 23) * 60)
    assert estimate_left([failed, *runs], jobs=1) == pytest.approx((2 * 18 + 5 * 23) * 60)


def test_a_time_budget_caps_the_time_left_and_becomes_lightnings_max_time(tmp_path):
    a = PlannedRun(Path("a.yaml"), "a", epochs=100, minutes=30.0)
    a.done, a.pace, a.seconds = 2, 300.0, 600.0
    assert estimate_left([a]) == pytest.approx(30 * 60 - 600)  # not 98 epochs x 300 s
    assert max_time(45) == "00:00:45:00" and max_time(0.5) == "00:00:00:30" and max_time(1501) == "01:01:01:00"
    # The last run alone: runs that spent their minutes (epochs to spare) neither add time nor share the jobs.
    spent = [PlannedRun(Path("b.yaml"), n, epochs=100, minutes=30.0) for n in "bc"]
    spent[0].state, spent[0].done, spent[0].pace = "done", 20, 90.0  # found done when the study started
    spent[1].done, spent[1].pace, spent[1].seconds = 21, 90.0, 1850.0  # stopped by its Timer in this study
    assert estimate_left([a, *spent], jobs=2) == pytest.approx(30 * 60 - 600)
    assert "--trainer.max_time=00:00:30:00" in training_args(a, tmp_path, "g", [])
    assert not any("max_time" in arg for arg in training_args(PlannedRun(Path("b.yaml"), "b", 3), tmp_path, "g", []))


def test_a_resumed_runs_time_left_counts_the_budget_its_timer_already_spent(tmp_path):
    import torch

    folder = tmp_path / "a"
    write_metrics(folder, 4)
    (folder / "checkpoints").mkdir()
    # What Lightning's Timer leaves in last.ckpt: 20 of the 30 minutes spent.
    torch.save({"callbacks": {"Timer": {"time_elapsed": {"train": 1200.0}}}}, folder / "checkpoints" / "last.ckpt")
    a = plan_run(PlannedRun(Path("a.yaml"), "a", epochs=100, minutes=30.0), folder)
    assert (a.state, a.trained) == ("resume", 1200.0)
    a.pace, a.seconds = 300.0, 120.0  # 2 minutes into this invocation
    assert estimate_left([a]) == pytest.approx(30 * 60 - 1200 - 120)
    assert plan_run(PlannedRun(Path("a.yaml"), "a", epochs=100, minutes=20.0), folder).state == "done"


def test_plan_skips_finished_runs_resumes_checkpointed_ones_and_starts_the_rest(tmp_path, capsys):
    def planned(name: str, epochs: int = 5) -> PlannedRun:
        return plan_run(PlannedRun(Path("c.yaml"), name, epochs), tmp_path / name)

    write_metrics(tmp_path / "finished", 5)
    write_metrics(tmp_path / "killed", 3)
    (tmp_path / "killed" / "checkpoints").mkdir()
    (tmp_path / "killed" / "checkpoints" / "last.ckpt").write_bytes(b"")
    write_metrics(tmp_path / "before-first-epoch", 0)
    write_metrics(tmp_path / "no-last-ckpt", 2)
    assert (planned("finished").state, planned("finished").done) == ("done", 5)
    assert (planned("killed").state, planned("killed").done) == ("resume", 3)
    assert planned("killed", epochs=3).state == "done"
    assert planned("killed", epochs=8).state == "resume"  # a larger budget continues a finished run
    assert planned("absent").state == "new"
    assert planned("before-first-epoch").state == "new"
    assert (tmp_path / "before-first-epoch" / "metrics.csv").is_file()  # nothing to keep: left for the run to replace
    # Epochs without a checkpoint cannot be continued: that folder is moved aside, not deleted.
    assert planned("no-last-ckpt").state == "new"
    assert not (tmp_path / "no-last-ckpt").exists()
    [aside] = tmp_path.glob(".no-last-ckpt.replaced-*")
    assert (aside / "metrics.csv").is_file() and "moved to" in capsys.readouterr().out
