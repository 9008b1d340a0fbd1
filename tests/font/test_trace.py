"""Tracing a bitmap to a TrueType glyph: where the outline lands in the em box, its direction, its curves."""

from __future__ import annotations

import pytest
import torch
from fontTools.pens.areaPen import AreaPen
from fontTools.pens.recordingPen import RecordingPen
from fontTools.ttLib.tables._g_l_y_f import Glyph

from igan.font.trace import EmBox, trace_glyphs

SIZE = 32
UNIT = 1024 // SIZE  # font units per model pixel


def bitmap(*boxes: tuple[int, int, int, int, float]) -> torch.Tensor:
    """(1, 1, SIZE, SIZE) paper (+1) with rectangles (left, top, right, bottom exclusive, value) painted in order."""
    image = torch.ones(1, 1, SIZE, SIZE)
    for left, top, right, bottom, value in boxes:
        image[..., top:bottom, left:right] = value
    return image


def drawn(glyph: Glyph, pen) -> None:
    glyph.draw(pen, None)


def area(glyph: Glyph) -> float:
    pen = AreaPen()
    drawn(glyph, pen)
    return pen.value


def test_the_em_box_is_the_image_square():
    box = EmBox(SIZE)
    assert (box.units_per_em, box.ascender, box.descender) == (1024, 896, -128)
    # Pixel (0, 0)'s corner is the origin's ascender; the far corner is one em right, at the descender.
    s, _, _, minus_s, tx, ty = box.transform(0, 0, SIZE)
    assert (s, minus_s, tx, ty) == (UNIT, -UNIT, 0, 896)
    assert box.factor() * SIZE == 256 and EmBox(48).factor() == 6 and EmBox(1024).factor() == 1
    # At any multiple of 8 px per em the ascender is a whole number of pixels.
    assert all(box.ascender * size % box.units_per_em == 0 for size in (8, 16, 32, 64, 128))


@pytest.mark.parametrize("mode", ["spline", "polygon"])
def test_a_rectangle_lands_on_its_pixels_in_font_units(mode):
    glyph = trace_glyphs(bitmap((8, 4, 24, 28, -1.0)), EmBox(SIZE), mode)[0]
    # Columns 8..23 and rows 4..27: x from 8 to 24 px, y from the ascender down 4 px to 28 px (the baseline).
    bounds = (glyph.xMin, glyph.yMin, glyph.xMax, glyph.yMax)
    expected = (8 * UNIT, 896 - 28 * UNIT, 24 * UNIT, 896 - 4 * UNIT)
    assert all(abs(a - b) <= UNIT // 8 for a, b in zip(bounds, expected)), (bounds, expected)
    # Outer contours run clockwise (TrueType's direction): a negative area in y-up coordinates.
    assert area(glyph) == pytest.approx(-(16 * UNIT) * (24 * UNIT), rel=0.02)


def test_a_hole_is_a_second_contour_that_runs_the_other_way():
    glyph = trace_glyphs(bitmap((4, 4, 28, 28, -1.0), (12, 12, 20, 20, 1.0)), EmBox(SIZE), "polygon")[0]
    assert glyph.numberOfContours == 2
    ring = (24 * UNIT) ** 2 - (8 * UNIT) ** 2
    assert area(glyph) == pytest.approx(-ring, rel=0.03)


def test_outlines_are_quadratic_and_blank_bitmaps_give_empty_glyphs():
    glyphs = trace_glyphs(torch.cat([bitmap((6, 6, 26, 20, -1.0)), bitmap()]), EmBox(SIZE), "spline")
    pen = RecordingPen()
    drawn(glyphs[0], pen)
    operators = {op for op, _ in pen.value}
    assert "curveTo" not in operators and operators <= {"moveTo", "lineTo", "qCurveTo", "closePath"}
    assert glyphs[1].numberOfContours == 0


def test_a_speck_below_half_a_pixel_is_dropped_and_a_pixel_is_kept():
    # A single faint pixel barely past the threshold upsamples to a tiny blob: dropped as ringing.
    faint, full = trace_glyphs(torch.cat([bitmap((10, 10, 11, 11, -0.05)), bitmap((10, 10, 11, 11, -1.0))]),
                               EmBox(SIZE), "polygon")
    assert faint.numberOfContours == 0 and full.numberOfContours == 1


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        trace_glyphs(bitmap(), EmBox(SIZE), "pixel")
