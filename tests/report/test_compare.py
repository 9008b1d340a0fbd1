"""igan.report.compare on fake single-seed run directories (tests/report/fake_runs.py), no training.

Each run's grids are one constant grey level per (run, epoch), so a montage cell shows which grid
it came from; the FID columns are built so that using the last row, or the wrong run, as the
baseline gives a different "reaches" answer.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from fake_runs import write_run
from PIL import Image

from igan.report.compare import CompareWarning, compare_runs, main, parse_epochs
from igan.report.figures import grid_geometry, mean_saturation

REPO = Path(__file__).resolve().parents[2]

# Baseline dcgan: best FID 50 at epoch 3 but a worse last row (75). idcgan first gets <= 50 at
# epoch 2 (exactly 50; with the baseline's last row, 75, it would be epoch 1) and is best at 3.
FIDS = {
    "dcgan": [None, 80.0, 60.0, 50.0, 75.0],
    "idcgan": [None, 70.0, 50.0, 45.0, 58.0],
    "sagan": [None, 90.0, 85.0, 80.0],  # trained one epoch less: epoch 4 is n/a
}
SECONDS_PER_EPOCH = {"dcgan": 60.0, "idcgan": 90.0, "sagan": 120.0}


def grey_level(run_index: int, epoch: int) -> int:
    return 30 + 50 * run_index + 10 * epoch


@pytest.fixture
def gray_runs(tmp_path) -> list[Path]:
    return [write_run(tmp_path, name, FIDS[name], SECONDS_PER_EPOCH[name],
                      [grey_level(i, e) for e in range(len(FIDS[name]))],
                      kids=[None if f is None else f / 1000 for f in FIDS[name]])
            for i, name in enumerate(FIDS)]


def cell_median(montage: Path, box) -> np.ndarray:
    """Median colour of a cell: the grid's level (its black padding is a small minority)."""
    with Image.open(montage) as image:
        return np.median(np.asarray(image.convert("RGB").crop(box)).reshape(-1, 3), axis=0)


def test_grayscale_comparison_writes_files_and_table(gray_runs, tmp_path):
    out = tmp_path / "cmp"
    result = compare_runs(gray_runs, out)
    assert {p.name for p in out.iterdir()} == {"montage.png", "curves.png", "comparison.json", "table.md",
                                               "verdict.md"}
    assert result["epochs"] == [[0, 1, 2, 3]] * 3  # the epochs every run evaluated
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison == result["comparison"] and comparison["baseline"] == "dcgan"
    dcgan, idcgan, sagan = (g["runs"][0] for g in comparison["groups"])

    assert (dcgan["metrics"]["best_fid"], dcgan["metrics"]["best_fid_epoch"]) == (50.0, 3)
    assert dcgan["metrics"]["final_fid"] == 75.0 and dcgan["last_epoch"] == 4
    # the horizon is the shortest budget (sagan's 3 epochs); the target comes 90% of the way down dcgan's
    # curve in log FID, from 80 (epoch 1) to 50 (epoch 3)
    target = math.exp(math.log(50) + 0.1 * math.log(80 / 50))
    assert comparison["horizon"]["epochs"] == 3 and result["target"] == pytest.approx(target)
    # crossings interpolated on log FID: dcgan between 60 (epoch 2) and 50 (epoch 3), idcgan between 70 and 50
    assert dcgan["crossing"]["epoch"] == pytest.approx(2 + math.log(60 / target) / math.log(60 / 50))
    assert dcgan["crossing"]["minutes"] == pytest.approx(dcgan["crossing"]["epoch"])  # one minute per epoch
    assert idcgan["crossing"]["epoch"] == pytest.approx(1 + math.log(70 / target) / math.log(70 / 50))
    assert sagan["crossing"] == {"epoch": None, "minutes": None, "censored": True, "censored_minutes": True}
    assert sagan["restricted_epochs"] == 3
    assert idcgan["metrics"]["best_kid"] == pytest.approx(0.045) and comparison["groups"][1]["model"] == "IDCGANGenerator"
    assert idcgan["metrics"]["final_diversity"] == pytest.approx(0.5)
    speed = comparison["challengers"][0]["speedup_epochs"]
    assert speed["estimate"] == pytest.approx(dcgan["crossing"]["epoch"] / idcgan["crossing"]["epoch"])
    assert speed["welch_p"] is None and not speed["distinguishable"]  # one seed each: no test

    table = (out / "table.md").read_text()
    assert table == result["markdown"] and table.endswith(result["verdict"])
    assert (out / "verdict.md").read_text() == result["verdict"]
    assert "saturation" not in table.split("\n")[0]  # grayscale data: no saturation column
    assert "precision" not in table.split("\n")[0]  # these runs have no PRDC columns
    # 1000 samples = one KID subset, the whole set: its std (0.001 in the CSV) means nothing and is not shown
    assert "| idcgan | 1 (0) | IDCGANGenerator | 4 | 45.00 | 58.00 | 45.00 | 0.500 | 1.9 | " in table
    assert "| sagan |" in table and "| none of 1 within 3 | ≤ " in table
    assert "Baseline: dcgan" in table and "1000 for every run" in table
    assert "±" not in table.split("\n\n")[0] and "nan" not in table and "inf" not in table


def test_kid_std_shown_only_from_several_subsets(tmp_path):
    kids = [None, 0.05, 0.04]
    several = write_run(tmp_path, "big", [None, 60.0, 50.0], 60.0, kids=kids, num_samples=5000)
    one = write_run(tmp_path, "small", [None, 60.0, 50.0], 60.0, kids=kids, num_samples=1000)
    markdown = compare_runs([several, one], tmp_path / "cmp")["markdown"]
    assert "| big | 1 (0) | BIGGenerator | 2 | 50.00 | 50.00 | 40.00 ± 1.00 |" in markdown
    assert "| small | 1 (0) | SMALLGenerator | 2 | 50.00 | 50.00 | 40.00 |" in markdown


def test_montage_cells_come_from_the_right_grid(gray_runs, tmp_path):
    result = compare_runs(gray_runs, tmp_path / "cmp", epochs=[0, 2, 4])
    boxes = result["montage_layout"].boxes
    montage = result["montage"]
    for run in range(3):
        for col, epoch in enumerate([0, 2, 4]):
            if run == 2 and epoch == 4:
                continue
            assert cell_median(montage, boxes[(run, col)]) == pytest.approx([grey_level(run, epoch)] * 3, abs=1)
    assert cell_median(montage, boxes[(2, 2)]).tolist() == [255, 255, 255]  # sagan never reached epoch 4: n/a
    assert result["montage_layout"].cell_size == (274, 274)  # 8 x (32 + 2) + 2: native size


def test_montage_grows_with_runs_and_epochs(gray_runs, tmp_path):
    def size(runs, epochs):
        return compare_runs(runs, tmp_path / f"m{len(runs)}{len(epochs)}", epochs=epochs)["montage_layout"].size

    small, more_runs, more_epochs = size(gray_runs[:2], [0, 1]), size(gray_runs, [0, 1]), size(gray_runs[:2], [0, 1, 2])
    assert more_runs[0] == small[0] and more_runs[1] >= small[1] + 274
    assert more_epochs[1] == small[1] and more_epochs[0] >= small[0] + 274


def test_cell_size_and_cropping(gray_runs, tmp_path):
    scaled = compare_runs(gray_runs[:1], tmp_path / "a", epochs=[1], cell_size=100)
    assert scaled["montage_layout"].cell_size == (100, 100)
    assert cell_median(scaled["montage"], scaled["montage_layout"].boxes[(0, 0)]) == pytest.approx([grey_level(0, 1)] * 3, abs=2)
    cropped = compare_runs(gray_runs[:1], tmp_path / "b", epochs=[1], cell_images=2)
    assert cropped["montage_layout"].cell_size == (2 + 2 * 34, 2 + 2 * 34)


def test_per_run_epochs(gray_runs, tmp_path):
    assert parse_epochs("0,3,6;0,10,20", 2) == [[0, 3, 6], [0, 10, 20]]
    assert parse_epochs("0, 5", 3) == [[0, 5]] * 3
    result = compare_runs(gray_runs[:2], tmp_path / "cmp", epochs="0,1;0,2,4")
    assert result["epochs"] == [[0, 1], [0, 2, 4]]
    boxes = result["montage_layout"].boxes
    assert (0, 2) not in boxes  # the shorter row stays blank there
    assert cell_median(result["montage"], boxes[(0, 1)]) == pytest.approx([grey_level(0, 1)] * 3, abs=1)
    assert cell_median(result["montage"], boxes[(1, 2)]) == pytest.approx([grey_level(1, 4)] * 3, abs=1)


def test_missing_grid_is_na_with_one_warning(gray_runs, tmp_path, capsys):
    (tmp_path / "samples" / "idcgan" / "epoch_002.png").unlink()
    with pytest.warns(CompareWarning, match="epoch_002.png") as caught:
        result = compare_runs(gray_runs, tmp_path / "cmp", epochs=[0, 2])
    assert len(caught) == 1
    assert cell_median(result["montage"], result["montage_layout"].boxes[(1, 1)]).tolist() == [255, 255, 255]

    assert main([str(d) for d in gray_runs] + ["--out", str(tmp_path / "cli"), "--epochs", "0,2"]) == 0
    err = capsys.readouterr().err
    assert sum(line.startswith("warning:") for line in err.splitlines()) == 1


def test_rgb_saturation_ignores_padding(tmp_path):
    red = write_run(tmp_path, "red", [None, 40.0], 60.0, [(128, 128, 128), (255, 0, 0)], channels=3)
    grey = write_run(tmp_path, "grey", [None, 30.0], 60.0, [(255, 0, 0), (100, 100, 100)], channels=3)
    result = compare_runs([red, grey], tmp_path / "cmp", labels=["R", "G"])
    groups = result["comparison"]["groups"]
    assert [group["saturation"]["mean"] for group in groups] == [pytest.approx(1.0), pytest.approx(0.0)]
    assert [group["label"] for group in groups] == ["R", "G"]
    assert "saturation (last grid)" in result["markdown"].split("\n")[0]
    # with the padding counted, pure red would average well below 1
    with Image.open(tmp_path / "samples" / "red" / "epoch_001.png") as grid:
        assert mean_saturation(grid) < 0.9
        assert mean_saturation(grid, grid_geometry(*grid.size)) == pytest.approx(1.0)


def test_skips_metrics_no_run_has(tmp_path):
    runs = [write_run(tmp_path, name, [None] * 3, 60.0, [10, 20, 30], num_samples=None) for name in ("a", "b")]
    result = compare_runs(runs, tmp_path / "cmp")
    assert result["skipped"] == ["FID", "KID"] and result["curves"].is_file()  # diversity instead
    assert "no run has FID values" in result["markdown"] and "unknown" in result["markdown"]
    assert "best_fid" not in result["comparison"]["groups"][0]["metrics"] and result["target"] is None
    assert "No speed comparison: no run has FID values." in result["markdown"]


def test_logs_to_active_wandb_run(gray_runs, tmp_path, monkeypatch):
    logged = {}
    fake = types.SimpleNamespace(
        run=types.SimpleNamespace(log=logged.update),
        Image=lambda path: ("image", path),
        Table=lambda columns, data: ("table", columns, data),
    )
    monkeypatch.setitem(sys.modules, "wandb", fake)
    result = compare_runs(gray_runs, tmp_path / "cmp")
    assert result["wandb"] and set(logged) == {"compare/montage", "compare/curves", "compare/table"}
    assert logged["compare/table"][1][0] == "model" and len(logged["compare/table"][2]) == 3
    fake.run = None
    assert not compare_runs(gray_runs, tmp_path / "cmp2")["wandb"]


def bad_inputs(tmp_path: Path, good: Path) -> dict[str, list[str]]:
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metrics.csv").write_text("epoch,train_seconds,kid\n0,0,\n")
    out = ["--out", str(tmp_path / "out")]
    return {
        "no such dir": [str(tmp_path / "nope")] + out,
        "no metrics.csv": [str(tmp_path / "empty")] + out,
        "missing columns": [str(broken)] + out,
        "epochs not integers": [str(good), "--epochs", "0,x"] + out,
        "too many epoch lists": [str(good), "--epochs", "0;1"] + out,
        "labels mismatch": [str(good), "--labels", "a,b"] + out,
        "no out": [str(good)],
    }


def test_bad_input_is_one_error_line_and_exit_2(gray_runs, tmp_path, capsys):
    for case, argv in bad_inputs(tmp_path, gray_runs[0]).items():
        assert main(argv) == 2, case
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), (case, err)
        assert "Traceback" not in err[0]


def test_python_dash_m(gray_runs, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "igan", "compare", str(gray_runs[0]), str(gray_runs[1]),
                         "--out", str(tmp_path / "cmp"), "--epochs", "0,1;0,2"],
                        cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("| model | seeds |") and (tmp_path / "cmp" / "montage.png").is_file()
    bad = subprocess.run([sys.executable, "-m", "igan", "compare", str(tmp_path / "nope"), "--out", str(tmp_path / "x")],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
