"""A translation checkpoint's hand as a TrueType font: every character translated, traced, and written.

Each character is rendered in the run's source font exactly as the dataset renders it and
translated by the checkpoint's generator (:mod:`igan.translation.sampling`, batched), then its
bitmap is upsampled, thresholded and traced to quadratic outlines (:mod:`igan.font.trace`). The
glyphs go into a TrueType (``glyf``) font built with fontTools' FontBuilder: a cmap entry per
character, full-width advances, a name table naming the style and the model. The file is
written all or nothing (:func:`igan.io.files.atomic_write`).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Union

import torch
from fontTools.fontBuilder import FontBuilder
from fontTools.misc.timeTools import timestampSinceEpoch
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables._g_l_y_f import Glyph

from igan.errors import IganError
from igan.font.charsets import unique_chars
from igan.font.trace import EmBox, trace_glyphs
from igan.io.files import atomic_write
from igan.translation.sampling import Translator, render, style_ids

#: A progress report: ``callable(done, total)``, or a tqdm-like object whose ``update(n)`` is called.
Progress = Union[Callable[[int, int], Any], Any, None]

#: The font's version string (name ID 5) and revision (head.fontRevision).
VERSION = "Version 1.000"
#: Characters translated per generator call.
BATCH_SIZE = 64


def glyph_name(char: str) -> str:
    """The AGL name of a character's glyph: ``uni6C38``, or ``u20000`` beyond the BMP."""
    code = ord(char)
    return f"uni{code:04X}" if code <= 0xFFFF else f"u{code:05X}"


def notdef_glyph(box: EmBox) -> Glyph:
    """The .notdef glyph: a hollow box inside the em square (outer clockwise, inner anticlockwise)."""
    pen = TTGlyphPen(None)
    edge = stroke = box.units_per_em // 16
    x0, x1, y0, y1 = edge, box.units_per_em - edge, box.descender + edge, box.ascender - edge
    a, b, c, d = x0 + stroke, y0 + stroke, x1 - stroke, y1 - stroke
    for contour in ([(x0, y0), (x0, y1), (x1, y1), (x1, y0)], [(a, b), (c, b), (c, d), (a, d)]):
        pen.moveTo(contour[0])
        for point in contour[1:]:
            pen.lineTo(point)
        pen.closePath()
    return pen.glyph()


def postscript_name(family: str) -> str:
    """The PostScript name (name ID 6): printable ASCII without spaces, at most 63 characters."""
    ascii_only = re.sub(r"[^A-Za-z0-9-]", "", family.replace(" ", "-"))
    return f"{ascii_only or 'igan'}-Regular"[:63]


def font_names(style: str, source_font: str, model_name: str) -> dict[str, str]:
    """The name table: family ``igan <style>``, and a description naming the model and the source font."""
    family = f"igan {style}"
    return {
        "familyName": family,
        "styleName": "Regular",
        "uniqueFontIdentifier": f"{family}; {model_name}; {VERSION}",
        "fullName": family,
        "psName": postscript_name(family),
        "version": VERSION,
        "manufacturer": "igan",
        "description": (f"The {style} hand as drawn by the igan translation model {model_name}, translating glyphs "
                        f"of {source_font}; outlines traced with vtracer"),
    }


def chinese_code_pages(chars) -> set[int]:
    """The OS/2 code page bits of GB2312 (18) and Big5 (20) when they encode some of ``chars``.

    fontTools' guess looks for one sentinel character each (bopomofo, 央), which a hand of
    hanzi may lack; these bits list the font under its scripts in Windows' font dialogs.
    """
    bits = set()
    for bit, codec in ((18, "gb2312"), (20, "big5")):
        if any(_encodes(c, codec) for c in chars if ord(c) >= 0x2E80):  # CJK, not ASCII
            bits.add(bit)
    return bits


def _encodes(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def _report(progress: Progress, step: int, done: int, total: int) -> None:
    if progress is None:
        return
    if hasattr(progress, "update"):
        progress.update(step)
    else:
        progress(done, total)


def _one_style(translator: Translator, style: str) -> int:
    ids = style_ids(translator, style)
    if len(ids) != 1:
        known = ", ".join(repr(s) for s in translator.styles)
        raise IganError(f"a font holds one style; name one of {known}")
    return ids[0]


def translated_glyphs(translator: Translator, style: int, chars: str, box: EmBox, progress: Progress = None,
                      batch_size: int = BATCH_SIZE, mode: str = "spline",
                      sources: dict[str, torch.Tensor] | None = None) -> dict[str, Glyph]:
    """Each character's traced glyph, in order; ``sources`` are its rendered source glyphs (rendered when None)."""
    if sources is None:
        sources = render(translator.source_font, chars, translator.image_size, translator.margin)
    glyphs: dict[str, Glyph] = {}
    _report(progress, 0, 0, len(chars))
    for start in range(0, len(chars), batch_size):
        batch = chars[start:start + batch_size]
        images = translator.translate(torch.stack([sources[c] for c in batch]), style)
        for char, glyph in zip(batch, trace_glyphs(images, box, mode)):
            glyphs[char] = glyph
        _report(progress, len(batch), len(glyphs), len(chars))
    return glyphs


def build_font(glyphs: dict[str, Glyph], box: EmBox, names: dict[str, str]) -> TTFont:
    """A TrueType font of ``glyphs`` (character -> glyph), plus .notdef and the two spaces when absent.

    Every glyph advances one em (the model's image square, margins included). Its timestamps
    come from ``SOURCE_DATE_EPOCH`` (default 1970-01-01), so the same glyphs give the same bytes.
    """
    upm = box.units_per_em
    named = {".notdef": (None, notdef_glyph(box), upm)}
    for char, advance in ((" ", upm // 2), ("\u3000", upm)):  # so that typed text keeps its spaces
        if char not in glyphs:
            named["space" if char == " " else glyph_name(char)] = (char, TTGlyphPen(None).glyph(), advance)
    for char, glyph in glyphs.items():
        named[glyph_name(char)] = (char, glyph, upm)

    stamp = timestampSinceEpoch(int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    builder = FontBuilder(upm, isTTF=True)
    builder.font.recalcTimestamp = False
    builder.setupHead(unitsPerEm=upm, created=stamp, modified=stamp, fontRevision=1.0)
    builder.setupGlyphOrder(list(named))
    builder.setupCharacterMap({ord(char): name for name, (char, _, _) in named.items() if char is not None})
    builder.setupGlyf({name: glyph for name, (_, glyph, _) in named.items()})
    glyf = builder.font["glyf"]
    builder.setupHorizontalMetrics({name: (advance, getattr(glyf[name], "xMin", 0))
                                    for name, (_, _, advance) in named.items()})
    builder.setupHorizontalHeader(ascent=box.ascender, descent=box.descender, lineGap=0)
    builder.setupNameTable(names, mac=False)
    builder.setupOS2(version=4, usWeightClass=400, fsType=0, achVendID="NONE",
                     fsSelection=0x40 | 0x80,  # REGULAR, USE_TYPO_METRICS
                     sTypoAscender=box.ascender, sTypoDescender=box.descender, sTypoLineGap=0,
                     usWinAscent=box.ascender, usWinDescent=-box.descender)
    builder.setupPost()
    builder.setupMaxp()
    os2 = builder.font["OS/2"]
    os2.recalcUnicodeRanges(builder.font)
    os2.recalcCodePageRanges(builder.font)
    os2.setCodePageRanges(os2.getCodePageRanges() | chinese_code_pages(glyphs))
    return builder.font


def write_font(translator: Translator, style: str, chars: str, out_path: str | Path, progress: Progress = None,
               *, model_name: str | None = None, skip_missing: bool = False, batch_size: int = BATCH_SIZE,
               mode: str = "spline") -> Path:
    """Write the TrueType font of ``chars`` in ``style`` as the translator draws them; returns the path.

    Args:
        translator: a translation checkpoint's generator (:func:`igan.translation.sampling.load_translator`).
        style: one style of the checkpoint (its font name, or its slug).
        chars: the characters (whitespace and repeats dropped).
        out_path: the font file, written all or nothing.
        progress: ``callable(done, total)`` or a tqdm-like bar, advanced per translated character.
        model_name: how the name table names the model (e.g. the checkpoint's run and file).
        skip_missing: leave out, with one warning naming them, the characters the source font
            lacks; otherwise they are an error naming them.
        batch_size: characters per generator call.
        mode: the tracer's curves, ``"spline"`` or ``"polygon"``.

    Raises:
        IganError: an unknown style, no characters, characters the source font lacks.
    """
    index = _one_style(translator, style)
    chars = unique_chars(chars)
    if not chars:
        raise IganError("no characters to put in the font")
    sources = render(translator.source_font, chars, translator.image_size, translator.margin)
    missing = "".join(c for c in chars if c not in sources)
    if missing:
        message = (f"the source font {translator.source_font!r} lacks {missing} "
                   f"({len(missing)} of the {len(chars)} characters)")
        if not skip_missing or len(missing) == len(chars):
            raise IganError(message + ("" if skip_missing else "; leave them out or pass --skip-missing"))
        warnings.warn(message + ": left out of the font", stacklevel=2)
        chars = "".join(c for c in chars if c in sources)
    box = EmBox(translator.image_size)
    glyphs = translated_glyphs(translator, index, chars, box, progress, batch_size, mode, sources)
    blank = "".join(c for c, g in glyphs.items() if g.numberOfContours == 0)
    if blank:
        warnings.warn(f"the model drew no ink for {blank}: their glyphs are empty", stacklevel=2)
    name = translator.styles[index]
    font = build_font(glyphs, box, font_names(name, translator.source_font, model_name or "a translation checkpoint"))
    return atomic_write(out_path, lambda tmp: font.save(str(tmp)))
