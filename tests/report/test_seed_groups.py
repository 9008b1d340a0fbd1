"""Runs of one config across seeds: grouping, the table's mean ± sd and intervals, and the band curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_runs import write_run

from igan.errors import IganError
from igan.report import stats
from igan.report.compare import curve_panels, main, resolve_epochs
from igan.report.figures import draw_curves
from igan.report.runs import group_runs, load_runs
from igan.report.comparison import build_comparison
from igan.report.table import markdown_table

# Best FIDs of the baseline seeds: 50, 54, 52, so the target is 54 (a level every dcgan seed
# reaches). dcgan reaches it at epochs 4, 6, 5; idcgan at 2, 3, 2.
FIDS = {
    "dcgan": [[None, 90, 80, 70, 54, 52, 50], [None, 95, 85, 72, 62, 58, 54], [None, 92, 84, 76, 60, 53, 52]],
    "idcgan": [[None, 70, 54, 45, 42, 40, 41], [None, 75, 60, 50, 44, 43, 42], [None, 65, 53, 48, 44, 42, 40]],
}
SECONDS = {"dcgan": 60.0, "idcgan": 120.0}
RECALL = [None, 0.2, 0.3, 0.35, 0.4, 0.4, 0.45]


def prdc(seed: int) -> dict[str, list]:
    return {"precision": [None] + [0.5] * 6, "recall": [None if r is None else r + 0.01 * seed for r in RECALL],
            "density": [None] + [0.9] * 6, "coverage": [None] + [0.3 + 0.05 * seed] * 6,
            "lpips_spread": [None] + ["n/a"] * 6}  # a column this report does not know


@pytest.fixture
def seeded_runs(tmp_path) -> list[Path]:
    """dcgan-s0, idcgan-s0, dcgan-s1, ...: seeds interleaved, as a study's folder listing might give them."""
    return [write_run(tmp_path, f"{name}-s{seed}", FIDS[name][seed], SECONDS[name], generator=name.upper(),
                      seed=seed, kids=[None if f is None else f / 1000 for f in FIDS[name][seed]], extra=prdc(seed))
            for seed in range(3) for name in FIDS]


def test_runs_group_by_name_without_seed_suffix(seeded_runs):
    runs = load_runs(seeded_runs)
    groups = group_runs(runs)
    assert [g.label for g in groups] == ["dcgan", "idcgan"]  # first given first: dcgan is the baseline
    assert [g.seeds for g in groups] == [[0, 1, 2], [0, 1, 2]]
    assert [r.name for r in groups[1].runs] == ["idcgan-s0", "idcgan-s1", "idcgan-s2"]
    row = runs[0].row(3)
    assert row["recall"] == pytest.approx(0.35) and row["lpips_spread"] == "n/a"  # unknown columns kept
    assert row["g_loss"] == 1.2


def test_labels_group_runs_and_refuse_a_seed_twice(tmp_path):
    dirs = [write_run(tmp_path, name, [None, 60.0, 50.0], 60.0, generator="DCGAN", seed=seed)
            for name, seed in (("first", 0), ("second", 1), ("third", 0))]
    groups = group_runs(load_runs(dirs, ["A", "A", "B"]))
    assert [(g.label, g.seeds) for g in groups] == [("A", [0, 1]), ("B", [0])]
    assert [r.name for r in groups[0].runs] == ["A s0", "A s1"]
    with pytest.raises(IganError, match="both 'A s0'.*--labels"):
        load_runs(dirs, ["A", "A", "A"])


def test_table_mean_sd_and_intervals_over_seeds(seeded_runs):
    # as igan.metrics.callback writes it: the four values and the half size
    (seeded_runs[0] / "real_reference.json").write_text(
        '{"precision": 0.71, "recall": 0.69, "density": 0.98, "coverage": 0.93, "num_each": 128}')
    groups = group_runs(load_runs(seeded_runs))
    comparison = build_comparison(groups)
    dcgan, idcgan = comparison["groups"]
    best = dcgan["metrics"]["best_fid"]
    assert best["values"] == [50.0, 54.0, 52.0] and best["seeds"] == [0, 1, 2] and best["sd"] == pytest.approx(2.0)
    assert best["interval"]["method"] == "Student-t"
    assert (best["interval"]["low"], best["interval"]["high"]) == pytest.approx(
        (stats.t_interval([50.0, 54.0, 52.0]).low, stats.t_interval([50.0, 54.0, 52.0]).high))
    assert idcgan["metrics"]["final_recall"]["mean"] == pytest.approx(0.46)
    assert idcgan["metrics"]["final_coverage"]["sd"] == pytest.approx(0.05)
    # the target comes from dcgan's mean curve; every dcgan and idcgan seed reaches it, idcgan sooner
    assert dcgan["speed"]["reached"] == idcgan["speed"]["reached"] == 3
    assert idcgan["speed"]["restricted_epochs"]["mean"] < dcgan["speed"]["restricted_epochs"]["mean"]

    markdown = markdown_table(comparison, [r for g in groups for r in g.runs], [])
    header = markdown.splitlines()[0]
    assert "final precision | final recall | final coverage" in header and "density" not in header
    dcgan_line = next(line for line in markdown.splitlines() if line.startswith("| dcgan |"))
    assert (f"| 3 (0, 1, 2) | DCGANGenerator | 6 | 52.00 [{best['interval']['low']:.2f}, "
            f"{best['interval']['high']:.2f}] |") in dcgan_line
    assert "3 of 3 reach | 1 (baseline) |" in dcgan_line
    assert "n/a" not in markdown.split("\n\n")[0] and "nan" not in markdown and "inf" not in markdown
    assert ("Real vs real (two disjoint sets of real images, 128 against 128, from dcgan-s0): precision 0.710, "
            "recall 0.690, coverage 0.930, density 0.980.") in markdown
    assert comparison["real_reference"] == {"run": "dcgan-s0", "precision": 0.71, "recall": 0.69, "density": 0.98,
                                            "coverage": 0.93, "n": 128.0}


def test_one_seed_per_model_says_no_interval(seeded_runs):
    groups = group_runs(load_runs(seeded_runs[:2]))  # dcgan-s0 and idcgan-s0
    comparison = build_comparison(groups)
    markdown = markdown_table(comparison, [r for g in groups for r in g.runs], [])
    idcgan_line = next(line for line in markdown.splitlines() if line.startswith("| idcgan |"))
    assert "x (no test) |" in idcgan_line and "[" not in idcgan_line
    assert "±" not in markdown.split("\n\n")[0]  # no "± 0.00" standing in for an unknown spread


def test_band_curves_have_a_mean_a_band_and_faint_seeds(seeded_runs):
    groups = group_runs(load_runs(seeded_runs))
    panels, skipped = curve_panels(groups)
    assert [p.title for p in panels] == ["FID", "KID", "recall", "coverage"] and skipped == []
    fid = panels[0].curves[0]
    assert fid.mean.epochs == [1, 2, 3, 4, 5, 6] and fid.mean.values[3] == pytest.approx((54 + 62 + 60) / 3)
    assert (fid.low[3], fid.high[3]) == (54.0, 62.0) and len(fid.seeds) == 3
    assert fid.mean.minutes[3] == pytest.approx(4.0)

    figure = draw_curves(panels)
    axes = figure.axes
    assert len(axes) == 8  # four metrics, each against epoch and against time
    for ax in axes:
        assert len(ax.lines) == 2 * (3 + 1)  # per model: three faint seeds and the mean
        assert len(ax.collections) == 2  # per model: one min-max band
    epoch_fid = axes[0]
    means = [line for line in epoch_fid.lines if line.get_label().startswith("dcgan")]
    assert len(means) == 1 and np.allclose(means[0].get_ydata(), fid.mean.values)
    faint = [line for line in epoch_fid.lines if line.get_alpha() == pytest.approx(0.3)]
    assert len(faint) == 6
    band = epoch_fid.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(min(v for v in fid.low)) and band[:, 1].max() == 95.0  # dcgan-s1 at epoch 1


def test_compare_writes_band_curves_table_and_verdict(seeded_runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main([str(d) for d in seeded_runs] + ["--out", str(out), "--epochs", "0,6;0,3"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "table.md").read_text() and printed.startswith("| model | seeds |")
    assert printed.endswith((out / "verdict.md").read_text()) and "idcgan is faster at 3 seeds each" in printed
    assert (out / "curves.png").is_file() and (out / "montage.png").is_file() and (out / "comparison.json").is_file()


def test_montage_rows_keep_a_models_seeds_together(seeded_runs):
    given = load_runs(seeded_runs)
    groups = group_runs(given)
    assert [r.name for g in groups for r in g.runs][:3] == ["dcgan-s0", "dcgan-s1", "dcgan-s2"]
    # one epoch list per model applies to each of its seeds, in the order the runs were given
    assert resolve_epochs("0,6;0,3", given, groups) == [[0, 6], [0, 3]] * 3
    assert resolve_epochs("0,1", given, groups) == [[0, 1]] * 6
    with pytest.raises(IganError, match="one per model \\(2\\), or one per run"):
        resolve_epochs("0;1;2", given, groups)
