"""Any folder of real images, one sub-folder per style or writer, decoded once at start-up.

Every file is decoded exactly once, when the dataset is built, converted to the model's
channels, resized and centre-cropped, and kept in memory as uint8 at the training size. Why
not a cheap header check at start-up and a decode per item later: only a full decode finds a
truncated file, and one found in the middle of an epoch would crash the run hours in; the
resize is deterministic (no augmentation), so caching its output loses nothing; and at GAN
sizes the cache is small (50,000 RGB images at 64 px take 600 MB) while epochs then cost no
decoding at all. Files directly in the root count too (the GANs are unconditional).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
from PIL import Image
from torchvision import transforms
from torchvision.datasets.folder import IMG_EXTENSIONS

from igan.errors import IganError

#: Modes that carry an alpha channel (PIL's premultiplied ones included).
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit grayscale (I;16*, or I as Pillow loads 16-bit PNG/TIFF) scaled 0..65535 -> 0..255.

    PIL's own convert("L") clips instead of scaling, which turns every 16-bit scan white.
    Mode I is assumed to hold 16-bit values, as it does for scans; larger values are clipped.
    """
    values = np.clip(np.asarray(image).astype(np.float64), 0, 65535)
    return Image.fromarray(np.round(values * (255 / 65535)).astype(np.uint8))


def _on_white(image: Image.Image) -> Image.Image:
    """Composite transparency onto white paper; PIL's convert drops alpha, exposing (often black) hidden colour."""
    rgba = image.convert("RGBA")
    paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(paper, rgba).convert("RGB")


def to_channels(image: Image.Image, channels: int) -> Image.Image:
    """Any PIL mode as L (1 channel) or RGB (3), the way an image viewer shows it.

    Transparent pixels (RGBA, LA, palette or grayscale with a transparent colour) become white
    paper, 16-bit grayscale is scaled to 8 bit, CMYK, palette, 1-bit and the rest go through
    PIL's conversion to RGB.
    """
    if image.mode.startswith("I"):
        image = _to_8_bit(image)
    elif image.mode == "1":
        image = image.convert("L")  # PIL converts 1-bit with a transparent colour only from L
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        image = _on_white(image)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    wanted = "L" if channels == 1 else "RGB"
    return image if image.mode == wanted else image.convert(wanted)


def _files(folder: Path, recursive: bool) -> Iterator[Path]:
    """Non-hidden files in sorted order (hidden ones are .DS_Store and the like), following links once."""
    seen = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _groups(root: Path) -> list[tuple[Optional[str], list[Path]]]:
    """(style, files) per sub-folder, recursively, plus (None, files) for files directly in ``root``."""
    try:
        entries = sorted(e for e in root.iterdir() if not e.name.startswith("."))
    except OSError as err:
        raise IganError(f"cannot read the image folder {root} ({err.strerror or err})") from err
    groups = [(e.name, list(_files(e, recursive=True))) for e in entries if e.is_dir()]
    loose = [e for e in entries if not e.is_dir()]
    return ([(None, loose)] if loose else []) + groups


def _decode(path: Path, channels: int, fit: Callable) -> Optional[tuple[np.ndarray, tuple[int, int]]]:
    """(C, S, S) uint8 and the original size, or None when PIL cannot read the file as an image."""
    try:
        with Image.open(path) as img:
            img.load()  # the one full decode: truncated files fail here
            size = img.size
            array = np.asarray(fit(to_channels(img, channels)), dtype=np.uint8)  # before close() frees the pixels
    except Exception:  # PIL raises many types for bad files; any of them means "skip"
        return None
    return (array[None] if array.ndim == 2 else array.transpose(2, 0, 1)), size


def _listing(items: list[str], shown: int = 3) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _nothing_readable(root: Path, files: int, rejected: list[str]) -> IganError:
    """The one error for a folder without a single usable image, saying what was found instead."""
    if files == 0:
        found = "it holds no files" if not any(p.is_dir() for p in root.iterdir()) else "its sub-folders hold no files"
    else:
        found = f"none of its {files} file(s) could be read as an image: {_listing(rejected)}"
    return IganError(
        f"no readable images in {root}: {found}. Expected image files "
        f"({', '.join(IMG_EXTENSIONS[:5])}, ...) in sub-folders, one per style or writer."
    )


def load_folder(root: str | Path, image_size: int, channels: int) -> np.ndarray:
    """All readable images under ``root`` as (N, channels, image_size, image_size) uint8.

    Unreadable files, style sub-folders without a readable image and images that had to be
    upscaled are each reported in one warning; only a folder with no readable image at all
    is an error.
    """
    root = Path(root)
    if not root.exists():
        raise IganError(f"image folder not found: {root} (data.root)")
    if not root.is_dir():
        raise IganError(f"data.root {root} is a file, not a folder of images")
    fit = transforms.Compose([transforms.Resize(image_size), transforms.CenterCrop(image_size)])
    images, sizes, rejected, empty_styles, files = [], [], [], [], 0
    for style, paths in _groups(root):
        kept = 0
        for path in paths:
            decoded = _decode(path, channels, fit)
            if decoded is None:
                rejected.append(str(path.relative_to(root)))
                continue
            images.append(decoded[0])
            sizes.append(decoded[1])
            kept += 1
        files += len(paths)
        if style is not None and kept == 0:
            empty_styles.append(f"{style}/ ({len(paths)} unreadable file(s))" if paths else f"{style}/ (empty)")
    if not images:
        raise _nothing_readable(root, files, rejected)
    if empty_styles:
        listed = ", ".join(empty_styles)
        warnings.warn(f"ignoring {len(empty_styles)} style folder(s) in {root} with no readable image: {listed}")
    if rejected:
        warnings.warn(f"skipped {len(rejected)} unreadable or non-image file(s) in {root}: {_listing(rejected)}")
    _warn_upscaled(root, sizes, image_size)
    return np.stack(images)


def _warn_upscaled(root: Path, sizes: list[tuple[int, int]], image_size: int) -> None:
    """One warning for all images whose shorter side is below the training size: they come out blurred."""
    small = [s for s in sizes if min(s) < image_size]
    if small:
        w, h = min(small, key=min)
        warnings.warn(
            f"upscaled {len(small)} of {len(sizes)} image(s) in {root} whose shorter side is below "
            f"data.image_size={image_size} (smallest {w}x{h}); they will look blurred"
        )
