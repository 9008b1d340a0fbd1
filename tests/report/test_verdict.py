"""The verdict paragraph, generated for constructed studies: one model clearly ahead, overlapping
intervals, a collapse (FID improving while recall falls), and one seed per model."""

from __future__ import annotations

from pathlib import Path

from fake_runs import write_run

from igan.report.runs import group_runs, load_runs
from igan.report.table import summarize_groups
from igan.report.verdict import find_collapse, verdict

# Baseline "a": best FIDs 50, 54, 52 -> target 54, reached at epochs 4, 6, 5 (one minute per epoch).
BASELINE = [[None, 90, 80, 70, 54, 52, 50], [None, 95, 85, 72, 62, 58, 54], [None, 92, 84, 76, 60, 53, 52]]
FAST = [[None, 70, 54, 45, 42, 40, 41], [None, 75, 60, 50, 44, 43, 42], [None, 65, 53, 48, 44, 42, 40]]  # 2, 3, 2
CLOSE = [[None, 80, 70, 50, 48, 47, 46], [None, 90, 80, 70, 60, 54, 50], [None, 90, 85, 80, 70, 60, 53]]  # 3, 5, 6
FALLING = [None, 0.5, 0.45, 0.35, 0.3, 0.2, 0.1]
RISING = [None, 0.2, 0.3, 0.35, 0.4, 0.4, 0.45]


def study(root: Path, models: dict[str, list], seconds: dict[str, float], recall: dict[str, list] | None = None,
          seeds: int = 3) -> str:
    dirs = []
    for seed in range(seeds):
        for name, fids in models.items():
            extra = None if recall is None else {"recall": recall[name], "coverage": recall[name]}
            dirs.append(write_run(root, f"{name}-s{seed}", fids[seed], seconds[name], seed=seed, extra=extra))
    groups = group_runs(load_runs(dirs))
    summaries, target = summarize_groups(groups)
    return verdict(summaries, target, groups)


def test_one_model_clearly_ahead_per_epoch_not_per_minute(tmp_path):
    text = study(tmp_path, {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 120.0})
    per_epoch, per_minute = text.split("Per epoch, ")[1].split("Per minute, ")
    # epochs to FID 54: a {4, 6, 5}, b {2, 3, 2}. With three seeds a resample of one seed thrice has
    # probability 1/27 > 2.5%, so each interval spans its seeds' range: [4, 6] and [2, 3]
    assert per_epoch.startswith("b is ahead in reaching FID 54.00 (b after 2.3 [2.0, 3.0] epochs; "
                                "a after 5.0 [4.0, 6.0] epochs)")
    # 5 / (7/3) = 2.14; the ratio's bootstrap interval lies above 1 (at worst 4 / 3)
    assert "Epochs of the others / b's: a: 2.14x [" in per_epoch and "above 1, ahead at 3 seeds" in per_epoch
    # minutes: a {4, 6, 5}, b {4, 6, 4} (two minutes per epoch): b leads by a little, within the noise
    assert per_minute.startswith("b is ahead") and "includes 1, not distinguishable at 3 seeds" in per_minute
    assert "Lowest mean best FID: b" in text and "One seed" not in text
    assert "not recorded, so a collapse cannot be read" in text


def test_overlapping_intervals_are_not_distinguishable(tmp_path):
    text = study(tmp_path, {"a": BASELINE, "b": CLOSE}, {"a": 60.0, "b": 60.0})
    per_epoch = text.split("Per epoch, ")[1].split("Per minute, ")[0]
    assert per_epoch.startswith("b is ahead in reaching FID 54.00 (b after 4.7")  # {3, 5, 6} against {4, 6, 5}
    assert "a: 1.07x [" in per_epoch and "the interval includes 1, not distinguishable at 3 seeds" in per_epoch
    assert "ahead at 3 seeds" not in text.split("Lowest")[0]


def test_collapse_where_fid_improves_and_recall_falls(tmp_path):
    text = study(tmp_path, {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 60.0}, recall={"a": FALLING, "b": RISING})
    assert "FID and recall/coverage disagree" in text
    assert "for a in 3 of 3 seeds (e.g. a-s0: FID improves from 90.00 at epoch 1 to 50.00 at epoch 6" in text
    assert "falls from 0.500 to 0.100" in text
    assert "for b" not in text  # b's recall rises with its FID improving: no disagreement

    agreeing = study(tmp_path / "ok", {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 60.0},
                     recall={"a": RISING, "b": RISING})
    assert "FID and recall/coverage agree" in agreeing


def test_collapse_needs_a_real_fall(tmp_path):
    run_dir = write_run(tmp_path, "x-s0", [None, 90, 80, 70], 60.0, extra={"recall": [None, 0.40, 0.45, 0.37]})
    run = load_runs([run_dir])[0]
    assert find_collapse(run, "recall") is None  # 0.08 below its peak: within COLLAPSE_DROP
    assert find_collapse(run, "recall", min_drop=0.05).start["epoch"] == 2


def test_one_seed_per_model(tmp_path):
    text = study(tmp_path, {"a": BASELINE, "b": FAST}, {"a": 60.0, "b": 60.0}, seeds=1)
    assert text.startswith("One seed per model: no interval can be computed")
    assert "[" not in text  # no interval anywhere
    assert "Per epoch, b is ahead in reaching FID 50.00 (b after 3 epochs; a after 6 epochs)." in text
