"""The collapse measure distinct_nn in a comparison: read from metrics.csv, set against each run's
real-vs-real value, in comparison.json, the table, the verdict and the curves; old runs without it still read."""

from __future__ import annotations

import json

import pytest
from fake_runs import write_run

from igan.metrics.real_reference import REFERENCE_FILE, write_real_reference
from igan.report.compare import compare_runs

REFERENCE = {"fid": 20.0, "precision": 0.7, "recall": 0.7, "density": 1.0, "coverage": 0.9, "distinct_nn": 0.5,
             "n": 256, "num_each": 256}
FIDS = [300.0, 200.0, 150.0]


def study(tmp_path, collapsed_distinct: list[float]):
    dirs = []
    for seed in (0, 1, 2):
        for label, distinct in (("healthy", [0.45, 0.48, 0.50 - 0.01 * seed]), ("collapsed", collapsed_distinct)):
            run = write_run(tmp_path, f"{label}-s{seed}", [f + seed for f in FIDS], 60.0, seed=seed, generator="DCGAN",
                            extra={"recall": [0.1, 0.3, 0.4], "coverage": [0.2, 0.4, 0.5], "distinct_nn": distinct})
            write_real_reference(run / REFERENCE_FILE, REFERENCE)
            dirs.append(run)
    return sorted(dirs, key=lambda d: not d.name.startswith("healthy"))


def test_a_partial_collapse_fid_and_recall_miss_is_named_by_distinct_nn(tmp_path):
    dirs = study(tmp_path, [0.45, 0.2, 0.06])
    result = compare_runs(dirs, tmp_path / "cmp")
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    healthy, collapsed = comparison["groups"]
    assert {m["key"]: m["better"] for m in comparison["metrics"]}["final_distinct_nn"] == "higher"
    assert collapsed["metrics"]["final_distinct_nn"]["values"] == [0.06, 0.06, 0.06]
    assert [r["distinct_nn_relative"] for r in collapsed["runs"]] == pytest.approx([0.12] * 3)
    assert healthy["distinct_nn_relative"]["mean"] == pytest.approx((0.5 + 0.49 + 0.48) / 3 / 0.5)
    assert comparison["real_reference"]["distinct_nn"] == 0.5 and comparison["real_reference"]["n"] == 256
    table = result["markdown"]
    assert "| final distinct NN (of real) |" in table.splitlines()[0]
    assert "0.060 ± 0.000 (0.12)" in table and "distinct_nn 0.500" in table
    assert ("below 0.5 for collapsed: the samples crowd onto a few real images, a collapse (partial or whole) "
            "whatever FID says") in result["verdict"]
    assert "FID and distinct_nn disagree" in result["verdict"]  # recall and coverage rose: not named
    assert "distinct_nn falls from 0.450 to 0.060" in result["verdict"]  # FID improves meanwhile
    assert "distinct NN" in [panel.title for panel in result["panels"]]


def test_runs_without_the_column_compare_as_before(tmp_path):
    dirs = [write_run(tmp_path, f"old-s{seed}", FIDS, 60.0, seed=seed) for seed in (0, 1)]
    result = compare_runs(dirs, tmp_path / "cmp")
    assert "distinct" not in result["markdown"].splitlines()[0] and "distinct" not in result["verdict"]
    assert "distinct_nn_relative" not in result["comparison"]["groups"][0]
    assert result["comparison"]["real_reference"] is None
