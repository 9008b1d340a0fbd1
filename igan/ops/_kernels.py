"""Pure involution kernels: the three bilinear maps and nothing else.

Involution (Li et al., CVPR 2021, Eq. 4) is bilinear in the input ``x`` and the
generated kernel ``w``. Everything the autograd machinery needs is three maps:

* ``fwd(x, w)   -> y``  : ``y[b,c,o] = sum_k x_pad[b,c,o*s + k*d] * w[b,g(c),k,o]``
* ``tx(g, w)    -> gx`` : the adjoint of ``fwd(., w)``; the input gradient.
* ``cx(g, x)    -> gw`` : the adjoint of ``fwd(x, .)``; the kernel gradient,
  ``gw[b,g,k,o] = sum_{c in group g} g[b,c,o] * x_pad[b,c,o*s + k*d]``.

The set is closed under differentiation (see ``functional.py``), so any order of
derivative (WGAN-GP needs the second) is built from these three.

Two implementations of each map exist:

* ``*_eager``: in-place ``addcmul_`` over strided *views* of the unpadded input.
  For every kernel offset ``k`` only the output rows/cols whose input index lies
  inside the image are touched (``_valid``), so neither the padded copy nor the
  ``K*K``-times unfolded tensor (Algorithm 1 of the paper) is ever built. Peak
  extra memory is one output-sized accumulator (plus one output-sized product
  temporary for ``cx``).
* ``*_pure``: an out-of-place formulation (pad, slice, multiply, sum over the
  ``K*K`` offsets) meant to be traced by ``torch.compile``. Inductor fuses the
  pad, the strided slices and the ``K*K`` products into one loop nest (C++/OpenMP
  on CPU, Triton on CUDA) that reads ``x`` and ``w`` once and writes ``y`` once.
  Run eagerly it is correct but allocates a few output-sized temporaries.
  The CPU forward is the exception: its input is padded first (``pad_input``) and
  ``fwd_padded`` compiled alone, because the fused padding's border masks slowed the
  loop more than the extra copy costs. On CPU at stride 1 in float32/float64 none of
  these run: the C loops of :mod:`igan.ops._cpu_native` do (see ``functional.py``).

Float16/bfloat16 inputs are accumulated in float32 and the result is cast back.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "Geom",
    "fwd_eager",
    "tx_eager",
    "cx_eager",
    "fwd_pure",
    "fwd_padded",
    "pad_input",
    "tx_pure",
    "cx_pure",
]

_LOW = (torch.float16, torch.bfloat16)


class Geom(NamedTuple):
    """Static geometry of one involution call (hashable, so it can key caches).

    ``pad_h``/``pad_w`` are the top/left zero paddings; the bottom/right padding is
    implied by the output size ``(h_out, w_out)``, which allows the asymmetric
    "same" padding that even kernel sizes need. ``groups`` is the kernel's ``G``.
    """

    k: int
    groups: int
    stride: int
    dilation: int
    pad_h: int
    pad_w: int
    h: int
    w: int
    h_out: int
    w_out: int


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _LOW else dtype


def _valid(k: int, n_in: int, n_out: int, s: int, p: int, d: int) -> tuple[int, int, int]:
    """Output range touched by kernel offset ``k`` along one axis.

    Output index ``o`` reads input index ``o*s + k*d - p``. Returns ``(o0, i0, n)``:
    the first valid output index, the matching input index and the count of
    valid outputs (``n <= 0``: this offset only ever sees padding).
    """
    off = k * d - p
    lo = max(0, -(off // s))
    hi = min(n_out - 1, (n_in - 1 - off) // s)
    return lo, lo * s + off, hi - lo + 1


def _offsets(g: Geom):
    """Yield ``(tap, out_h_slice, out_w_slice, in_h_slice, in_w_slice)`` per kernel tap."""
    s = g.stride
    rows = [_valid(i, g.h, g.h_out, s, g.pad_h, g.dilation) for i in range(g.k)]
    cols = [_valid(j, g.w, g.w_out, s, g.pad_w, g.dilation) for j in range(g.k)]
    for i, (ho, hi, hn) in enumerate(rows):
        if hn <= 0:
            continue
        for j, (wo, wi, wn) in enumerate(cols):
            if wn <= 0:
                continue
            yield (
                i * g.k + j,
                slice(ho, ho + hn),
                slice(wo, wo + wn),
                slice(hi, hi + s * (hn - 1) + 1, s),
                slice(wi, wi + s * (wn - 1) + 1, s),
            )


def _grouped(t: torch.Tensor, groups: int) -> torch.Tensor:
    # Splitting one dimension is always expressible as a view, whatever the
    # strides (channels_last, transposed, expanded gradients...): no copy.
    return t.unflatten(1, (groups, t.shape[1] // groups))


# --------------------------------------------------------------------------- eager


def fwd_eager(x: torch.Tensor, w: torch.Tensor, g: Geom) -> torch.Tensor:
    B, C = x.shape[:2]
    G = w.shape[1]
    acc = _acc_dtype(x.dtype)
    xg = _grouped(x.to(acc), G)
    wa = w.to(acc)
    out = x.new_zeros((B, G, C // G, g.h_out, g.w_out), dtype=acc)
    for k, oh, ow, ih, iw in _offsets(g):
        out[:, :, :, oh, ow].addcmul_(xg[:, :, :, ih, iw], wa[:, :, k, oh, ow].unsqueeze(2))
    return out.flatten(1, 2).to(x.dtype)


def tx_eager(gy: torch.Tensor, w: torch.Tensor, g: Geom) -> torch.Tensor:
    B, C = gy.shape[:2]
    G = w.shape[1]
    acc = _acc_dtype(gy.dtype)
    gyg = _grouped(gy.to(acc), G)
    wa = w.to(acc)
    gx = gy.new_zeros((B, G, C // G, g.h, g.w), dtype=acc)
    # For a fixed tap, distinct outputs map to distinct inputs, so each in-place
    # update writes every element of the strided view at most once.
    for k, oh, ow, ih, iw in _offsets(g):
        gx[:, :, :, ih, iw].addcmul_(gyg[:, :, :, oh, ow], wa[:, :, k, oh, ow].unsqueeze(2))
    return gx.flatten(1, 2).to(gy.dtype)


def cx_eager(gy: torch.Tensor, x: torch.Tensor, g: Geom) -> torch.Tensor:
    B, groups = gy.shape[0], g.groups
    acc = _acc_dtype(gy.dtype)
    gyg = _grouped(gy.to(acc), groups)
    xg = _grouped(x.to(acc), groups)
    gw = gy.new_zeros((B, groups, g.k * g.k, g.h_out, g.w_out), dtype=acc)
    for k, oh, ow, ih, iw in _offsets(g):
        torch.sum(gyg[:, :, :, oh, ow] * xg[:, :, :, ih, iw], dim=2, out=gw[:, :, k, oh, ow])
    return gw.to(gy.dtype)


# --------------------------------------------------------------------------- pure


def pad_input(x: torch.Tensor, g: Geom) -> torch.Tensor:
    """``x`` zero-padded (or cropped) to exactly the rows and columns the taps read."""
    need_h = (g.h_out - 1) * g.stride + g.dilation * (g.k - 1) + 1
    need_w = (g.w_out - 1) * g.stride + g.dilation * (g.k - 1) + 1
    # Negative trailing pads crop rows the kernel never reaches.
    return F.pad(x, (g.pad_w, need_w - g.w - g.pad_w, g.pad_h, need_h - g.h - g.pad_h))


def _taps(xp: torch.Tensor, g: Geom):
    s, d = g.stride, g.dilation
    for i in range(g.k):
        for j in range(g.k):
            yield i * g.k + j, xp[
                ..., i * d : i * d + s * (g.h_out - 1) + 1 : s, j * d : j * d + s * (g.w_out - 1) + 1 : s
            ]


def fwd_pure(x: torch.Tensor, w: torch.Tensor, g: Geom) -> torch.Tensor:
    return fwd_padded(pad_input(x, g), w, g)


def fwd_padded(xp: torch.Tensor, w: torch.Tensor, g: Geom) -> torch.Tensor:
    """``fwd`` on an input already padded by :func:`pad_input`: every tap is an in-bounds slice.

    Compiled on its own (the padding done before, eagerly), Inductor's loop has no border masks;
    the CPU forward runs this way (see ``igan.ops.functional._compiled_call``).
    """
    G, dtype = w.shape[1], xp.dtype
    acc = _acc_dtype(dtype)
    xp = _grouped(xp.to(acc), G)
    wa = w.to(acc)
    out = None
    for k, xs in _taps(xp, g):
        term = xs * wa[:, :, k].unsqueeze(2)
        out = term if out is None else out + term
    return out.flatten(1, 2).to(dtype)


def _zero_insert(t: torch.Tensor, s: int) -> torch.Tensor:
    """(…, h, w) -> (…, (h-1)*s+1, (w-1)*s+1) with s-1 zeros between entries."""
    if s == 1:
        return t
    h, w = t.shape[-2:]
    t = t.unsqueeze(-1).unsqueeze(-3)  # (…, h, 1, w, 1)
    t = F.pad(t, (0, s - 1, 0, 0, 0, s - 1))  # (…, h, s, w, s)
    t = t.reshape(*t.shape[:-4], h * s, w * s)
    return t[..., : (h - 1) * s + 1, : (w - 1) * s + 1]


def tx_pure(gy: torch.Tensor, w: torch.Tensor, g: Geom) -> torch.Tensor:
    G = w.shape[1]
    acc = _acc_dtype(gy.dtype)
    gyg = _grouped(gy.to(acc), G)
    wa = w.to(acc)
    gx = None
    # Gather formulation: each tap's contribution is the product on its valid
    # output window, spread by the stride and zero-padded into input coordinates.
    for k, oh, ow, ih, iw in _offsets(g):
        z = _zero_insert(gyg[:, :, :, oh, ow] * wa[:, :, k, oh, ow].unsqueeze(2), g.stride)
        zh, zw = z.shape[-2:]
        z = F.pad(z, (iw.start, g.w - iw.start - zw, ih.start, g.h - ih.start - zh))
        gx = z if gx is None else gx + z
    if gx is None:  # every tap only sees padding
        return gy.new_zeros((gy.shape[0], gy.shape[1], g.h, g.w))
    return gx.flatten(1, 2).to(gy.dtype)


def cx_pure(gy: torch.Tensor, x: torch.Tensor, g: Geom) -> torch.Tensor:
    acc, groups = _acc_dtype(gy.dtype), g.groups
    gyg = _grouped(gy.to(acc), groups)
    xp = _grouped(pad_input(x.to(acc), g), groups)
    taps = [(gyg * xs).sum(2) for _, xs in _taps(xp, g)]
    return torch.stack(taps, dim=2).to(gy.dtype)
