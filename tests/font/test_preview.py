"""The preview line: the written font set by FreeType, one full-width cell per character."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_kai_font
from PIL import Image
from translation.tiny_run import tiny_checkpoint

from igan.font.build import write_font
from igan.font.preview import MAX_CHARS, text_line, write_preview
from igan.translation.sampling import load_translator

pytestmark = requires_kai_font


@pytest.fixture(scope="module")
def font_path(tmp_path_factory, calligraphy_root):
    translator = load_translator(tiny_checkpoint(tmp_path_factory, calligraphy_root))
    return write_font(translator, "LXGW WenKai", "永字八法", tmp_path_factory.mktemp("preview") / "hand.ttf")


def test_each_character_gets_one_em_of_the_line_with_its_ink_inside(font_path):
    size, pad = 64, 8
    line = np.asarray(text_line(font_path, "永字八法", size, pad)) < 128
    # The em box: 7/8 em above the baseline, 1/8 below; each glyph advances one em.
    assert line.shape == (size + 2 * pad, 4 * size + 2 * pad)
    for i in range(4):
        assert line[pad:pad + size, pad + i * size:pad + (i + 1) * size].sum() > 50
    assert not line[:, :pad // 2].any() and not line[:, -(pad // 2):].any()  # the margins stay paper


def test_the_preview_file_is_that_line_and_long_text_is_cut(font_path, tmp_path):
    out = write_preview(font_path, "永字八法", tmp_path / "line.png", size=48)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(text_line(font_path, "永字八法", 48)))
    assert text_line(font_path, "永" * 40, 16).width == MAX_CHARS * 16 + 2 * 2
