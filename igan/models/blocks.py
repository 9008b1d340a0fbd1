"""Layers inserted into the DCGAN backbone: self-attention (SAGAN) and involution (IDCGAN)."""

from __future__ import annotations

import contextlib
import contextvars
from functools import partial
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from igan.models.layers import keep_own_init, maybe_sn
from igan.ops import Involution2d
from igan.ops.attention import twice_differentiable_attention

_double_backward: contextvars.ContextVar[bool] = contextvars.ContextVar("igan_attention_double_backward", default=False)


@contextlib.contextmanager
def double_backward_attention(enabled: bool = True) -> Iterator[None]:
    """Inside the block, :class:`SelfAttention2d` forwards can be differentiated twice.

    SDPA's fused kernels (flash attention on CPU; flash, memory-efficient or cuDNN on CUDA) have
    no double backward, which gradient penalties need: WGAN-GP and R1 take D's gradient with
    respect to its input and backpropagate through that gradient. Forwards inside this block
    use :func:`igan.ops.attention.twice_differentiable_attention` (fused forward, both backward
    passes computed slice by slice); forwards outside it use SDPA's fused kernels and backward. Enter it around
    the discriminator forwards a penalty differentiates, and only those (as :class:`igan.gan.GAN`
    does); ``enabled=False`` makes it a no-op, for conditional use.

    The flag is a :class:`contextvars.ContextVar`: it is seen only by the thread (or asyncio
    task) that entered the block, is restored on exit, also on an exception, and a nested
    ``enabled=False`` does not switch off an enclosing block.
    """
    token = _double_backward.set(enabled or _double_backward.get())
    try:
        yield
    finally:
        _double_backward.reset(token)


def attention_double_backward_enabled() -> bool:
    """Whether :class:`SelfAttention2d` forwards run now take the twice-differentiable path."""
    return _double_backward.get()


class SelfAttention2d(nn.Module):
    """Self-attention over all positions (Zhang et al. 2019, SAGAN).

    Query and key are 1x1 convs to C/8 channels, value a 1x1 conv to C; the output is
    ``x + gamma * attention(x)`` with ``gamma`` initialised to 0, so the block starts as the
    identity and the network learns how much non-local context to use.

    The attention runs on SDPA's fused kernels, except inside :func:`double_backward_attention`
    (gradient penalties), where it runs on :mod:`igan.ops.attention`, which can be differentiated
    twice. Both compute the same product.
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
        # softmax(q k^T) v, unscaled as in SAGAN.
        if is_in_torch_dispatch_mode(include_infra_modes=False):
            # Under a dispatch mode (the model summary's FlopCounterMode) the math backend's bmm and
            # softmax count the attention's real FLOPs, where a fused kernel counts the padding, or nothing.
            with sdpa_kernel(SDPBackend.MATH):
                attended = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        elif _double_backward.get():
            # Differentiable twice, slice by slice: SDPA's math path would keep every (B, N, N)
            # intermediate for the second pass (1.6x slower at 64 px, 3 GiB; benchmarks/attention.py).
            attended = twice_differentiable_attention(q, k, v, scale=1.0)
        else:
            # Fused kernels want one head size for q, k and v and unit-stride channels (else SDPA
            # falls back to math on CPU): zero-padding q and k from C/8 to C leaves q k^T unchanged.
            pad = c - q.shape[-1]
            attended = F.scaled_dot_product_attention(F.pad(q, (0, pad)), F.pad(k, (0, pad)), v.contiguous(), scale=1.0)
        return x + self.gamma * attended.squeeze(1).transpose(1, 2).reshape(b, c, h, w)


def involution_block(
    channels: int,
    kernel_size: int,
    group_channels: int,
    reduction_ratio: int,
    batch_norm: bool,
    stride: int = 1,
    spectral_norm: bool = False,
) -> Involution2d:
    """An Involution2d whose kernel branch uses BatchNorm + ReLU, or ReLU alone.

    ``spectral_norm`` wraps the kernel branch's two 1x1 convs (reduce, span), as SAGAN's
    attention has it on its projections; off by default, following the public InvolutionGAN code,
    whose ablation saw normalisation inside the kernel branch hurt. ``group_channels`` is clipped
    to ``channels`` so narrow test networks stay valid. The layer keeps PyTorch's default
    initialisation (see :func:`igan.models.layers.keep_own_init`).
    """
    layer = keep_own_init(Involution2d(
        channels,
        kernel_size=kernel_size,
        stride=stride,
        group_channels=min(group_channels, channels),
        reduction_ratio=reduction_ratio,
        norm=nn.BatchNorm2d if batch_norm else None,
        act=partial(nn.ReLU, inplace=True),
    ))
    layer.reduce = maybe_sn(layer.reduce, spectral_norm)
    layer.span = maybe_sn(layer.span, spectral_norm)
    return layer
