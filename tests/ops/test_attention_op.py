"""Tests of igan.ops.attention: first and second derivatives against SDPA's math path, in slices."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from igan.ops import attention
from igan.ops.attention import twice_differentiable_attention


def math_attention(q, k, v, scale=None):
    """SDPA's math backend: built from differentiable ops, the reference for both derivatives."""
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, scale=scale)


def qkv(batch, n, d, dv, dtype=torch.float32, heads=1, seed=0, n_kv=None):
    """Queries at ``n`` positions; keys and values at ``n_kv`` (default ``n``)."""
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: torch.randn(*s, generator=g, dtype=dtype).requires_grad_()  # noqa: E731
    n_kv = n if n_kv is None else n_kv
    return make(batch, heads, n, d), make(batch, heads, n_kv, d), make(batch, heads, n_kv, dv)


@pytest.fixture(autouse=True)
def sliced_path(monkeypatch):
    """Every size takes the sliced path here (small ones go to SDPA's math path by default)."""
    monkeypatch.setitem(attention.MATH_PATH_MAX_BYTES, "cpu", 0)


@pytest.mark.parametrize("n_kv", [5, 3], ids=["self", "fewer-keys"])
@pytest.mark.parametrize("scale", [None, 1.0])
def test_first_and_second_derivatives_pass_gradcheck(monkeypatch, scale, n_kv):
    monkeypatch.setitem(attention.SLICE_BYTES, "cpu", 2 * 5 * n_kv * 4)  # two items' (5, n_kv) matrices
    assert attention._slices(torch.zeros(3, 5, 2), torch.zeros(3, n_kv, 2)) == [slice(0, 2), slice(2, 4)]
    q, k, v = qkv(3, 5, 2, 3, dtype=torch.float64, n_kv=n_kv)  # 3 items in slices of 2: a last, short slice too
    fn = lambda q, k, v: twice_differentiable_attention(q, k, v, scale=scale)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v))
    assert torch.autograd.gradgradcheck(fn, (q, k, v))


def _penalty_grads(fn, q, k, v, weight):
    """What a gradient penalty does: first derivatives with create_graph, then a loss on them, backward."""
    out = fn(q, k, v)
    grads = torch.autograd.grad((out * weight).sum(), (q, k, v), create_graph=True)
    penalty = sum(g.square().sum() for g in grads)
    return out, grads, torch.autograd.grad(penalty, (q, k, v))


@pytest.mark.parametrize("n_kv, dv", [(64, 32), (256, 64)], ids=["official", "full-width"])
def test_matches_sdpa_math_in_value_first_and_second_derivatives(n_kv, dv):
    """SAGAN's shapes at 16x16 positions, C = 64, unscaled, float32: query/key C/8 with keys and
    values pooled to 8x8 and values C/2 (the official block), or nothing pooled and values C."""
    q, k, v = qkv(3, 256, 8, dv, n_kv=n_kv)
    weight = torch.randn(3, 1, 256, dv, generator=torch.Generator().manual_seed(1))
    ours = _penalty_grads(lambda *t: twice_differentiable_attention(*t, scale=1.0), q, k, v, weight)
    reference = _penalty_grads(lambda *t: math_attention(*t, scale=1.0), q, k, v, weight)
    torch.testing.assert_close(ours[0], reference[0], rtol=1e-5, atol=1e-5)
    for a, b in zip(ours[1] + ours[2], reference[1] + reference[2]):  # sums over many positions
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * b.abs().max().item())


def test_slicing_does_not_change_the_result(monkeypatch):
    q, k, v = qkv(4, 32, 4, 8)
    weight = torch.randn(4, 1, 32, 8)
    fn = lambda *t: twice_differentiable_attention(*t, scale=1.0)  # noqa: E731
    whole = _penalty_grads(fn, q, k, v, weight)
    monkeypatch.setitem(attention.SLICE_BYTES, "cpu", 1)  # one item per slice
    sliced = _penalty_grads(fn, q, k, v, weight)
    for a, b in zip([whole[0], *whole[1], *whole[2]], [sliced[0], *sliced[1], *sliced[2]]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_kv", [64, 16], ids=["self", "pooled-keys"])
def test_no_position_by_position_matrix_is_kept_for_the_second_derivative(n_kv):
    """The point of the op: SDPA's math path saves (B, Nq, Nk) matrices for the penalty's backward, ours none."""
    n = 64

    def saved_matrix_sizes(fn):
        sizes = []

        def pack(t):
            if t.dim() >= 2 and {t.shape[-2], t.shape[-1]} == {n, n_kv}:
                sizes.append(t.numel())
            return t

        q, k, v = qkv(4, n, 8, 24, n_kv=n_kv)  # dv differs from both n and n_kv
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fn(q, k, v)
            torch.autograd.grad(out.square().sum(), (q, k, v), create_graph=True)
        return sizes

    assert saved_matrix_sizes(lambda *t: math_attention(*t, scale=1.0))  # the reference keeps them
    assert saved_matrix_sizes(lambda *t: twice_differentiable_attention(*t, scale=1.0)) == []


def test_leading_dims_and_reduced_precision_inputs():
    """(B, heads, N, d) inputs; under bf16 autocast the softmax still runs in float32 and v's dtype returns."""
    q, k, v = qkv(2, 3 * 16, 4, 8, heads=3)
    out = twice_differentiable_attention(q, k, v)
    torch.testing.assert_close(out, math_attention(q, k, v), rtol=1e-5, atol=1e-5)
    assert out.shape == (2, 3, 48, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = twice_differentiable_attention(q, k, v.bfloat16())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), out, rtol=2e-2, atol=2e-2)


def test_a_third_derivative_is_refused_not_silently_wrong():
    q, k, v = qkv(2, 8, 2, 3, dtype=torch.float64)
    out = twice_differentiable_attention(q, k, v)
    (gq,) = torch.autograd.grad(out.sum(), q, create_graph=True)
    (gqq,) = torch.autograd.grad(gq.square().sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gqq.sum().backward()


def test_small_problems_take_sdpa_math_path_with_the_same_derivatives(monkeypatch):
    q, k, v = qkv(3, 64, 8, 16)
    weight = torch.randn(3, 1, 64, 16)
    fn = lambda *t: twice_differentiable_attention(*t, scale=1.0)  # noqa: E731
    sliced = _penalty_grads(fn, q, k, v, weight)
    monkeypatch.setitem(attention.MATH_PATH_MAX_BYTES, "cpu", 3 * 64 * 64 * 4)
    small = _penalty_grads(fn, q, k, v, weight)
    for a, b in zip([sliced[0], *sliced[1], *sliced[2]], [small[0], *small[1], *small[2]]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


def test_both_derivatives_stay_float32_under_autocast():
    """A penalty inside a bf16 training step differentiates under autocast: the slices must not follow it."""
    q, k, v = qkv(2, 32, 4, 8)
    weight = torch.randn(2, 1, 32, 8)
    fn = lambda *t: twice_differentiable_attention(*t, scale=1.0)  # noqa: E731
    plain = _penalty_grads(fn, q, k, v, weight)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = _penalty_grads(fn, q, k, v, weight)
    for a, b in zip([under_autocast[0], *under_autocast[1], *under_autocast[2]], [plain[0], *plain[1], *plain[2]]):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_leading_dims_broadcast_as_in_sdpa():
    q = torch.randn(3, 2, 16, 4, requires_grad=True)
    k = torch.randn(1, 2, 16, 4, requires_grad=True)
    v = torch.randn(1, 1, 16, 5, requires_grad=True)
    weight = torch.randn(3, 2, 16, 5)
    ours = _penalty_grads(twice_differentiable_attention, q, k, v, weight)
    reference = _penalty_grads(math_attention, q, k, v, weight)
    for a, b in zip([ours[0], *ours[1], *ours[2]], [reference[0], *reference[1], *reference[2]]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


@pytest.mark.cuda
@pytest.mark.parametrize("n_kv, dv", [(64, 32), (256, 64)], ids=["official", "full-width"])
@pytest.mark.parametrize("path", ["sliced", "math"])
def test_cuda_matches_the_float64_reference_in_both_derivatives(monkeypatch, path, n_kv, dv):
    """On a GPU the forward is SDPA's fused CUDA kernel and the slices run as cuBLAS products: value,
    first and second derivatives at SAGAN's 16x16 shapes against SDPA's math path in float64 on the CPU."""
    monkeypatch.setitem(attention.MATH_PATH_MAX_BYTES, "cuda", 0 if path == "sliced" else 1 << 30)
    monkeypatch.setitem(attention.SLICE_BYTES, "cuda", 2 * 256 * n_kv * 4)  # slices of two items
    q, k, v = qkv(5, 256, 8, dv, dtype=torch.float64, n_kv=n_kv)
    weight = torch.randn(5, 1, 256, dv, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = _penalty_grads(lambda *t: math_attention(*t, scale=1.0), q, k, v, weight)
    on_gpu = [t.detach().float().cuda().requires_grad_(True) for t in (q, k, v)]
    ours = _penalty_grads(lambda *t: twice_differentiable_attention(*t, scale=1.0), *on_gpu, weight.float().cuda())
    torch.testing.assert_close(ours[0].cpu().double(), reference[0], rtol=1e-4, atol=1e-5)
    for a, b in zip(ours[1] + ours[2], reference[1] + reference[2]):
        assert a.is_cuda and a.dtype == torch.float32
        torch.testing.assert_close(a.cpu().double(), b, rtol=1e-3, atol=1e-4 * b.abs().max().item())


@pytest.mark.cuda
def test_cuda_value_and_derivatives_stay_float32_under_bf16_autocast(monkeypatch):
    monkeypatch.setitem(attention.MATH_PATH_MAX_BYTES, "cuda", 0)
    q, k, v = (t.detach().cuda().requires_grad_(True) for t in qkv(2, 64, 8, 16))
    weight = torch.randn(2, 1, 64, 16, device="cuda")
    fn = lambda *t: twice_differentiable_attention(*t, scale=1.0)  # noqa: E731
    plain = _penalty_grads(fn, q, k, v, weight)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        under_autocast = _penalty_grads(fn, q, k, v, weight)
    for a, b in zip([under_autocast[0], *under_autocast[1], *under_autocast[2]], [plain[0], *plain[1], *plain[2]]):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * b.abs().max().item())
