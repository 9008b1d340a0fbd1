"""Image grids and files: one place that turns generator output in [-1, 1] into pixels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from igan.io.files import atomic_write

#: File suffixes :func:`save_image` writes, and the PIL format of each.
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def grid_pixels(images: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) images in [-1, 1] -> uint8, exactly the pixels :func:`grid_array` draws.

    Lets a caller keep many images as bytes (a quarter of float32) and build the grid later.
    """
    x = images.detach().float().cpu().clamp(-1, 1)
    return x.sub_(-1).div_(2).mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)  # make_grid's normalize, then ours


def grid_array(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """A (H, W) grayscale or (H, W, 3) RGB uint8 grid of (N, C, h, w) images in [-1, 1] (or :func:`grid_pixels`).

    W&B wants uint8 (a float grid is saved black) and grayscale data stays one channel.
    """
    nrow = nrow or math.ceil(math.sqrt(images.shape[0]))
    if images.dtype == torch.uint8:
        grid = make_grid(images.cpu(), nrow=nrow, padding=padding)
    else:
        grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, value_range=(-1, 1), normalize=True)
        grid = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)  # make_grid normalised to [0, 1]
    if images.shape[1] == 1:
        return grid[0].numpy()
    return grid.permute(1, 2, 0).numpy()


def save_image(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array in the format of the path's suffix, atomically.

    PNG for ``.png`` (and any other suffix); JPEG and WebP at quality 95. A failed write (full
    disk, no permission) raises :class:`IganError` naming the path and leaves the previous file.
    """
    path = Path(path)
    image_format = IMAGE_FORMATS.get(path.suffix.lower(), "PNG")
    options = {} if image_format == "PNG" else {"quality": 95}
    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format=image_format, **options))
