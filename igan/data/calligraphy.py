"""Kai-script (楷书) calligraphy glyphs rendered from the CJK Kai fonts on this machine.

Each requested dataset is rendered once and cached in a folder of its own, so datasets of
several sizes live side by side and switching between them never re-renders::

    <root>/calligraphy/64px-1f0c2a9e4b7d/images.npy      (N, 64, 64) uint8, black ink on white
                                        /manifest.json    request, resolved faces, count, sha256, labels
    <root>/calligraphy/32px-93be01d55c2a/...

The folder name hashes the request *as the user wrote it* (``data.fonts`` names or paths, the
characters, size, margin and :data:`RENDER_VERSION`), so a cache is found without resolving any
font: a ``data/`` folder copied to a machine without the fonts still trains. The flip side: a
font file that changes under the same name is not noticed; bump ``RENDER_VERSION`` or delete the
folder to re-render.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

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
#: Folder under ``data.root`` that holds one sub-folder per rendered dataset.
CACHE_DIR = "calligraphy"
#: Temporary build folders older than this were left by a killed run (a full render takes minutes).
ABANDONED_AFTER_S = 24 * 3600


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


class FontNotInstalled(IganError):
    """A font family name that no installed face has; ``spec`` is the name asked for."""

    def __init__(self, message: str, spec: str) -> None:
        super().__init__(message)
        self.spec = spec


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
        raise FontNotInstalled(
            f"CJK Kai font '{spec}' is not installed. Install the Kai fonts with\n"
            f"  sudo apt-get install -y {FONT_PACKAGES}\n"
            "or set data.fonts to TTF/OTF/TTC paths or installed family names.",
            spec,
        )
    regular = [f for f in matches if f.style.lower() in ("regular", "book", "medium")]
    return sorted(regular or matches, key=lambda f: (f.path, f.index))[0]


@dataclass(frozen=True)
class RenderSpec:
    """Everything that determines the rendered dataset, fonts resolved to faces (recorded in the manifest)."""

    fonts: tuple[FontFace, ...]
    chars: str
    image_size: int
    margin: float
    version: int = RENDER_VERSION

    def manifest(self) -> dict:
        """A JSON-able record of what was rendered, with the font files actually used."""
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


def cache_request(fonts: Sequence[str], chars: str, image_size: int, margin: float) -> dict:
    """The request that names a cache folder: fonts as the user wrote them, so no font is resolved to find it."""
    return {
        "fonts": [str(f) for f in fonts],
        "chars": chars,
        "image_size": int(image_size),
        "margin": float(margin),
        "version": RENDER_VERSION,
    }


def cache_key(request: dict) -> str:
    """``<size>px-<12 hex digits of sha256>``: readable in a listing, unique per request."""
    blob = json.dumps(request, ensure_ascii=False, sort_keys=True).encode()
    return f"{request['image_size']}px-{hashlib.sha256(blob).hexdigest()[:12]}"


def cache_folder(root: str | Path, fonts: Sequence[str], chars: str, image_size: int, margin: float) -> Path:
    """Where :func:`load_or_build` keeps the glyphs of this request."""
    return Path(root) / CACHE_DIR / cache_key(cache_request(fonts, chars, image_size, margin))


def _load_cached(folder: Path, request: dict) -> tuple[Optional[np.ndarray], Optional[str]]:
    """(images, None) for a sound cache, (None, None) when there is none, (None, why) when it is damaged.

    The manifest's count and sha256 are checked against ``images.npy``: a file truncated or
    replaced behind our back would otherwise train on the wrong data without a word.
    """
    if not folder.is_dir():
        return None, None
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        data = (folder / "images.npy").read_bytes()
    except (OSError, ValueError) as err:  # missing, unreadable or not JSON
        return None, f"unreadable: {err}"
    if not isinstance(manifest, dict) or manifest.get("request") != request:
        return None, "its manifest records another request"
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        return None, "images.npy does not match the sha256 in manifest.json"
    try:
        images = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as err:
        return None, f"images.npy is not a NumPy array: {err}"
    size = request["image_size"]
    if images.dtype != np.uint8 or images.shape != (manifest.get("count"), size, size):
        return None, f"images.npy holds {images.dtype} {images.shape}, manifest.json says {manifest.get('count')} glyphs"
    return images, None


def _remove_abandoned(parent: Path) -> None:
    """Delete build folders of runs killed mid-write; a day's age means no live run still owns one."""
    cutoff = time.time() - ABANDONED_AFTER_S
    for entry in parent.iterdir():
        if entry.name.startswith((".tmp-", ".trash-")) and entry.is_dir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:  # another run removed it first
                pass


def _new_build_folder(parent: Path, name: str, root: str | Path) -> Path:
    """A private folder next to the target, so the finished build can be renamed into place atomically."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(parent)
        folder = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent))
    except OSError as err:
        raise IganError(
            f"cannot write the calligraphy glyphs to {parent} ({err.strerror or err}); "
            f"data.root={root} must be a writable folder"
        ) from err
    os.chmod(folder, 0o755)  # mkdtemp's 0o700 would hide a shared data/ folder from other users
    return folder


def _write_file(path: Path, data: bytes) -> None:
    """Write and fsync, so the rename that publishes the folder never precedes its contents on disk."""
    try:
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:  # a full disk or lost permission: the unpublished build folder is removed
        raise IganError(f"cannot write the calligraphy glyphs to {path} ({err.strerror or err})") from err


def _write_cache(folder: Path, request: dict, spec: RenderSpec, images: np.ndarray, labels: list) -> None:
    """images.npy, then a manifest whose sha256 covers the file's exact bytes (header included)."""
    buffer = io.BytesIO()
    np.save(buffer, images)
    data = buffer.getvalue()
    _write_file(folder / "images.npy", data)
    manifest = {
        "key": cache_key(request),
        "request": request,
        "rendered": spec.manifest(),  # the font files actually used, for information
        "count": len(images),
        "sha256": hashlib.sha256(data).hexdigest(),
        "labels": [[c, f] for c, f in labels],
    }
    _write_file(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())


def _discard(target: Path) -> None:
    """Move a damaged cache aside in one rename (no reader sees it half deleted), then delete it."""
    trash = tempfile.mkdtemp(prefix=f".trash-{target.name}-", dir=target.parent)
    try:
        os.rename(target, trash)  # replaces the empty trash folder
    except FileNotFoundError:  # another run discarded it first
        pass
    shutil.rmtree(trash, ignore_errors=True)


def _publish(build: Path, target: Path, request: dict, images: np.ndarray) -> np.ndarray:
    """Rename the finished build into place; where another run got there first, use its glyphs.

    Renaming a whole folder is atomic, so a reader sees either no cache or a complete one,
    never new images under an old manifest. Two first runs may render at once: the second
    rename fails on the non-empty target, and that run returns what the first one published.
    """
    for _ in range(3):
        try:
            os.rename(build, target)
            return images
        except OSError as err:
            if not target.exists():
                raise IganError(f"cannot store the calligraphy glyphs at {target} ({err.strerror or err})") from err
        theirs, problem = _load_cached(target, request)
        if theirs is not None:
            return theirs
        _discard(target)  # damaged: replace it with ours
    raise IganError(f"could not store the calligraphy glyphs at {target}: other runs keep replacing it")


def load_or_build(
    root: str | Path, fonts: Sequence[str], chars: str, image_size: int, margin: float
) -> np.ndarray:
    """Return the (N, H, W) uint8 glyphs of this request, rendering them only when no sound cache exists.

    Fonts are resolved only when rendering, so a matching cache needs none of them installed.
    A damaged cache is reported in one warning and rendered again.
    """
    request = cache_request(fonts, chars, image_size, margin)
    target = Path(root) / CACHE_DIR / cache_key(request)
    images, problem = _load_cached(target, request)
    if images is not None:
        return images
    if problem is not None:
        warnings.warn(f"the cached calligraphy glyphs in {target} are damaged ({problem}); rendering them again")
    spec = RenderSpec(tuple(resolve_font(f) for f in fonts), chars, image_size, margin)
    build = _new_build_folder(target.parent, target.name, root)
    try:
        images, labels = render_dataset(spec)
        _write_cache(build, request, spec, images, labels)
        return _publish(build, target, request, images)
    finally:
        shutil.rmtree(build, ignore_errors=True)  # gone already once published; removed on any failure or Ctrl-C
