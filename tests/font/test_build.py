"""write_font on a real tiny translation checkpoint: the TTF reopened with fontTools, rendered back
with Pillow onto the model's own bitmaps, deterministic, and refusing what it cannot write."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TEST_CHARS, requires_kai_font
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont
from translation.tiny_run import SIZE, tiny_checkpoint

from igan.errors import IganError
from igan.font.build import write_font
from igan.font.trace import EmBox
from igan.translation.sampling import load_translator, render

pytestmark = requires_kai_font

STYLE = "LXGW WenKai"
CHARS = TEST_CHARS[:12]


@pytest.fixture(scope="module")
def translator(tmp_path_factory, calligraphy_root):
    return load_translator(tiny_checkpoint(tmp_path_factory, calligraphy_root))


@pytest.fixture(scope="module")
def font_path(translator, tmp_path_factory):
    return write_font(translator, STYLE, CHARS, tmp_path_factory.mktemp("font") / "hand.ttf",
                      model_name="run/last.ckpt")


def model_bitmaps(translator, chars: str) -> np.ndarray:
    """(N, S, S) booleans: the model's own translation of each character, thresholded at 0 (ink below)."""
    sources = render(translator.source_font, chars, translator.image_size, translator.margin)
    images = translator.translate(torch.stack([sources[c] for c in chars]), translator.styles.index(STYLE))
    return (images[:, 0] < 0).numpy()


def rendered(font: ImageFont.FreeTypeFont, char: str, dx: int = 0) -> np.ndarray:
    """(S, S) booleans: ``char`` set by FreeType at S pixels per em, the origin at the top left, the
    ascender line on the top edge (Pillow's "la" anchor), then thresholded at mid-grey."""
    canvas = Image.new("L", (SIZE, SIZE), 255)
    ImageDraw.Draw(canvas).text((dx, 0), char, font=font, fill=0, anchor="la")
    return np.asarray(canvas) < 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_every_character_is_in_the_cmap_with_an_outline_and_a_full_advance(font_path):
    font = TTFont(font_path)
    assert font.sfntVersion == "\x00\x01\x00\x00" and "glyf" in font and "CFF " not in font  # TrueType outlines
    assert {"cmap", "glyf", "loca", "hmtx", "hhea", "head", "maxp", "name", "OS/2", "post"} <= set(font.keys())
    cmap = font.getBestCmap()
    assert font.getGlyphOrder()[0] == ".notdef" and font["glyf"][".notdef"].numberOfContours == 2
    for char in CHARS:
        name = cmap[ord(char)]
        glyph = font["glyf"][name]
        assert glyph.numberOfContours > 0, char
        # Every outline point is a whole font unit; quadratic only (TrueType has no cubic).
        assert font["hmtx"][name] == (1024, glyph.xMin)
    assert font["head"].unitsPerEm == 1024 and (font["hhea"].ascent, font["hhea"].descent) == (896, -128)
    assert cmap[0x20] == "space" and font["hmtx"]["space"][0] == 512 and cmap[0x3000] == "uni3000"
    # CJK Unified Ideographs (OS/2 Unicode range bit 59); code pages GB2312 (18) and Big5 (20): all hold these.
    assert 59 in font["OS/2"].getUnicodeRanges() and {18, 20} <= font["OS/2"].getCodePageRanges()


def test_the_name_table_names_the_style_and_the_model(font_path, translator):
    name = TTFont(font_path)["name"]
    assert name.getDebugName(1) == f"igan {STYLE}" and name.getDebugName(2) == "Regular"
    assert name.getDebugName(4) == f"igan {STYLE}" and name.getDebugName(6) == "igan-LXGW-WenKai-Regular"
    description = name.getDebugName(10)
    assert STYLE in description and "run/last.ckpt" in description and translator.source_font in description
    assert ImageFont.truetype(str(font_path), SIZE).getname() == (f"igan {STYLE}", "Regular")


def test_rendered_glyphs_overlap_the_models_bitmaps(font_path, translator):
    """Set at the model's size, each glyph covers the model's own thresholded bitmap (IoU >= 0.8),
    with no shift: one pixel to the side overlaps clearly less."""
    assert translator.image_size == SIZE and EmBox(SIZE).ascender * SIZE % 1024 == 0
    font = ImageFont.truetype(str(font_path), SIZE)
    models = model_bitmaps(translator, CHARS)
    scores, shifted = [], []
    for char, model in zip(CHARS, models):
        assert model.sum() > 10, f"the model drew almost no ink for {char}"
        scores.append(iou(rendered(font, char), model))
        shifted.append(iou(rendered(font, char, dx=1), model))
    assert min(scores) >= 0.8, dict(zip(CHARS, np.round(scores, 3)))
    assert np.mean(shifted) < np.mean(scores) - 0.1, (np.mean(shifted), np.mean(scores))


def test_the_same_request_writes_the_same_bytes(font_path, translator, tmp_path):
    again = write_font(translator, STYLE, CHARS, tmp_path / "again.ttf", model_name="run/last.ckpt")
    assert again.read_bytes() == font_path.read_bytes()


def test_progress_is_a_callable_or_a_tqdm_like_bar(translator, tmp_path):
    calls = []

    class Bar:
        n = 0

        def update(self, step):
            self.n += step

    bar = Bar()
    write_font(translator, STYLE, CHARS, tmp_path / "a.ttf", lambda done, total: calls.append((done, total)),
               batch_size=5)
    write_font(translator, STYLE, CHARS, tmp_path / "b.ttf", bar, batch_size=5)
    assert calls == [(0, 12), (5, 12), (10, 12), (12, 12)] and bar.n == 12
    assert (tmp_path / "a.ttf").read_bytes() == (tmp_path / "b.ttf").read_bytes()  # batching changes nothing


def test_characters_the_source_font_lacks_are_named_not_dropped(translator, tmp_path):
    out = tmp_path / "x.ttf"
    with pytest.raises(IganError, match="lacks \U00020000\U0002A6A5 \\(2 of the 4 characters\\).*--skip-missing"):
        write_font(translator, STYLE, "永\U00020000字\U0002A6A5", out)
    assert not list(tmp_path.iterdir())
    with pytest.warns(UserWarning, match="lacks \U00020000\U0002A6A5 .*left out of the font"):
        write_font(translator, STYLE, "永\U00020000字\U0002A6A5", out, skip_missing=True)
    cmap = TTFont(out).getBestCmap()
    assert ord("永") in cmap and ord("字") in cmap and 0x20000 not in cmap


@pytest.mark.parametrize("style, chars, says", [
    ("No Such Kai", CHARS, "known styles: 'AR PL UKai CN', 'LXGW WenKai'"),
    ("all", CHARS, "a font holds one style"),
    (STYLE, " \n\t", "no characters to put in the font"),
])
def test_bad_requests_are_one_error_and_no_file(style, chars, says, translator, tmp_path):
    with pytest.raises(IganError, match=says):
        write_font(translator, style, chars, tmp_path / "x.ttf")
    assert not list(tmp_path.iterdir())
