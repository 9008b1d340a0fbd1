"""Image grids and files: one place that turns generator output in [-1, 1] into pixels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], rounding like torchvision's save_image."""
    return images.detach().float().cpu().add(1).mul(127.5).add_(0.5).clamp_(0, 255).to(torch.uint8)


def grid_array(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """A (H, W) grayscale or (H, W, 3) RGB uint8 grid of (N, C, h, w) images in [-1, 1].

    W&B wants uint8 (a float grid is saved black) and grayscale data stays one channel.
    """
    nrow = nrow or math.ceil(math.sqrt(images.shape[0]))
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, value_range=(-1, 1), normalize=True)
    grid = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)  # make_grid normalised to [0, 1]
    if images.shape[1] == 1:
        return grid[0].numpy()
    return grid.permute(1, 2, 0).numpy()


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array as PNG, atomically (no half-written file on a crash)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    tmp.replace(path)
    return path
