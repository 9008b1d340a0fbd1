"""Checkpoints of real few-batch trainings for the page's tests, trained once per test process:
a DCGAN and an IDCGAN on a tiny CIFAR-10 (Generate, Interpolate; Kernels) and a translation run
on two Kai fonts (Translate)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from conftest import _md5, write_tiny_cifar10
from translation.tiny_run import SIZE as TRANSLATION_SIZE
from translation.tiny_run import train_tiny
from training.test_failures import cli_args

ROOT = Path(tempfile.mkdtemp(prefix="igan-app-tests-"))
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)


@functools.cache
def tiny_cifar() -> Path:
    write_tiny_cifar10(ROOT / "cifar")
    return ROOT / "cifar"


@functools.cache
def gan_checkpoint(config: str = "cifar10_dcgan.yaml") -> Path:
    """``last.ckpt`` of a 2-batch training of ``config`` at width 8."""
    from torchvision.datasets import CIFAR10

    from igan.training.cli import main as train

    out, data = ROOT / config.removesuffix(".yaml"), tiny_cifar()
    folder = data / "cifar-10-batches-py"
    saved = CIFAR10.train_list, CIFAR10.test_list, CIFAR10.meta  # torchvision's md5 check, pointed at the tiny files
    CIFAR10.train_list = [[f"data_batch_{i}", _md5(folder / f"data_batch_{i}")] for i in range(1, 6)]
    CIFAR10.test_list = [["test_batch", _md5(folder / "test_batch")]]
    CIFAR10.meta = dict(CIFAR10.meta, md5=_md5(folder / "batches.meta"))
    try:
        assert train(cli_args(out, data, "--trainer.logger=false", config=config)) == 0
    finally:
        CIFAR10.train_list, CIFAR10.test_list, CIFAR10.meta = saved
    (ckpt,) = (out / "runs").glob("*/checkpoints/last.ckpt")
    return ckpt


@functools.cache
def translation_checkpoint() -> Path:
    """``last.ckpt`` of the font tests' tiny translation training (conv blocks, 32 px, two styles)."""
    return train_tiny(ROOT / "translation", ROOT / "glyphs")
