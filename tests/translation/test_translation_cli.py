"""Each translate config trains a few steps end to end through the translation CLI; bad input is one error line."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TEST_CHARS, requires_kai_font

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "metrics"))
from metrics_toys import toy_extractor

from igan.translation import metrics as metrics_module
from igan.translation.cli import is_translation_config, main

CONFIGS = sorted(p.name for p in (REPO / "configs" / "translate").glob("*.yaml"))
STYLES = '["AR PL UKai CN", "LXGW WenKai"]'
TINY = ["--model.width_g=8", "--model.width_d=8", "--model.style_dim=8", "--data.image_size=32",
        "--model.block_resolutions=[8]", f"--data.chars={TEST_CHARS}", f"--data.styles={STYLES}",
        "--data.batch_size=4", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--samples.num_chars=4", "--metrics.num_chars=3", "--metrics.batch_size=4", "--run_name=run"]


@pytest.fixture
def toy_inception(monkeypatch):
    monkeypatch.setattr(metrics_module, "load_inception", lambda weights=None, chunk_size=50: toy_extractor(chunk_size=4))


def test_the_three_configs_differ_only_in_the_block():
    assert CONFIGS == ["calligraphy_attention.yaml", "calligraphy_conv.yaml", "calligraphy_involution.yaml"]
    configs = {name: yaml.safe_load((REPO / "configs" / "translate" / name).read_text()) for name in CONFIGS}
    for name, config in configs.items():
        assert config["task"] == "translation" and is_translation_config(REPO / "configs" / "translate" / name)
        assert config["model"]["block"] == name.removeprefix("calligraphy_").removesuffix(".yaml")
    # Apart from the block (and the run's name), every setting is the same.
    rest = [{**c, "model": {k: v for k, v in c["model"].items() if k != "block"}, "run_name": None}
            for c in configs.values()]
    assert rest[0] == rest[1] == rest[2]
    assert not is_translation_config(REPO / "configs" / "calligraphy_idcgan.yaml")


@requires_kai_font
@pytest.mark.parametrize("config", CONFIGS)
def test_a_few_training_steps_end_to_end(config, tmp_path, calligraphy_root, toy_inception):
    rc = main(["--config", str(REPO / "configs" / "translate" / config), *TINY, f"--data.root={calligraphy_root}",
               f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 0
    run = tmp_path / "runs" / "run"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for column in ("l1", "ssim", "fid", "kid", "l1_lxgw-wenkai", "ssim_ar-pl-ukai-cn", "fid_lxgw-wenkai"):
        assert all(float(r[column]) >= 0 for r in rows), column
    assert float(rows[1]["g_loss"]) > 0 and rows[1]["d_updates"] == "2"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    from PIL import Image

    grid = Image.open(tmp_path / "samples" / "run" / "epoch_001.png")
    assert grid.size == (4 * 34 + 2, 5 * 34 + 2)  # 4 characters; source + 2 styles x (translated, truth)


@requires_kai_font
def test_resume_continues_the_run(tmp_path, calligraphy_root, toy_inception):
    args = ["--config", str(REPO / "configs" / "translate" / "calligraphy_conv.yaml"), *TINY,
            f"--data.root={calligraphy_root}", f"--trainer.default_root_dir={tmp_path / 'runs'}",
            f"--samples_root={tmp_path / 'samples'}", "--metrics.every_n_epochs=0"]
    assert main(args) == 0
    assert main(args) == 2  # the run folder holds a run: neither overwritten nor mixed
    assert main([*args, "--trainer.max_epochs=2", "--ckpt_path=last"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "runs" / "run" / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"] and rows[2]["global_step"] == "4"
    assert main([*args, "--ckpt_path=last", "--model.block=attention"]) == 2  # another architecture


@requires_kai_font
def test_an_unknown_style_is_one_error_line(tmp_path, capsys):
    rc = main(["--config", str(REPO / "configs" / "translate" / "calligraphy_conv.yaml"), *TINY,
               "--data.styles=[No Such Kai]", f"--data.root={tmp_path / 'data'}",
               f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "No Such Kai" in lines[0] and "Traceback" not in err
