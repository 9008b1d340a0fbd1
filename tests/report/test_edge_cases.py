"""The comparison at its edges: a 1-epoch budget, a baseline that never improves, censored seeds, NaN rows,
failed and unfinished runs, a given target. No cell is ever nan, inf or "0 epochs"."""

from __future__ import annotations

import json

import pytest
from fake_runs import write_run
from simulated import make_run

from igan.errors import IganError
from igan.report.compare import compare_runs
from igan.report.comparison import build_comparison
from igan.report.runs import RunGroup
from igan.report.table import markdown_table
from igan.report.verdict import verdict


def compare(models: dict[str, list[list]], **kwargs) -> tuple[dict, str]:
    groups = [RunGroup(label, [make_run(label, seed, fids) for seed, fids in enumerate(seeds)])
              for label, seeds in models.items()]
    comparison = build_comparison(groups, **kwargs)
    json.dumps(comparison, allow_nan=False)  # no NaN or inf anywhere
    text = markdown_table(comparison, [r for g in groups for r in g.runs]) + verdict(comparison)
    assert "nan" not in text and "inf" not in text and " 0 epochs" not in text and "0.0 epochs" not in text
    return comparison, text


def test_one_epoch_budget_crosses_between_the_two_evaluations():
    comparison, text = compare({"a": [[340, 250], [335, 260], [345, 255]], "b": [[330, 240], [338, 245], [332, 250]]})
    target = comparison["target_fid"]["value"]
    assert comparison["target_fid"]["source"] == "baseline mean curve" and target < 330
    crossings = [r["crossing"]["epoch"] for g in comparison["groups"] for r in g["runs"]]
    assert all(0 < epoch <= 1 for epoch in crossings)


def test_a_challenger_starting_below_the_baseline_level_lowers_the_target():
    comparison, text = compare({"a": [[340, 250], [335, 260]], "b": [[240, 200], [245, 205]]})
    assert comparison["target_fid"]["source"] == "lowered below the first evaluations"
    assert comparison["target_fid"]["value"] == pytest.approx(0.95 * 240)
    assert comparison["groups"][0]["speed"]["reached"] == 0 and comparison["groups"][1]["speed"]["reached"] == 2
    assert comparison["challengers"][0]["speedup_epochs"]["bound"] == "at least" and "≥ " in text


def test_a_baseline_whose_best_is_its_first_evaluation_gives_no_target():
    comparison, text = compare({"a": [[300, 320, 340], [310, 330, 350]], "b": [[300, 200, 100], [300, 210, 120]]})
    assert comparison["target_fid"]["value"] is None
    assert "No speed comparison: the baseline's mean curve never goes below its first evaluation." in text
    assert comparison["challengers"][0]["metrics"]["best_fid"] is not None  # quality is still compared


def test_all_seeds_censored_and_one_seed_censored():
    baseline = [[300, 150, 100, 80], [310, 160, 105, 82], [305, 155, 98, 79]]
    stuck = [[300, 290, 280, 270], [305, 295, 285, 275], [310, 300, 290, 280]]
    comparison, text = compare({"a": baseline, "b": stuck})
    assert comparison["groups"][1]["speed"]["reached"] == 0
    assert "| none of 3 within 3 |" in text and "b reaches it in none of 3 seeds within 3 epochs" in text
    assert comparison["challengers"][0]["speedup_epochs"]["bound"] == "at most"

    one_late = [[300, 150, 100, 80], [310, 160, 105, 82], [305, 290, 280, 270]]
    comparison, text = compare({"a": baseline, "b": one_late})
    assert comparison["groups"][1]["speed"]["reached"] == 2 and "2 of 3 reach" in text
    assert "mean epochs restricted to the budget" in text
    assert [r["crossing"]["censored"] for r in comparison["groups"][1]["runs"]] == [False, False, True]


def test_nan_rows_failed_and_unfinished_runs_are_reported_not_dropped(tmp_path):
    fids = [[None, 90, 80, 70, 54], [None, 95, 85, 72, 62], [None, 92, 84, 76, 60]]
    dirs = [write_run(tmp_path, f"a-s{s}", fids[s], 60.0, seed=s) for s in range(3)]
    dirs += [write_run(tmp_path, "b-s0", [None, 80, 60, 50, 45], 60.0, seed=0),
             write_run(tmp_path, "b-s1", [None, 85, 65, "nan", "nan"], 60.0, seed=1)]
    failed = tmp_path / "runs" / "b-s2"
    failed.mkdir()
    (failed / "config.yaml").write_text("seed_everything: 2\ntrainer:\n  max_epochs: 4\n")
    (failed / "train.log").write_text("Traceback ...\nRuntimeError: out of memory\n")
    for run_dir in dirs:  # every run was asked for 4 epochs
        with open(run_dir / "config.yaml", "a") as f:
            f.write("trainer:\n  max_epochs: 4\n")
    unfinished = write_run(tmp_path, "a-s3", [None, 90, 80], 60.0, seed=3)
    with open(unfinished / "config.yaml", "a") as f:
        f.write("trainer:\n  max_epochs: 4\n")
    result = compare_runs(dirs + [unfinished, failed], tmp_path / "cmp")
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    a, b = comparison["groups"]
    assert (a["seeds_asked"], a["seeds_finished"], a["seeds_analysed"]) == (4, 3, 3)
    assert (b["seeds_asked"], b["seeds_finished"], b["seeds_analysed"]) == (3, 1, 2)
    states = {r["name"]: (r["status"], r["detail"]) for g in comparison["groups"] for r in g["runs"]}
    assert states["b-s1"] == ("diverged", "diverged: fid is NaN from epoch 3")
    assert states["b-s2"] == ("failed", "failed: no evaluation recorded")
    assert states["a-s3"] == ("unfinished", "unfinished: stopped at epoch 2 of 4")
    diverged = b["runs"][1]["metrics"]
    assert diverged["best_fid"] == 65.0 and diverged["final_fid"] is None  # no earlier value passed off as final
    assert b["metrics"]["final_fid"]["values"] == [45.0] and b["metrics"]["best_fid"]["values"] == [45.0, 65.0]
    table = result["markdown"]
    assert "| a | 3 of 4 (0, 1, 2) |" in table and "| b | 2 of 3 (0, 1), 1 diverged |" in table
    assert "b-s2: failed: no evaluation recorded" in table and "a-s3: unfinished: stopped at epoch 2 of 4" in table
    assert "baseline a: 3 of 4 seeds finished (a-s3 unfinished: stopped at epoch 2 of 4; 3 in the statistics)" in table
    assert "b: 1 of 3 seeds finished" in table and "nan" not in table.lower().replace("nan from", "")


def test_a_given_target_is_used_and_checked(tmp_path):
    baseline = [[300, 150, 100, 80], [310, 160, 105, 82]]
    comparison, _ = compare({"a": baseline, "b": baseline}, target_fid=120.0)
    assert comparison["target_fid"] == {"value": 120.0, "source": "given", "how": "given with --target-fid"}
    with pytest.raises(IganError, match="--target-fid 305 is not below every run's first evaluated FID"):
        compare({"a": baseline, "b": baseline}, target_fid=305.0)
