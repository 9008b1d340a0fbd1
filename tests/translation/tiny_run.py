"""A real translation checkpoint for the tests: a few batches of the shipped conv config, tiny.

Trained once per test session (per xdist worker) into the session's temporary folder; every test
module of tests/font asks :func:`tiny_checkpoint` for the same file (tests/app and tests/translation
train it with :func:`train_tiny` into their own folders).
"""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, TEST_CHARS

STYLES = ["AR PL UKai CN", "LXGW WenKai"]
SIZE = 32
TINY = ["--model.width_g=8", "--model.width_d=8", "--model.style_dim=8", f"--data.image_size={SIZE}",
        "--model.block_resolutions=[8]", f"--data.chars={TEST_CHARS}", f'--data.styles=["{STYLES[0]}", "{STYLES[1]}"]',
        "--data.batch_size=8", "--trainer.max_epochs=1", "--trainer.limit_train_batches=4",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.logger=false",
        "--samples.num_chars=4", "--metrics.num_chars=3", "--metrics.batch_size=4", "--metrics.fid=false",
        "--run_name=run"]


def train_tiny(folder: Path, data_root: Path) -> Path:
    """``<folder>/runs/run/checkpoints/last.ckpt`` of the tiny training, trained there on first use."""
    from igan.translation.cli import main as train

    ckpt = folder / "runs" / "run" / "checkpoints" / "last.ckpt"
    if not ckpt.exists():
        assert train(["--config", str(REPO / "configs" / "translate" / "calligraphy_conv.yaml"), *TINY,
                      f"--data.root={data_root}", f"--trainer.default_root_dir={folder / 'runs'}",
                      f"--samples_root={folder / 'samples'}"]) == 0
    return ckpt


def tiny_checkpoint(tmp_path_factory, data_root: Path) -> Path:
    """The tiny training's ``last.ckpt`` in the session's temporary folder, trained on first use."""
    return train_tiny(tmp_path_factory.getbasetemp() / "font-translation", data_root)
