"""Kai-script (楷书) calligraphy glyphs rendered from the CJK Kai fonts on this machine.

The dataset is built once into ``<root>/calligraphy/`` (``images.npy`` plus a
``manifest.json`` recording fonts, characters and geometry) and reused while the manifest
matches the requested configuration, so a training run never pays for rendering twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from igan.errors import IganError

#: The Kai fonts of Debian/Ubuntu (packages fonts-arphic-ukai, fonts-cwtex-kai, fonts-lxgw-wenkai).
DEFAULT_FONTS = ("AR PL UKai CN", "cwTeXKai", "LXGW WenKai")
FONT_PACKAGES = "fonts-arphic-ukai fonts-cwtex-kai fonts-lxgw-wenkai"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
#: Bump when rendering changes so that cached datasets are rebuilt.
RENDER_VERSION = 1


def gb2312_level1() -> str:
    """The 3,755 common characters of GB2312 level 1 (rows 16-55), in code order."""
    chars = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            if row == 0xD7 and cell > 0xF9:  # row 55 holds 89 characters only
                break
            chars.append(bytes([row, cell]).decode("gb2312"))
    return "".join(chars)


@dataclass(frozen=True)
class FontFace:
    """One face of a font file (a .ttc collection holds several)."""

    path: str
    index: int
    family: str
    style: str


def _font_files(dirs: tuple[str, ...] = FONT_DIRS) -> list[Path]:
    files = []
    for d in dirs:
        base = Path(os.path.expanduser(d))
        if base.is_dir():
            files += sorted(p for p in base.rglob("*") if p.suffix.lower() in FONT_SUFFIXES)
    return files


def _faces_of(path: Path) -> list[FontFace]:
    faces = []
    for index in range(64):  # collections hold a handful of faces; stop at the first missing index
        try:
            font = ImageFont.truetype(str(path), size=12, index=index)
        except OSError:
            break
        family, style = font.getname()
        faces.append(FontFace(str(path), index, family or "", style or ""))
        if path.suffix.lower() not in (".ttc", ".otc"):
            break
    return faces


@functools.lru_cache(maxsize=1)
def installed_faces() -> tuple[FontFace, ...]:
    """Every font face in the standard font directories, found with Pillow (no fontconfig needed)."""
    return tuple(face for path in _font_files() for face in _faces_of(path))


def resolve_font(spec: str) -> FontFace:
    """Turn a font path (``/x/y.ttc`` or ``/x/y.ttc#2`` for a face index) or a family name into a face.

    Family names match case-insensitively; the Regular/Book style is preferred.
    """
    path, _, index = spec.partition("#")
    if os.sep in path or Path(path).suffix.lower() in FONT_SUFFIXES:
        if not Path(path).is_file():
            raise IganError(f"font file not found: {path}")
        faces = _faces_of(Path(path))
        if not faces:
            raise IganError(f"not a readable TrueType/OpenType font: {path}")
        i = int(index or 0)
        if i >= len(faces):
            raise IganError(f"font {path} has {len(faces)} face(s); index {i} does not exist")
        return faces[i]
    matches = [f for f in installed_faces() if f.family.lower() == spec.lower()]
    if not matches:
        raise IganError(
            f"CJK Kai font '{spec}' is not installed. Install the Kai fonts with\n"
            f"  sudo apt-get install -y {FONT_PACKAGES}\n"
            "or set data.fonts to TTF/OTF/TTC paths or installed family names."
        )
    regular = [f for f in matches if f.style.lower() in ("regular", "book", "medium")]
    return sorted(regular or matches, key=lambda f: (f.path, f.index))[0]


@dataclass(frozen=True)
class RenderSpec:
    """Everything that determines the rendered dataset; its hash names the cache."""

    fonts: tuple[FontFace, ...]
    chars: str
    image_size: int
    margin: float
    version: int = RENDER_VERSION

    def manifest(self) -> dict:
        return {
            "fonts": [asdict(f) for f in self.fonts],
            "chars": self.chars,
            "image_size": self.image_size,
            "margin": self.margin,
            "version": self.version,
        }


def render_glyph(font: ImageFont.FreeTypeFont, char: str, image_size: int, margin: float) -> np.ndarray | None:
    """Render one character as black ink on white paper, centred by its ink bounding box.

    The ink is scaled so that its longer side fills ``1 - 2*margin`` of the image, which
    keeps glyphs of different fonts at the same scale however their em boxes differ.
    Returns None when the font has no ink for the character.
    """
    canvas = font.size * 2
    img = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(img).text((canvas // 4, canvas // 4), char, fill=255, font=font)
    box = img.getbbox()
    if box is None:
        return None
    ink = img.crop(box)
    target = max(1, round(image_size * (1 - 2 * margin)))
    scale = target / max(ink.size)
    w, h = max(1, round(ink.width * scale)), max(1, round(ink.height * scale))
    ink = ink.resize((w, h), Image.Resampling.LANCZOS)
    out = Image.new("L", (image_size, image_size), 0)
    out.paste(ink, ((image_size - w) // 2, (image_size - h) // 2))
    return 255 - np.asarray(out, dtype=np.uint8)


def _has_glyph(font: ImageFont.FreeTypeFont, char: str, notdef: bytes | None) -> bool:
    """False for characters the font lacks: no ink, or the same bitmap as its .notdef box."""
    mask = font.getmask(char, mode="L")
    if mask.getbbox() is None:
        return False
    return notdef is None or bytes(mask) != notdef


def render_dataset(spec: RenderSpec, render_size: int = 128) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Render every (font, char) pair the font covers; characters a font lacks are skipped."""
    images, labels = [], []
    for font_id, face in enumerate(spec.fonts):
        font = ImageFont.truetype(face.path, size=render_size, index=face.index)
        notdef_mask = font.getmask("\U0010fffd", mode="L")
        notdef = bytes(notdef_mask) if notdef_mask.getbbox() is not None else None
        for char in spec.chars:
            if not _has_glyph(font, char, notdef):
                continue
            glyph = render_glyph(font, char, spec.image_size, spec.margin)
            if glyph is not None:
                images.append(glyph)
                labels.append((char, font_id))
    if not images:
        raise IganError("the configured fonts cover none of the configured characters")
    return np.stack(images), labels


def load_or_build(root: str | Path, spec: RenderSpec) -> np.ndarray:
    """Return the (N, H, W) uint8 glyph array, rendering it only when the cache does not match."""
    folder = Path(root) / "calligraphy"
    manifest_path, images_path = folder / "manifest.json", folder / "images.npy"
    manifest = spec.manifest()
    if manifest_path.is_file() and images_path.is_file():
        try:
            cached = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            cached = None
        if cached is not None and {k: cached.get(k) for k in manifest} == manifest:
            return np.load(images_path)
    images, labels = render_dataset(spec)
    folder.mkdir(parents=True, exist_ok=True)
    # Write to temporary names and rename, so an interrupted build never leaves a matching manifest.
    tmp_images = folder / "images.tmp.npy"
    np.save(tmp_images, images)
    os.replace(tmp_images, images_path)
    digest = hashlib.sha256(images.tobytes()).hexdigest()[:16]
    full = dict(manifest, count=len(images), sha256_16=digest, labels=[[c, f] for c, f in labels])
    tmp_manifest = folder / "manifest.tmp.json"
    tmp_manifest.write_text(json.dumps(full, ensure_ascii=False, indent=1))
    os.replace(tmp_manifest, manifest_path)
    return images
