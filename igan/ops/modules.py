"""``Involution2d``: kernel generation (paper Eq. 6) + the involution operator."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from .functional import _involution_padded, _resolve_backend

__all__ = ["Involution2d", "same_padding"]


def same_padding(size: int, kernel_size: int, stride: int, dilation: int) -> tuple[int, int, int]:
    """Top/left padding, bottom/right padding and output size of "same" padding.

    The output size is always ``ceil(size / stride)`` (what ``AvgPool2d(stride,
    ceil_mode=True)`` gives the kernel branch).

    * odd ``K``: symmetric ``dilation*(K-1)//2``, as in the official code.
    * even ``K``: the total padding ``(out-1)*stride + dilation*(K-1) + 1 - size``
      can be odd; it is split TensorFlow-style, the extra row/column going to the
      bottom/right.
    """
    out = math.ceil(size / stride)
    if kernel_size % 2 == 1:
        p = dilation * (kernel_size - 1) // 2
        return p, p, out
    total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - size, 0)
    return total // 2, total - total // 2, out


class Involution2d(nn.Module):
    """Involution layer: ``y = involution(x, phi(x))`` (Li et al., CVPR 2021).

    The kernel of every output pixel is generated from that pixel's features
    (Eq. 6): ``phi = W1 sigma(W0 x)`` with ``W0`` a 1x1 conv ``C -> C/r``,
    ``sigma = norm + act`` and ``W1`` a 1x1 conv ``C/r -> K*K*G``. When
    ``stride > 1`` the kernel branch sees ``x`` average-pooled by ``stride`` (so
    there is one kernel per *output* pixel). Channels are shared in groups of
    ``group_channels`` (``G = channels / group_channels`` kernels per pixel).

    Args:
        channels: input = output channels.
        kernel_size: ``K``; any size >= 1 (even sizes get asymmetric "same" padding,
            see :func:`same_padding`).
        stride, dilation: of the involution; output spatial size is ``ceil(H/stride)``.
        group_channels: channels per kernel group; must divide ``channels``.
        reduction_ratio: ``r`` of the bottleneck ``C/r`` (at least 1 channel).
        norm: factory ``norm(num_channels) -> nn.Module`` for sigma, or ``None``.
            Default BatchNorm, as in the paper; pass ``None`` (or e.g.
            ``nn.InstanceNorm2d`` / ``partial(nn.GroupNorm, 1)``) for a critic
            trained with a gradient penalty, whose per-sample gradients batch
            statistics would couple.
        act: factory ``act() -> nn.Module`` for sigma, or ``None``; default ReLU,
            e.g. ``partial(nn.LeakyReLU, 0.2)``.
        backend: ``"auto" | "compiled" | "eager"`` for the operator; ``None`` reads
            ``$IGAN_INVOLUTION_BACKEND`` at call time.

    ``forward(x, return_kernel=True)`` also returns the generated kernel
    ``(B, G, K*K, H_out, W_out)`` (tap ``i*K + j``), for visualisation.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        group_channels: int = 16,
        reduction_ratio: int = 4,
        norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
        act: Callable[[], nn.Module] | None = nn.ReLU,
        backend: str | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("channels", channels),
            ("kernel_size", kernel_size),
            ("stride", stride),
            ("dilation", dilation),
            ("group_channels", group_channels),
            ("reduction_ratio", reduction_ratio),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Involution2d: {name} must be a positive int, got {value!r}")
        if channels % group_channels != 0:
            raise ValueError(
                f"Involution2d: group_channels={group_channels} must divide channels={channels}"
            )
        if backend is not None:
            _resolve_backend(backend)  # fail early on a typo
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation
        self.group_channels = group_channels
        self.groups = channels // group_channels
        self.backend = backend
        hidden = max(1, channels // reduction_ratio)
        # A bias right before a normalisation is cancelled by its mean
        # subtraction (a wasted parameter); keep it only when there is no norm.
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=norm is None)
        self.norm = norm(hidden) if norm is not None else nn.Identity()
        self.act = act() if act is not None else nn.Identity()
        self.span = nn.Conv2d(hidden, kernel_size * kernel_size * self.groups, 1)
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()

    def kernel(self, x: Tensor) -> Tensor:
        """The generated kernel ``(B, G, K*K, ceil(H/s), ceil(W/s))``."""
        h = self.span(self.act(self.norm(self.reduce(self.pool(x)))))
        B, _, Ho, Wo = h.shape
        return h.view(B, self.groups, self.kernel_size * self.kernel_size, Ho, Wo)

    def forward(self, x: Tensor, return_kernel: bool = False):
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"Involution2d: expected input (B, {self.channels}, H, W), got shape {tuple(x.shape)}"
            )
        w = self.kernel(x)
        H, W = x.shape[-2:]
        pt, _, Ho = same_padding(H, self.kernel_size, self.stride, self.dilation)
        pl, _, Wo = same_padding(W, self.kernel_size, self.stride, self.dilation)
        y = _involution_padded(
            x, w, self.kernel_size, self.stride, self.dilation, (pt, pl), (Ho, Wo), self.backend
        )
        return (y, w) if return_kernel else y

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"dilation={self.dilation}, groups={self.groups}"
        )
