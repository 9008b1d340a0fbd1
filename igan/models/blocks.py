"""Layers inserted into the DCGAN backbone: self-attention (SAGAN) and involution (IDCGAN)."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from igan.models.layers import keep_own_init, maybe_sn
from igan.ops import Involution2d


class SelfAttention2d(nn.Module):
    """Self-attention over all positions (Zhang et al. 2019, SAGAN).

    Query and key are 1x1 convs to C/8 channels, value a 1x1 conv to C; the output is
    ``x + gamma * attention(x)`` with ``gamma`` initialised to 0, so the block starts as the
    identity and the network learns how much non-local context to use.
    """

    keeps_own_init = True  # PyTorch's default conv init, not DCGAN's N(0, 0.02)

    def __init__(self, channels: int, spectral_norm: bool = True) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), spectral_norm)
        self.key = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), spectral_norm)
        self.value = maybe_sn(nn.Conv2d(channels, channels, 1, bias=False), spectral_norm)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, N, C/8)
        k = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)
        v = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, N, C)
        # softmax(q k^T) v, unscaled as in SAGAN. The math backend: the fused CUDA kernels have no
        # double backward, which gradient penalties (WGAN-GP, R1) need; on CPU it is what SDPA
        # picks for these head sizes anyway, and 20% faster than the same product written out.
        with sdpa_kernel(SDPBackend.MATH):
            attended = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return x + self.gamma * attended.squeeze(1).transpose(1, 2).reshape(b, c, h, w)


def involution_block(
    channels: int,
    kernel_size: int,
    group_channels: int,
    reduction_ratio: int,
    batch_norm: bool,
    stride: int = 1,
) -> Involution2d:
    """An Involution2d whose kernel branch uses BatchNorm + ReLU, or ReLU alone.

    ``group_channels`` is clipped to ``channels`` so narrow test networks stay valid. The layer
    keeps PyTorch's default initialisation (see :func:`igan.models.layers.keep_own_init`).
    """
    return keep_own_init(Involution2d(
        channels,
        kernel_size=kernel_size,
        stride=stride,
        group_channels=min(group_channels, channels),
        reduction_ratio=reduction_ratio,
        norm=nn.BatchNorm2d if batch_norm else None,
        act=partial(nn.ReLU, inplace=True),
    ))
