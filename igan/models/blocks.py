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

# Whether SelfAttention2d forwards take the twice-differentiable path: a ContextVar, so that it is
# seen only by the thread (or asyncio task) that set it and is restored on exit.
_double_backward: contextvars.ContextVar[bool] = contextvars.ContextVar("igan_attention_double_backward", default=False)


@contextlib.contextmanager
def double_backward_attention() -> Iterator[None]:
    """Inside the block, :class:`SelfAttention2d` forwards can be differentiated twice.

    SDPA's fused kernels (flash attention on CPU; flash, memory-efficient or cuDNN on CUDA) have
    no double backward, which gradient penalties need: WGAN-GP and R1 take D's gradient with
    respect to its input and backpropagate through that gradient. Forwards inside this block use
    :func:`igan.ops.attention.twice_differentiable_attention` (fused forward, both backward passes
    computed slice by slice); forwards outside it use SDPA's fused kernels and backward. This is
    :attr:`SelfAttention2d.double_backward_path`: a training step enters it through
    :func:`igan.models.base.double_backward`, without knowing which blocks a network holds.
    """
    token = _double_backward.set(True)
    try:
        yield
    finally:
        _double_backward.reset(token)


class SelfAttention2d(nn.Module):
    """Self-attention over all positions (Zhang et al. 2019, SAGAN), as the official code has it.

    Query and key are 1x1 convs to ``C / qk_ratio`` channels, value a 1x1 conv to
    ``C / value_ratio``; keys and values are max-pooled by ``pool`` (so each position attends over
    N / pool^2 summaries), and a 1x1 output conv maps the attended values back to C channels. The
    output is ``x + gamma * attention(x)`` with ``gamma`` initialised to 0, so the block starts
    as the identity and the network learns how much non-local context to use.

    The defaults (qk_ratio 8, value_ratio 2, pool 2) are brain-research/self-attention-gan's
    ``sn_non_local_block_sim``, which BigGAN, StudioGAN and mimicry share: at 32x32 positions
    they cut the attention's two matrix products 4x and 8x against attending over every position
    with full-width values. ``pool=1, value_ratio=1`` is the variant of heykeetae's unofficial
    PyTorch SAGAN (the public InvolutionGAN code's base): values at full width added without an
    output conv, every position attended.

    The attention runs on SDPA's fused kernels, except inside :func:`double_backward_attention`
    (gradient penalties), where it runs on :mod:`igan.ops.attention`, which can be differentiated
    twice. Both compute the same product.
    """

    keeps_own_init = True  # PyTorch's default conv init, not DCGAN's N(0, 0.02)
    #: Fused attention has no double backward: the protocol of :func:`igan.models.base.double_backward`.
    double_backward_path = staticmethod(double_backward_attention)

    def __init__(
        self, channels: int, spectral_norm: bool = True, qk_ratio: int = 8, value_ratio: int = 2, pool: int = 2
    ) -> None:
        super().__init__()
        if min(qk_ratio, value_ratio, pool) < 1:
            raise ValueError(f"qk_ratio, value_ratio and pool must be >= 1, got {qk_ratio}, {value_ratio}, {pool}")
        inner, value_channels = max(1, channels // qk_ratio), max(1, channels // value_ratio)
        self.pool = pool
        self.query = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), spectral_norm)
        self.key = maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), spectral_norm)
        self.value = maybe_sn(nn.Conv2d(channels, value_channels, 1, bias=False), spectral_norm)
        # heykeetae's variant adds full-width values directly; with narrower values the output conv
        # (the paper's W_v) brings them back to C channels.
        self.out = None if value_ratio == 1 else maybe_sn(nn.Conv2d(value_channels, channels, 1, bias=False), spectral_norm)
        self.gamma = nn.Parameter(torch.zeros(()))

    def _pooled(self, t: torch.Tensor) -> torch.Tensor:
        # Even sides pool as the official code does. ceil_mode keeps odd sides (and sides smaller
        # than the pool) valid, with a last, partial window; the official 'valid' pooling drops it.
        return F.max_pool2d(t, self.pool, ceil_mode=True) if self.pool > 1 else t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, N, C/qk_ratio)
        k = self._pooled(self.key(x)).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, N/pool^2, C/qk_ratio)
        v = self._pooled(self.value(x)).flatten(2).transpose(1, 2).unsqueeze(1)  # (B, 1, N/pool^2, C/value_ratio)
        # softmax(q k^T) v, unscaled as in SAGAN.
        if is_in_torch_dispatch_mode(include_infra_modes=False):
            # Under a dispatch mode (the model summary's FlopCounterMode) the math backend's bmm and
            # softmax count the attention's real FLOPs, where a fused kernel counts the padding, or nothing.
            with sdpa_kernel(SDPBackend.MATH):
                attended = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        elif _double_backward.get():
            # Differentiable twice, slice by slice: SDPA's math path would keep every (B, Nq, Nk)
            # intermediate for the second pass (benchmarks/attention.py compares the two).
            attended = twice_differentiable_attention(q, k, v, scale=1.0)
        else:
            # Fused kernels want one head size for q, k and v and unit-stride channels (else SDPA
            # falls back to math on CPU): zero-padding q and k to v's width leaves q k^T unchanged.
            # (Values narrower than queries, value_ratio > qk_ratio, take SDPA's math path.)
            pad = v.shape[-1] - q.shape[-1]
            if pad > 0:
                q, k = F.pad(q, (0, pad)), F.pad(k, (0, pad))
            attended = F.scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous(), scale=1.0)
        attended = attended.squeeze(1).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.gamma * (attended if self.out is None else self.out(attended))


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
