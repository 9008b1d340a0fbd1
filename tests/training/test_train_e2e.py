"""End to end on CPU: train_gan.py on each shipped config, grids, W&B files, sample.py, bad input.

Runs the real LightningCLI, Trainer, WandbLogger (offline) and torchvision loaders in-process,
with tiny widths and a couple of batches per epoch so the suite stays fast.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, TEST_CHARS, requires_kai_font
from PIL import Image

from igan.training.cli import main

TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--data.batch_size=8",
        "--data.num_workers=0", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--metrics.every_n_epochs=0"]


def train(tmp_path, config, *extra):
    args = ["--config", str(REPO / "configs" / config), *TINY,
            f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}", *extra]
    return main(args)


def wandb_images(tmp_path):
    return sorted((tmp_path / "runs" / "wandb").glob("offline-run-*/files/media/images/samples_*.png"))


def check_grids(folder: Path, epochs: int, size: int, channels: int, num: int = 64):
    pad, side = 2, 8  # make_grid: 8 x 8 for 64 samples, 2-pixel padding
    for epoch in range(epochs + 1):
        grid = Image.open(folder / f"epoch_{epoch:03d}.png")
        assert grid.mode == ("L" if channels == 1 else "RGB")
        assert grid.size == (side * (size + pad) + pad,) * 2


@pytest.fixture(scope="module")
def calligraphy_run(tmp_path_factory):
    if not __import__("conftest").kai_fonts_installed():
        pytest.skip("no CJK Kai font installed")
    tmp = tmp_path_factory.mktemp("calligraphy")
    rc = train(tmp, "published/calligraphy_dcgan.yaml", f"--data.root={tmp / 'data'}", f"--data.chars={TEST_CHARS}")
    assert rc == 0
    return tmp


@requires_kai_font
def test_calligraphy_run_leaves_grids_checkpoint_and_wandb_run(calligraphy_run):
    run = "calligraphy-dcgan-s0"
    check_grids(calligraphy_run / "samples" / run, epochs=1, size=64, channels=1)
    assert (calligraphy_run / "runs" / run / "checkpoints" / "last.ckpt").is_file()
    assert "igan.models.DCGANGenerator" in (calligraphy_run / "runs" / run / "config.yaml").read_text()
    assert len(wandb_images(calligraphy_run)) == 2  # epoch 0 and epoch 1
    assert len(list((calligraphy_run / "data" / "calligraphy").glob("64px-*/manifest.json"))) == 1


@requires_kai_font
def test_sample_cli_is_deterministic_and_loads_weights_only(calligraphy_run, tmp_path):
    ckpt = calligraphy_run / "runs" / "calligraphy-dcgan-s0" / "checkpoints" / "last.ckpt"
    torch.load(ckpt, weights_only=True)  # no pickled code needed

    def sample(out, seed=0, num=16):
        cmd = [sys.executable, str(REPO / "sample.py"), "--ckpt", str(ckpt), "--num", str(num), "--seed", str(seed), "--out", str(out)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)

    assert sample(tmp_path / "a.png").returncode == 0
    assert sample(tmp_path / "b.png").returncode == 0
    assert sample(tmp_path / "c.png", seed=1).returncode == 0
    a, b, c = ((tmp_path / f"{n}.png").read_bytes() for n in "abc")
    assert a == b and a != c
    assert Image.open(tmp_path / "a.png").size == (4 * 66 + 2,) * 2
    result = sample(tmp_path / "each", num=3)
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "each").glob("*.png"))
    assert [f.name for f in files] == ["00000.png", "00001.png", "00002.png"]
    assert Image.open(files[0]).size == (64, 64) and Image.open(files[0]).mode == "L"


def test_cifar10_run(tiny_cifar10, tmp_path, capsys):
    assert train(tmp_path, "cifar10_dcgan.yaml", f"--data.root={tiny_cifar10}") == 0
    assert f"checkpoint:   {tmp_path / 'runs' / 'cifar10-dcgan-s0' / 'checkpoints' / 'last.ckpt'}" in capsys.readouterr().out
    check_grids(tmp_path / "samples" / "cifar10-dcgan-s0", epochs=1, size=32, channels=3)
    assert len(wandb_images(tmp_path)) == 2
    # The model summary is part of the run's config (stored as plain strings in the run file).
    (run_file,) = (tmp_path / "runs" / "wandb").glob("offline-run-*/run-*.wandb")
    data = run_file.read_bytes()
    assert b"model_summary" in data and b"flops_G_per_image" in data and b"params_D" in data


def test_summary_names_the_checkpoint_or_says_none_was_written(tiny_cifar10, tmp_path, capsys):
    assert train(tmp_path, "cifar10_dcgan.yaml", f"--data.root={tiny_cifar10}", "--trainer.max_epochs=0") == 0
    out = capsys.readouterr().out
    assert "checkpoint:   none written\n" in out
    assert not list((tmp_path / "runs").glob("*/checkpoints/*.ckpt"))


def test_unknown_config_key_is_rejected_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        train(tmp_path, "cifar10_dcgan.yaml", "--model.learning_rate=0.1")
    assert info.value.code != 0
    assert "learning_rate" in capsys.readouterr().err
    assert not (tmp_path / "samples").exists()


def test_bad_input_is_one_message_and_exit_2(tmp_path):
    cmd = [sys.executable, str(REPO / "train_gan.py"), "--config", str(REPO / "configs" / "published" / "calligraphy_dcgan.yaml"),
           *TINY, f"--data.root={tmp_path}", "--data.fonts=[No Such Kai Font]",
           f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**__import__("os").environ, "WANDB_MODE": "disabled"})
    assert result.returncode == 2
    assert "error: CJK Kai font 'No Such Kai Font' is not installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_sample_cli_rejects_a_non_checkpoint(tmp_path):
    bogus = tmp_path / "x.ckpt"
    bogus.write_text("not a checkpoint")
    result = subprocess.run([sys.executable, str(REPO / "sample.py"), "--ckpt", str(bogus)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and "not a PyTorch checkpoint" in result.stderr and "Traceback" not in result.stderr
