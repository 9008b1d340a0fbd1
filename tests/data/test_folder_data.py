"""ImageFolder-style datasets of real images: resize, channels, and files that are not images."""

import warnings

import numpy as np
import pytest
from PIL import Image

from igan.data import GANDataModule
from igan.errors import IganError


def _write_images(root, n=6):
    rng = np.random.default_rng(0)
    for style in ("kai", "xing"):
        (root / style).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(root / style / f"{i}.png")


def test_corrupt_and_non_image_files_are_skipped_with_one_warning(tmp_path):
    _write_images(tmp_path)
    (tmp_path / "kai" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "xing" / "notes.txt").write_text("scanned at 600 dpi")
    good = (tmp_path / "kai" / "0.png").read_bytes()
    (tmp_path / "kai" / "truncated.png").write_bytes(good[: len(good) // 2])
    dm = GANDataModule(name="folder", root=str(tmp_path), image_size=32, channels=1, batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup("fit")
    messages = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("skipped 3 unreadable")
    assert "broken.png" in messages[0]
    assert len(dm.dataset) == 12
    batches = list(dm.train_dataloader())  # a whole epoch, no crash
    assert len(batches) == 3 and batches[0].shape == (4, 1, 32, 32)


def test_missing_folder_is_a_clear_error(tmp_path):
    dm = GANDataModule(name="folder", root=str(tmp_path / "nope"))
    with pytest.raises(IganError, match="image folder not found"):
        dm.setup("fit")
