"""Shared fixtures: a tiny CIFAR-10 in the real pickle format, font availability, offline W&B."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ["WANDB_MODE"] = "offline"  # tests never talk to W&B servers
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("IGAN_INVOLUTION_BACKEND", "eager")  # compiled kernels are tested in tests/ops

REPO = Path(__file__).resolve().parent.parent
#: 64 common characters: enough glyphs for a few batches at any font coverage.
TEST_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你对生能而子那得于着下自之年过发后作里"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_tiny_cifar10(root: Path, per_batch: int = 20, seed: int = 0) -> Path:
    """data_batch_1..5, test_batch and batches.meta as torchvision expects them (pickled dicts)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "batch_label": f"{name} of tiny CIFAR-10",
            "data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, size=per_batch).tolist(),
            "filenames": [f"img_{i}.png" for i in range(per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": per_batch, "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder


@pytest.fixture
def tiny_cifar10(tmp_path, monkeypatch) -> Path:
    """A tiny CIFAR-10 under ``tmp_path/cifar``; torchvision's integrity check is pointed at its md5s."""
    from torchvision.datasets import CIFAR10

    root = tmp_path / "cifar"
    folder = write_tiny_cifar10(root)
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", _md5(folder / f"data_batch_{i}")] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", dict(CIFAR10.meta, md5=_md5(folder / "batches.meta")))
    return root


def kai_fonts_installed() -> bool:
    from igan.data.calligraphy import DEFAULT_FONTS, installed_faces

    families = {f.family.lower() for f in installed_faces()}
    return any(name.lower() in families for name in DEFAULT_FONTS)


requires_kai_font = pytest.mark.skipif(
    not kai_fonts_installed(),
    reason="no CJK Kai font installed (apt-get install fonts-arphic-ukai fonts-cwtex-kai fonts-lxgw-wenkai)",
)


@pytest.fixture(scope="session")
def calligraphy_root(tmp_path_factory) -> Path:
    """A data root shared by the tests that train on calligraphy: TEST_CHARS render once."""
    if not kai_fonts_installed():
        pytest.skip("no CJK Kai font installed")
    return tmp_path_factory.mktemp("calligraphy-data")


def pytest_configure(config):
    # Tests that need a GPU skip without one (CI); on a GPU machine `pytest -m cuda` runs just them.
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped where none exists")
    # The tests call LightningCLI in-process with explicit args, as intended; pytest's own argv is not for it.
    config.addinivalue_line("filterwarnings", "ignore:LightningCLI's args parameter:UserWarning")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


class RecordingLogger:
    """Built on first use (Lightning imported lazily): a Lightning logger that keeps every
    (step, metrics) pair written to it, for tests of what reaches the loggers."""

    _class = None

    def __new__(cls):
        if cls._class is None:
            from lightning.pytorch.loggers import Logger

            class _Recording(Logger):
                name, version = "recording", 0

                def __init__(self) -> None:
                    super().__init__()
                    self.rows: list[tuple[int, dict]] = []

                @property
                def experiment(self):
                    return None

                def log_hyperparams(self, *args, **kwargs) -> None:
                    pass

                def log_metrics(self, metrics, step=None) -> None:
                    self.rows.append((step, dict(metrics)))

            cls._class = _Recording
        return cls._class()
