"""Any ImageFolder-style directory of real images, robust to files that are not images."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

from PIL import Image
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from igan.errors import IganError


class _ImageChecker:
    """``is_valid_file`` for ImageFolder: keeps files PIL can decode, remembers the rest."""

    def __init__(self) -> None:
        self.rejected: list[str] = []

    def __call__(self, path: str) -> bool:
        try:
            with Image.open(path) as img:
                img.load()  # a full decode: truncated files fail here, not in the middle of an epoch
            return True
        except Exception:  # PIL raises many types for bad files; any of them means "skip"
            self.rejected.append(path)
            return False


def load_folder(root: str | Path, transform: Callable) -> ImageFolder:
    """Images under ``root/<class>/...``; unreadable files are skipped with one warning."""
    root = Path(root)
    if not root.is_dir():
        raise IganError(f"image folder not found: {root}")
    checker = _ImageChecker()
    try:
        dataset = ImageFolder(str(root), transform=transform, is_valid_file=checker)
    except (FileNotFoundError, RuntimeError) as err:
        raise IganError(
            f"no readable images in {root}: expected sub-folders of images "
            f"({', '.join(IMG_EXTENSIONS[:5])}, ...), one per style or writer ({err})"
        ) from err
    if checker.rejected:
        shown = ", ".join(checker.rejected[:3])
        more = f" and {len(checker.rejected) - 3} more" if len(checker.rejected) > 3 else ""
        warnings.warn(f"skipped {len(checker.rejected)} unreadable or non-image file(s) in {root}: {shown}{more}")
    return dataset
