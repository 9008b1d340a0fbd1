"""A line of text set in a written font, as a PNG: to see the hand before installing it.

Set by FreeType through Pillow, the same renderer the font tests check the glyphs with, so the
picture shows the font file itself, not the model's bitmaps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from igan.io.images import save_image

#: At most this many characters are set on the line.
MAX_CHARS = 16


def text_line(font_path: str | Path, text: str, size: int = 96, pad: int | None = None) -> Image.Image:
    """``text`` (its first MAX_CHARS characters) set at ``size`` pixels per em, black on white."""
    text = text[:MAX_CHARS]
    font = ImageFont.truetype(str(font_path), size)
    pad = size // 8 if pad is None else pad
    width = round(font.getlength(text)) + 2 * pad
    ascent, descent = font.getmetrics()
    image = Image.new("L", (max(1, width), ascent + descent + 2 * pad), 255)
    ImageDraw.Draw(image).text((pad, pad), text, font=font, fill=0, anchor="la")
    return image


def write_preview(font_path: str | Path, text: str, out: str | Path, size: int = 96) -> Path:
    """:func:`text_line` written to ``out`` (the format from its suffix), all or nothing."""
    return save_image(np.asarray(text_line(font_path, text, size)), out)
