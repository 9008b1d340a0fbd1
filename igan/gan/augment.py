"""Differentiable augmentation of D's inputs (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"), written for igan.

A discriminator that sees 10,000 glyphs memorises them within an epoch and the generator collapses
to one pattern; showing D randomly shifted and cut-out versions of *both* real and generated images,
and backpropagating G's loss through the same augmentation, takes away that shortcut without
letting the augmentation leak into the generated images (G is never asked to produce shifted
glyphs: both distributions D compares are augmented alike). It is part of the training recipe, so
a fair comparison gives it to every model or to none.

Policies (comma-separated in ``model.augment``):

- ``translation``: shift each image by up to 1/8 of its side, filling with the border colour;
- ``cutout``: blank one square of half the side (to 0, mid-grey) at a random place per image;
- ``brightness``, ``contrast``: per-image random brightness offset in [-0.5, 0.5] and contrast
  factor in [0.5, 1.5] (in [-1, 1] pixel units).
"""

from __future__ import annotations

import torch
from torch import Tensor


def translate(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Integer shifts of up to ``ratio`` of the side, per image; borders repeat the edge pixels."""
    b, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) - dy).clamp_(0, h - 1)  # (B, H, 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) - dx).clamp_(0, w - 1)  # (B, 1, W)
    index = (rows * w + cols).flatten(1)  # (B, H*W): source pixel of every output pixel
    flat = x.flatten(2)
    return flat.gather(2, index.unsqueeze(1).expand(-1, x.shape[1], -1)).view_as(x)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """One square of ``ratio`` of the side set to 0 per image, at a random place (may cross the border)."""
    b, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (b, 1, 1), device=x.device) - size_h // 2  # centre anywhere in the image
    left = torch.randint(0, w, (b, 1, 1), device=x.device) - size_w // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= top) & (ys < top + size_h) & (xs >= left) & (xs < left + size_w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def brightness(x: Tensor) -> Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def contrast(x: Tensor) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


POLICIES = {"translation": translate, "cutout": cutout, "brightness": brightness, "contrast": contrast}


def parse_policy(policy: str | None) -> list[str]:
    """``"translation,cutout"`` -> ["translation", "cutout"]; unknown names raise ValueError."""
    names = [p.strip() for p in (policy or "").split(",") if p.strip()]
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    return names


def augment(x: Tensor, names: list[str]) -> Tensor:
    """Apply the named augmentations in order (differentiable with respect to ``x``)."""
    for name in names:
        x = POLICIES[name](x)
    return x
