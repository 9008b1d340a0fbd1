"""Kai glyph rendering from real fonts, the GB2312 character set, the on-disk cache."""

import json

import numpy as np
import pytest
from conftest import TEST_CHARS, requires_kai_font

from igan.data import GANDataModule
from igan.data.calligraphy import DEFAULT_FONTS, RenderSpec, gb2312_level1, load_or_build, render_glyph, resolve_font
from igan.errors import IganError


def test_gb2312_level1_has_the_3755_common_characters():
    chars = gb2312_level1()
    assert len(chars) == 3755 == len(set(chars))
    assert chars[0] == "啊" and chars[-1] == "座"  # first and last of level 1 in code order
    assert "的" in chars and "一" in chars


@requires_kai_font
def test_glyph_is_dark_ink_centred_on_white_paper():
    from PIL import ImageFont

    face = resolve_font("LXGW WenKai") if _has("LXGW WenKai") else resolve_font(DEFAULT_FONTS[0])
    font = ImageFont.truetype(face.path, size=128, index=face.index)
    glyph = render_glyph(font, "国", image_size=64, margin=0.1)
    assert glyph.shape == (64, 64) and glyph.dtype == np.uint8
    assert glyph[0].min() == 255 and glyph[:, 0].min() == 255  # white paper at the border
    ink = np.argwhere(glyph < 128)
    assert len(ink) > 100  # the character is drawn
    top, left = ink.min(0)
    bottom, right = ink.max(0)
    assert max(bottom - top, right - left) + 1 >= round(64 * 0.8) - 2  # longer side fills 1 - 2*margin
    assert min(top, left) >= 64 * 0.1 - 2 and max(bottom, right) <= 64 * 0.9 + 1
    centre = ((top + bottom) / 2, (left + right) / 2)
    assert abs(centre[0] - 31.5) <= 1.5 and abs(centre[1] - 31.5) <= 1.5


def _has(family):
    try:
        resolve_font(family)
        return True
    except IganError:
        return False


@requires_kai_font
def test_dataset_is_built_once_and_rebuilt_when_config_changes(tmp_path):
    face = resolve_font(next(f for f in DEFAULT_FONTS if _has(f)))
    spec = RenderSpec((face,), "永字八法", 32, 0.08)
    images = load_or_build(tmp_path, spec)
    assert images.shape[1:] == (32, 32) and 1 <= len(images) <= 4
    manifest = json.loads((tmp_path / "calligraphy" / "manifest.json").read_text())
    assert manifest["chars"] == "永字八法" and manifest["fonts"][0]["path"] == face.path
    mtime = (tmp_path / "calligraphy" / "images.npy").stat().st_mtime_ns
    assert np.array_equal(load_or_build(tmp_path, spec), images)
    assert (tmp_path / "calligraphy" / "images.npy").stat().st_mtime_ns == mtime  # reused, not re-rendered
    bigger = load_or_build(tmp_path, RenderSpec((face,), "永字八法", 48, 0.08))
    assert bigger.shape[1:] == (48, 48)


@requires_kai_font
def test_characters_a_font_lacks_are_skipped_not_drawn_as_boxes(tmp_path):
    if not _has("cwTeXKai"):
        pytest.skip("cwTeXKai (fonts-cwtex-kai) not installed")
    face = resolve_font("cwTeXKai")  # a traditional-Chinese font: lacks many simplified forms
    chars = gb2312_level1()[:200]
    images = load_or_build(tmp_path, RenderSpec((face,), chars, 32, 0.08))
    assert 0 < len(images) < len(chars)


@requires_kai_font
def test_datamodule_serves_glyphs_in_minus_one_one(tmp_path):
    dm = GANDataModule(name="calligraphy", root=str(tmp_path), image_size=32, channels=3, batch_size=8, chars=TEST_CHARS)
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (8, 3, 32, 32)
    assert batch.min() >= -1 and batch.max() <= 1 and batch.max() == 1  # white paper is +1
    assert len(dm.dataset) >= len(set(TEST_CHARS))


def test_missing_font_names_the_packages_to_install(tmp_path):
    dm = GANDataModule(name="calligraphy", root=str(tmp_path), fonts=["No Such Kai Font"])
    with pytest.raises(IganError, match="apt-get install -y fonts-arphic-ukai fonts-cwtex-kai fonts-lxgw-wenkai"):
        dm.prepare_data()
    assert not (tmp_path / "calligraphy").exists()
