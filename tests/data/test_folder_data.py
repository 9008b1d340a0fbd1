"""Folders of real images: resize, channels, image modes, and files or sub-folders that are not images."""

import collections
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from igan.data import GANDataModule
from igan.data.datamodule import image_transform
from igan.errors import IganError


def _write_images(root, n=6, styles=("kai", "xing"), size=(70, 50)):
    rng = np.random.default_rng(0)
    for style in styles:
        (root / style).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(root / style / f"{i}.png")


def _setup(root, image_size=32, channels=1, batch_size=4):
    """Build the dataset, returning it and the messages of every warning raised on the way."""
    dm = GANDataModule(name="folder", root=str(root), image_size=image_size, channels=channels, batch_size=batch_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.prepare_data()
        dm.setup("fit")
    return dm, [str(w.message) for w in caught]


def test_corrupt_and_non_image_files_are_skipped_with_one_warning(tmp_path):
    _write_images(tmp_path)
    (tmp_path / "kai" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "xing" / "notes.txt").write_text("scanned at 600 dpi")
    good = (tmp_path / "kai" / "0.png").read_bytes()
    (tmp_path / "kai" / "truncated.png").write_bytes(good[: len(good) // 2])
    dm, caught = _setup(tmp_path)
    messages = [m for m in caught if "skipped" in m]
    assert len(messages) == 1 and messages[0].startswith("skipped 3 unreadable")
    assert "broken.png" in messages[0]
    assert len(dm.dataset) == 12
    batches = list(dm.train_dataloader())  # a whole epoch, no crash
    assert len(batches) == 3 and batches[0].shape == (4, 1, 32, 32)


def test_empty_and_unreadable_style_folders_are_skipped_with_one_warning(tmp_path):
    _write_images(tmp_path, n=4, styles=("kai",))
    (tmp_path / "empty").mkdir()
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "scans" / "b.txt").write_text("no image")
    dm, caught = _setup(tmp_path)
    styles = [m for m in caught if "style folder" in m]
    assert styles == [f"ignoring 2 style folder(s) in {tmp_path} with no readable image: "
                      "empty/ (empty), scans/ (2 unreadable file(s))"]
    assert len(dm.dataset) == 4


def test_a_folder_without_any_readable_image_says_what_it_holds(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(IganError, match=f"^no readable images in {root}: it holds no files"):
        _setup(root)
    (root / "kai").mkdir()
    with pytest.raises(IganError, match=f"^no readable images in {root}: its sub-folders hold no files"):
        _setup(root)
    (root / "kai" / "a.png").write_bytes(b"not a png")
    (root / "notes.txt").write_text("scanned at 600 dpi")
    with pytest.raises(IganError) as info:
        _setup(root)
    assert str(info.value).startswith(
        f"no readable images in {root}: none of its 2 file(s) could be read as an image: notes.txt, kai/a.png")


def test_missing_folder_is_a_clear_error(tmp_path):
    dm = GANDataModule(name="folder", root=str(tmp_path / "nope"))
    with pytest.raises(IganError, match="image folder not found"):
        dm.setup("fit")


def test_a_file_as_root_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(IganError, match=f"data.root {tmp_path / 'afile'} is a file, not a folder"):
        _setup(tmp_path / "afile")


def test_images_directly_in_the_root_are_used(tmp_path):
    Image.new("L", (32, 32), 0).save(tmp_path / "a.png")
    Image.new("L", (32, 32), 255).save(tmp_path / "b.png")
    dm, _ = _setup(tmp_path, batch_size=2)
    assert [x.mean().item() for x in dm.dataset] == [-1.0, 1.0]


def test_each_image_is_decoded_once_from_start_up_through_an_epoch(tmp_path, monkeypatch):
    _write_images(tmp_path, n=3)
    decodes = collections.Counter()
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        if self.tile:  # pixels not read yet: this call decodes
            decodes[self.filename] += 1
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    dm, _ = _setup(tmp_path, batch_size=2)  # prepare_data and setup, as Trainer.fit calls them
    assert len(decodes) == 6 and set(decodes.values()) == {1}
    list(dm.train_dataloader())
    assert set(decodes.values()) == {1}


def test_small_images_are_upscaled_with_one_warning(tmp_path):
    _write_images(tmp_path, n=3, styles=("kai",), size=(10, 12))
    _write_images(tmp_path, n=2, styles=("xing",), size=(40, 40))
    dm, caught = _setup(tmp_path, batch_size=2)
    assert [m for m in caught if "upscaled" in m] == [
        f"upscaled 3 of 5 image(s) in {tmp_path} whose shorter side is below data.image_size=32 "
        "(smallest 10x12); they will look blurred"]
    assert dm.dataset[0].shape == (1, 32, 32)


def _halves(mode, left, right, size=8):
    """An image of ``mode`` whose left half is ``left`` and right half ``right``."""
    image = Image.new(mode, (size, size), left)
    image.paste(Image.new(mode, (size // 2, size), right), (size // 2, 0))
    return image


def _palette(colours, transparency=None):
    image = _halves("P", 0, 1)
    image.putpalette([v for c in colours for v in c])
    if transparency is not None:
        image.info["transparency"] = transparency
    return image


def _sixteen_bit(dtype, left, right):
    array = np.full((8, 8), left, dtype)
    array[:, 4:] = right
    return Image.fromarray(array)


# (image, file format, channels, expected value of the left half, expected value of the right half)
MODES = {
    "RGBA transparent on white": (_halves("RGBA", (0, 0, 0, 255), (0, 0, 0, 0)), "png", 1, -1.0, 1.0),
    "RGBA colour kept": (_halves("RGBA", (255, 0, 0, 255), (0, 0, 0, 0)), "png", 3, (1.0, -1.0, -1.0), (1.0, 1.0, 1.0)),
    "LA": (_halves("LA", (0, 255), (0, 0)), "png", 1, -1.0, 1.0),
    "P with transparency": (_palette([(0, 0, 0), (0, 0, 0)], transparency=1), "png", 1, -1.0, 1.0),
    "P colours": (_palette([(255, 0, 0), (0, 0, 255)]), "png", 3, (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)),
    "I;16 mid-grey and white": (_sixteen_bit(np.uint16, 32768, 65535), "png", 1, 0.0, 1.0),
    "I;16 black": (_sixteen_bit(np.uint16, 0, 16384), "png", 1, -1.0, -0.5),
    "I 32-bit": (_sixteen_bit(np.int32, 32768, 0), "tiff", 1, 0.0, -1.0),
    "CMYK": (_halves("CMYK", (0, 0, 0, 255), (0, 0, 0, 0)), "tiff", 1, -1.0, 1.0),
    "CMYK colour": (_halves("CMYK", (0, 255, 255, 0), (255, 255, 0, 0)), "tiff", 3, (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)),
    "1-bit": (_halves("1", 0, 1), "png", 3, (-1.0,) * 3, (1.0,) * 3),
}


@pytest.mark.parametrize("name", list(MODES))
def test_image_modes_are_converted_as_a_viewer_shows_them(tmp_path, name):
    image, fmt, channels, left, right = MODES[name]
    (tmp_path / "style").mkdir()
    image.save(tmp_path / "style" / f"x.{fmt}")
    assert Image.open(tmp_path / "style" / f"x.{fmt}").mode == image.mode  # the file really holds that mode
    dm, _ = _setup(tmp_path, image_size=8, channels=channels, batch_size=1)
    x = dm.dataset[0]
    x = x[0] if isinstance(x, tuple) else x  # (image, style) from a labelled dataset
    assert x.shape == (channels, 8, 8)
    expected = torch.empty(channels, 8, 8)
    expected[:, :, :4] = torch.tensor(left).reshape(-1, 1, 1)
    expected[:, :, 4:] = torch.tensor(right).reshape(-1, 1, 1)
    assert torch.allclose(x, expected, atol=0.01), (x[:, 0, 0], x[:, 0, -1])


def test_the_per_item_transform_puts_transparency_on_white_too():
    x = image_transform(8, 1)(_halves("RGBA", (0, 0, 0, 255), (0, 0, 0, 0)))
    assert x[:, :, :4].eq(-1).all() and x[:, :, 4:].eq(1).all()
