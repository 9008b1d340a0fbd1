"""Dot-product attention that can be differentiated twice without holding the (B, Nq, Nk) matrices.

Gradient penalties (WGAN-GP, R1) take D's gradient with respect to its input and backpropagate
through it. SDPA's fused kernels have no double backward, and its math path records every
(B, Nq, Nk) intermediate of forward and backward for the second pass: at SAGAN's larger sizes
those matrices are large, and the CPU spends the penalty step paging in fresh memory for them.
``benchmarks/attention.py`` compares the two paths (docs/lab/performance.md has its numbers).

Here the backward is itself an autograd function that works one slice of the batch at a time
(slices sized to stay in cache) and recomputes the softmax instead of storing it, as flash
attention does; its own backward (the second derivative) recomputes each slice's first
backward under autograd and differentiates it. Nothing of size Nq x Nk outlives a slice.
A third derivative is not supported (``once_differentiable``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.nn.attention import SDPBackend, sdpa_kernel

# Bytes of one slice's (b, Nq, Nk) matrix: a few of them live at once, so a slice stays in a CPU's
# L2/L3 cache. GPUs gain from larger slices (fewer launches), hence the larger default there.
SLICE_BYTES = {"cpu": 4 << 20, "default": 256 << 20}
# Up to this size of one whole (B, Nq, Nk) float32 matrix SDPA's math path is used instead: it
# stores its matrices but recomputes nothing, which is as fast while they are small (SAGAN's
# official block at 32 px); above it the CPU pays for fresh pages and the slices win
# (benchmarks/attention.py measures both sides of the threshold).
MATH_PATH_MAX_BYTES = {"cpu": 8 << 20, "default": 1 << 30}


def _slices(q: torch.Tensor, k: torch.Tensor):
    """Batch slices whose (b, Nq, Nk) float32 matrix fits in the device's slice budget."""
    budget = SLICE_BYTES.get(q.device.type, SLICE_BYTES["default"])
    per_item = q.shape[-2] * k.shape[-2] * 4
    step = max(1, budget // per_item)
    return [slice(i, i + step) for i in range(0, q.shape[0], step)]


def _no_autocast(t: torch.Tensor):
    """Backward passes run under the caller's autocast (a penalty's ``autograd.grad`` inside a bf16
    training step): without this, both derivatives would be computed in bf16 and lose precision."""
    return torch.autocast(t.device.type, enabled=False)


def _attention_grads(q, k, v, grad_out):
    """(dq, dk, dv) of ``softmax(q k^T) v`` for one slice, written in differentiable ops.

    No (N, N) matrix is transposed (``q^T grad_s`` rather than ``grad_s^T q``): the gradients of a
    transposed view come back transposed, and adding those to row-major ones walks N x N memory
    by columns, which makes the second derivative several times slower.
    """
    p = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    grad_p = grad_out @ v.transpose(-2, -1)
    grad_s = p * (grad_p - (grad_p * p).sum(-1, keepdim=True))  # softmax's Jacobian-vector product
    grad_k = (q.transpose(-2, -1) @ grad_s).transpose(-2, -1)
    grad_v = (grad_out.transpose(-2, -1) @ p).transpose(-2, -1)
    return grad_s @ k, grad_k, grad_v


class _AttentionBackward(torch.autograd.Function):
    """The first derivative of attention as a function of (q, k, v, grad_out), with its own backward."""

    @staticmethod
    def forward(ctx, q, k, v, grad_out):
        ctx.save_for_backward(q, k, v, grad_out)
        ctx.set_materialize_grads(False)
        grads = [torch.empty_like(t) for t in (q, k, v)]
        with _no_autocast(q):
            for s in _slices(q, k):
                for out, g in zip(grads, _attention_grads(q[s], k[s], v[s], grad_out[s])):
                    out[s] = g
        return tuple(grads)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grad_grads):
        inputs = ctx.saved_tensors
        results = [torch.zeros_like(t) for t in inputs]
        # Unused outputs arrive as None: they contribute nothing to the vector-Jacobian product.
        used = [i for i, g in enumerate(grad_grads) if g is not None]
        for s in _slices(inputs[0], inputs[1]):
            with torch.enable_grad(), _no_autocast(inputs[0]):
                leaves = [t[s].detach().requires_grad_() for t in inputs]
                outputs = _attention_grads(*leaves)
                parts = torch.autograd.grad(
                    [outputs[i] for i in used], leaves, [grad_grads[i][s] for i in used], allow_unused=True
                )
            for result, part in zip(results, parts):
                if part is not None:
                    result[s] = part
        return tuple(results)


class _Attention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v):
        ctx.save_for_backward(q, k, v)
        # The fused kernel wants 4-D inputs and one head size (else SDPA takes its math path):
        # zero-padding q and k to v's head size leaves q k^T unchanged.
        pad = v.shape[-1] - q.shape[-1]
        if pad > 0:
            q, k = F.pad(q, (0, pad)), F.pad(k, (0, pad))
        return F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), scale=1.0).squeeze(1)

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v = ctx.saved_tensors
        with _no_autocast(q):
            return _AttentionBackward.apply(q, k, v, grad_out.to(q.dtype).contiguous())


def twice_differentiable_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """``softmax(scale * q k^T) v`` over the last two dims, differentiable twice in O(slice) memory.

    ``q``: (..., Nq, d), ``k``: (..., N, d), ``v``: (..., N, dv); leading dims broadcast, then are
    flattened into one batch.
    ``scale`` defaults to ``1 / sqrt(d)`` as in SDPA; SAGAN uses 1. Computed in float32 or wider
    (autocast off inside, in both backward passes too), returned in ``v``'s dtype: the softmax of a
    bf16 product loses the small logits. The forward runs SDPA's fused kernel; both backward passes
    work slice by slice. Small problems
    (``MATH_PATH_MAX_BYTES``) go to SDPA's math path, which is faster where its matrices are cheap.
    """
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    lead, dtype = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]), v.dtype
    compute = torch.promote_types(torch.promote_types(q.dtype, k.dtype), torch.promote_types(dtype, torch.float32))
    with _no_autocast(q):
        q, k, v = (t.expand(*lead, *t.shape[-2:]).to(compute) for t in (q, k, v))  # broadcast as SDPA does
        # Unit-stride rows: SDPA's fused kernel needs them, and the slices' matmuls run faster on them.
        q3, k3, v3 = (t.reshape(-1, *t.shape[-2:]).contiguous() for t in (q * scale if scale != 1 else q, k, v))
        matrix_bytes = q3.shape[0] * q3.shape[1] * k3.shape[1] * 4
        if matrix_bytes <= MATH_PATH_MAX_BYTES.get(q.device.type, MATH_PATH_MAX_BYTES["default"]):
            with sdpa_kernel(SDPBackend.MATH):
                out = F.scaled_dot_product_attention(q3, k3, v3, scale=1.0)
        else:
            out = _Attention.apply(q3, k3, v3)
    return out.reshape(*lead, *out.shape[-2:]).to(dtype)
