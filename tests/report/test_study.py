"""igan.report.study: trains configs one after the other under one budget, then compares them."""

from pathlib import Path

import pytest
from conftest import REPO, TEST_CHARS, requires_kai_font

from igan.report.study import PlannedRun, estimate_left, main
from igan.training.history import read_history


def test_time_left_uses_each_runs_own_pace_and_the_mean_for_later_runs():
    a, b, c = (PlannedRun(Path(f"{n}.yaml"), n, epochs=10) for n in "abc")
    assert estimate_left([a, b, c], a) is None  # nothing measured yet
    a.done, a.pace = 10, 60.0
    b.done, b.pace = 4, 120.0
    # b: 6 epochs left at its own 120 s; c: 10 epochs at the mean pace (60 + 120) / 2 = 90 s.
    assert estimate_left([a, b, c], b) == pytest.approx(6 * 120 + 10 * 90)


def test_settings_the_study_owns_are_refused(tmp_path, capsys):
    assert main(["--configs", str(REPO / "configs" / "calligraphy_dcgan.yaml"), "--epochs", "1",
                 "--out", str(tmp_path), "--trainer.max_epochs=3"]) == 2
    assert "error: --trainer.max_epochs is set by the study itself" in capsys.readouterr().err
    assert main(["--configs", str(tmp_path / "missing.yaml"), "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert "error: config not found" in capsys.readouterr().err


@requires_kai_font
def test_study_trains_each_config_and_writes_the_comparison(tmp_path, capsys):
    tiny = ["--model.generator.init_args.width=16", "--model.discriminator.init_args.width=16",
            "--data.batch_size=8", "--trainer.limit_train_batches=2", "--data.image_size=32",
            f"--data.chars={TEST_CHARS}", f"--data.root={tmp_path / 'data'}", "--metrics.every_n_epochs=0",
            "--samples.num=16", "--trainer.enable_model_summary=false"]
    configs = [str(REPO / "configs" / c) for c in ("calligraphy_dcgan.yaml", "calligraphy_idcgan.yaml")]
    assert main(["--configs", *configs, "--epochs", "2", "--out", str(tmp_path / "study"), *tiny]) == 0
    out = capsys.readouterr().out
    assert "[2/2 calligraphy_idcgan-s0] epoch 2/2" in out and "Study finished" in out
    for name in ("calligraphy_dcgan-s0", "calligraphy_idcgan-s0"):
        rows = read_history(tmp_path / "study" / "runs" / name / "metrics.csv")
        assert [r["epoch"] for r in rows] == ["0", "1", "2"]
        assert (tmp_path / "study" / "samples" / name / "epoch_002.png").is_file()
    compare = tmp_path / "study" / "compare"
    assert (compare / "montage.png").is_file() and (compare / "table.md").is_file()
    assert "calligraphy_idcgan-s0" in (compare / "table.md").read_text()
