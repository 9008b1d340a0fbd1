"""The verdict paragraph, generated for constructed studies: one model clearly ahead, a close one, a
collapse (FID improving while recall falls), metrics at their floor, timings that do or do not compare."""

from __future__ import annotations

import json
from pathlib import Path

from fake_runs import write_run

from igan.report.collapse import find_collapse
from igan.report.comparison import build_comparison
from igan.report.runs import group_runs, load_runs
from igan.report.table import markdown_table
from igan.report.verdict import verdict

BASELINE = [[None, 90, 80, 70, 54, 52, 50], [None, 95, 85, 72, 62, 58, 54], [None, 92, 84, 76, 60, 53, 52]]
FAST = [[None, 70, 54, 45, 42, 40, 41], [None, 75, 60, 50, 44, 43, 42], [None, 65, 53, 48, 44, 42, 40]]
CLOSE = [[None, 80, 70, 50, 48, 47, 46], [None, 90, 80, 70, 60, 54, 50], [None, 90, 85, 80, 70, 60, 53]]
FALLING = [None, 0.5, 0.45, 0.35, 0.3, 0.2, 0.1]
RISING = [None, 0.2, 0.3, 0.35, 0.4, 0.4, 0.45]


def study(root: Path, models: dict[str, list], seconds: dict[str, float], recall: dict[str, list] | None = None,
          seeds: int = 3, machine: dict[str, dict] | None = None) -> tuple[str, dict]:
    dirs = []
    for seed in range(seeds):
        for name, fids in models.items():
            extra = None if recall is None else {"recall": recall[name], "coverage": recall[name]}
            run_dir = write_run(root, f"{name}-s{seed}", fids[seed], seconds[name], seed=seed, extra=extra)
            if machine:
                (run_dir / "machine.json").write_text(json.dumps(machine[name]))
            dirs.append(run_dir)
    comparison = build_comparison(group_runs(load_runs(dirs)))
    return verdict(comparison), comparison


def test_one_model_clearly_ahead_per_epoch_and_no_minute_claim_without_machines(tmp_path):
    text, comparison = study(tmp_path, {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 120.0})
    assert text.startswith("Baseline: a. Every seed finished (a 3, b 3).")
    assert "b against a: speed-up per epoch " in text and "b is faster at 3 seeds each" in text
    assert "which cannot go below 0.10 here" in text  # the permutation test's floor at 3 vs 3
    assert "No per-minute claim: the runs do not record the host, threads and CPU share" in text
    assert "Per minute" not in text
    assert "Best FID (each run's lowest): a 52.00 [" in text and "Final FID (last evaluation): a 52.00 [" in text
    assert "b -11.33 (Welch p" in text and "better at 3 seeds each" in text
    assert "not recorded, so a collapse cannot be read" in text
    assert comparison["challengers"][0]["speedup_minutes"] is None


def test_a_close_model_is_not_distinguishable(tmp_path):
    text, comparison = study(tmp_path, {"a": BASELINE, "b": CLOSE}, {"a": 60.0, "b": 60.0})
    speed = comparison["challengers"][0]["speedup_epochs"]
    assert not speed["distinguishable"] and "not distinguishable at 3 seeds each" in text
    assert "faster" not in text and "slower" not in text


def test_minutes_compared_only_on_alike_machines(tmp_path):
    same = {"host": "h", "threads": 2, "cpu_share": 1.0}
    text, comparison = study(tmp_path / "same", {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 120.0},
                             machine={"a": same, "b": same})
    assert comparison["timing"]["comparable"] and "Per minute, b against a: speed-up per minute" in text
    shared = {"host": "h", "threads": 2, "cpu_share": 0.5}
    text, comparison = study(tmp_path / "shared", {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 120.0},
                             machine={"a": same, "b": shared})
    assert "No per-minute claim: the runs got unequal CPU shares (0.50 to 1.00)" in text


def test_a_seed_crossing_after_the_shortest_runs_minutes_is_censored_in_minutes(tmp_path):
    # b draws a's curves at ten times the minutes per epoch (bf16 where the CPU emulates it): alike
    # per epoch, while per minute it reaches the target only after a's whole budget (6 minutes).
    same = {"host": "h", "threads": 1, "cpu_share": 1.0}
    text, comparison = study(tmp_path, {"a": BASELINE, "b": BASELINE}, {"a": 60.0, "b": 600.0},
                             machine={"a": same, "b": same})
    a, b = (group["speed"] for group in comparison["groups"])
    assert (a["reached"], a["reached_minutes"], b["reached"], b["reached_minutes"]) == (3, 3, 3, 0)
    assert comparison["challengers"][0]["speedup_epochs"]["estimate"] == 1.0
    per_minute = comparison["challengers"][0]["speedup_minutes"]
    assert per_minute["bound"] == "at most" and per_minute["estimate"] < 1.0
    assert b["restricted_minutes"]["values"] == [6.0, 6.0, 6.0]  # counted at the horizon, as censored
    assert "Per minute, b against a: speed-up per minute at most " in text
    table = markdown_table(comparison, load_runs(sorted((tmp_path / "runs").iterdir())))
    assert "| none of 3 |" in table and "3 of 3 reach" in table  # none within the minutes, all within the epochs


def test_collapse_where_fid_improves_and_recall_falls(tmp_path):
    text, _ = study(tmp_path, {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 60.0}, recall={"a": FALLING, "b": RISING})
    assert "FID and recall disagree" in text  # the metric that fell, not every one measured
    assert "for a in 3 of 3 seeds (e.g. a-s0: FID improves from 90.00 at epoch 1 to 50.00 at epoch 6" in text
    assert "falls from 0.500 to 0.100" in text and "for b" not in text
    agreeing, _ = study(tmp_path / "ok", {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 60.0},
                        recall={"a": RISING, "b": RISING})
    assert "In no run does recall or coverage fall by 0.1 or more while FID improves." in agreeing


def test_metrics_at_zero_everywhere_are_uninformative_not_agreeing(tmp_path):
    zero = [None] + [0.0] * 6
    text, comparison = study(tmp_path, {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 60.0},
                             recall={"a": zero, "b": zero})
    assert comparison["uninformative"] == {"recall": "zero", "coverage": "zero"}
    assert "Final recall 0 and final coverage 0 in every run: uninformative at this quality" in text
    assert "agree" not in text and "In no run" not in text


def test_collapse_needs_a_real_fall(tmp_path):
    run_dir = write_run(tmp_path, "x-s0", [None, 90, 80, 70], 60.0, extra={"recall": [None, 0.40, 0.45, 0.37]})
    run = load_runs([run_dir])[0]
    assert find_collapse(run, "recall") is None  # 0.08 below its peak: within COLLAPSE_DROP
    assert find_collapse(run, "recall", min_drop=0.05).start["epoch"] == 2


def test_one_seed_per_model(tmp_path):
    text, comparison = study(tmp_path, {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 60.0}, seeds=1)
    assert "One seed per model: no interval or test can be computed" in text
    assert "[" not in text  # no interval anywhere
    assert "(one seed: no test)" in text
    assert not comparison["challengers"][0]["speedup_epochs"]["distinguishable"]
