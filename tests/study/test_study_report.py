"""What a study hands to its comparison: every planned run, a failed one shown as failed, not left out."""

import json
from pathlib import Path

import pytest

from igan.study.cli import RunsFailed, run_study
from igan.study.plan import run_dir

pytestmark = pytest.mark.filterwarnings("ignore::igan.report.runs.CompareWarning")  # no grids here

HEADER = "epoch,train_seconds,fid,kid,kid_std,grid"


class FakePool:
    """An executor (igan.study.pool's three parts) that writes finished runs and fails the ones named."""

    failing: set = set()

    def __init__(self, runs, out: Path, group: str, overrides: list, jobs: int) -> None:
        self.runs, self.out = runs, out
        self.failed = []

    def train(self) -> None:
        for run in self.runs:
            folder = run_dir(self.out, run)
            folder.mkdir(parents=True, exist_ok=True)
            run.log = folder / "train.log"
            (folder / "config.yaml").write_text(f"run_name: {run.name}\nseed_everything: {run.seed}\n"
                                                f"trainer:\n  max_epochs: {run.epochs}\n")
            if run.name in self.failing:
                run.log.write_text("Traceback (most recent call last):\nRuntimeError: out of memory\n")
                self.failed.append((run, 1))
                continue
            run.log.write_text("done\n")
            fids = [300.0 - 40 * e - run.seed for e in range(run.epochs + 1)]
            (folder / "metrics.csv").write_text(
                HEADER + "\n" + "".join(f"{e},{10.0 * e},{f},0.1,0.01,\n" for e, f in enumerate(fids)))


@pytest.fixture
def configs(tmp_path):
    paths = []
    for stem in ("base", "other"):
        path = tmp_path / f"{stem}.yaml"
        path.write_text("{}\n")
        paths.append(str(path))
    return paths


def test_a_failed_run_is_in_the_comparison_as_failed_and_its_group_says_so(tmp_path, configs, capsys):
    FakePool.failing = {"other-s1"}
    out = tmp_path / "study"
    with pytest.raises(RunsFailed, match="1 of 4 run"):
        run_study(configs, 2, out, [], seeds=(0, 1), executor=FakePool)
    comparison = json.loads((out / "compare" / "comparison.json").read_text())
    base, other = comparison["groups"]
    assert comparison["baseline"] == "base" and [r["name"] for r in base["runs"]] == ["base-s0", "base-s1"]
    assert [(r["name"], r["status"]) for r in other["runs"]] == [("other-s0", "finished"), ("other-s1", "failed")]
    assert other["seeds_asked"] == 2 and other["seeds_finished"] == 1 and other["metrics"]["best_fid"]["n"] == 1
    table = (out / "compare" / "table.md").read_text()
    assert "other-s1: failed: no evaluation recorded" in table
    assert "other: 1 of 2 seeds finished" in (out / "compare" / "verdict.md").read_text()


def test_when_every_run_fails_the_comparison_still_lists_them(tmp_path, configs):
    FakePool.failing = {"base-s0", "other-s0"}
    out = tmp_path / "study"
    with pytest.raises(RunsFailed, match="2 of 2 run"):
        run_study(configs, 1, out, [], seeds=(0,), executor=FakePool)
    comparison = json.loads((out / "compare" / "comparison.json").read_text())
    assert [r["status"] for g in comparison["groups"] for r in g["runs"]] == ["failed", "failed"]
