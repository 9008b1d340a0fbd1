"""From a translated bitmap to a TrueType glyph: upsample, threshold, trace with vtracer, quadratic contours.

The image square of the model *is* the font's em square (:class:`EmBox`): a pixel of an
``S``-pixel glyph is ``units_per_em / S`` font units, the top of the image is the ascender line
and its left edge the glyph origin. So the font set at ``S`` pixels per em puts each glyph on
the pixels of the model's bitmap, with the dataset's margins around the ink. The bitmap is
upsampled (bicubic) before the threshold so that the traced outline follows the model's soft
edges rather than its pixel staircase.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import vtracer
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.transformPen import TransformPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.svgLib.path import parse_path
from fontTools.ttLib.tables._g_l_y_f import Glyph
from PIL import Image

#: The side, in pixels, a bitmap is upsampled to before tracing (a whole multiple of its size).
TRACE_SIZE = 256
#: The outline's tolerance when cubic splines become quadratic ones, in font units.
MAX_ERROR = 1.0
#: The tracer's curve fitting: "spline" (smooth curves) or "polygon" (straight segments).
MODES = ("spline", "polygon")


@dataclass(frozen=True)
class EmBox:
    """How an ``image_size``-pixel bitmap maps onto the em square.

    1024 units per em and the ascender at 7/8 em (the baseline 1/8 em above the bottom, about
    where CJK fonts put it): at any multiple of 8 pixels per em both land on whole pixels, so a
    renderer's rounding of the ascender moves nothing.
    """

    image_size: int
    units_per_em: int = 1024
    ascender: int = 896

    @property
    def descender(self) -> int:
        return self.ascender - self.units_per_em

    def factor(self) -> int:
        """The upsampling factor before tracing: ``TRACE_SIZE`` or the next size above it that it divides."""
        return max(1, math.ceil(TRACE_SIZE / self.image_size))

    def transform(self, dx: float, dy: float, traced_size: int) -> tuple[float, ...]:
        """The affine map from a traced path translated by (dx, dy) (pixels, y down) to font units (y up)."""
        s = self.units_per_em / traced_size
        return (s, 0.0, 0.0, -s, dx * s, self.ascender - dy * s)


def ink_masks(images: torch.Tensor, factor: int) -> np.ndarray:
    """(B, 1, S, S) glyphs in [-1, 1] (ink is -1) -> (B, S*factor, S*factor) boolean ink masks.

    Bicubic upsampling of the model's own values, then the threshold at 0, the midpoint between
    ink and paper (the threshold the font tests compare against at the model's size).
    """
    big = F.interpolate(images.float(), scale_factor=factor, mode="bicubic", align_corners=False)
    return (big[:, 0] < 0).cpu().numpy()


def trace_svg(mask: np.ndarray, mode: str = "spline", speckle: int = 1) -> str:
    """vtracer's SVG of a boolean ink mask (binary mode: the dark pixels are the shape)."""
    image = Image.fromarray(np.where(mask, 0, 255).astype(np.uint8), mode="L").convert("1")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return vtracer.convert_raw_image_to_svg(buffer.getvalue(), img_format="png", colormode="binary", mode=mode,
                                            filter_speckle=speckle)


def _translation(transform: str | None) -> tuple[float, float]:
    """(dx, dy) of vtracer's ``translate(x,y)`` attribute (the only transform it writes)."""
    if not transform:
        return 0.0, 0.0
    inner = transform.strip().removeprefix("translate(").removesuffix(")")
    parts = [float(p) for p in inner.replace(",", " ").split()]
    return parts[0], parts[1] if len(parts) > 1 else 0.0


def svg_glyph(svg: str, box: EmBox, traced_size: int) -> Glyph:
    """The quadratic TrueType glyph of vtracer's paths, in the em box's units.

    vtracer writes outer contours clockwise and holes anticlockwise on screen, which is
    TrueType's own convention (the y flip keeps what the eye sees), so no contour is reversed.
    """
    glyph_pen = TTGlyphPen(None)
    quadratic = Cu2QuPen(glyph_pen, MAX_ERROR, reverse_direction=False)
    for node in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}path"):
        d = node.get("d")
        if not d or not d.strip():
            continue
        dx, dy = _translation(node.get("transform"))
        parse_path(d, TransformPen(quadratic, box.transform(dx, dy, traced_size)))
    glyph = glyph_pen.glyph()
    glyph.recalcBounds(None)  # a simple glyph's bounds need no glyph table
    return glyph


def trace_glyphs(images: torch.Tensor, box: EmBox, mode: str = "spline") -> list[Glyph]:
    """One TrueType glyph per (B, 1, S, S) bitmap in [-1, 1]; a bitmap without ink gives an empty glyph."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    factor = box.factor()
    masks = ink_masks(images, factor)
    traced_size = box.image_size * factor
    # Specks under about half a model pixel across are upsampling ringing, not strokes.
    speckle = max(1, factor // 2)
    return [svg_glyph(trace_svg(mask, mode, speckle), box, traced_size) if mask.any() else TTGlyphPen(None).glyph()
            for mask in masks]
