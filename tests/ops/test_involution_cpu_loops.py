"""The CPU loops of ``igan.ops._cpu_native`` (stride 1, float32/float64/bfloat16) against the unfold reference.

They pad each (batch, group) block in cache and vectorise over flattened rows, so the cases below
cover what that layout can get wrong: maps smaller than a vector chunk (4x4, 2x3, 1x1), rows of
every length around the vector widths, padding larger or smaller than "same" (output bigger or
smaller than the input), even K, dilation, groups of one channel, channel counts that are not a
multiple of the loops' channel blocks (8, then 4, then 1), kernel tap counts around the kernel
gradient's tap blocks (9, then 4, then 1), outputs that leave input rows or columns unread, and the
second derivative in float64. The bfloat16 loops are checked bit for bit against the float32 loops on
the widened operands, rounded once.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from igan.ops import _cpu_native, involution, involution_output_size
from igan.ops._kernels import Geom
from igan.ops.functional import _involution_padded, _validate

from test_involution_op import has_cxx, make, unfold_reference

pytestmark = pytest.mark.skipif(not has_cxx(), reason="the CPU loops need a C compiler")

# (B, C, H, W, G, K, padding, dilation)
CASES = [
    pytest.param(2, 32, 4, 4, 2, 3, 1, 1, id="4x4-gc16"),
    pytest.param(2, 32, 8, 8, 2, 3, 1, 1, id="8x8-gc16"),
    pytest.param(1, 48, 16, 16, 3, 3, 1, 1, id="16x16-gc16"),
    pytest.param(2, 12, 2, 3, 4, 3, 1, 1, id="2x3-gc3"),
    pytest.param(1, 6, 1, 1, 6, 3, 1, 1, id="1x1-gc1"),
    pytest.param(2, 10, 5, 17, 2, 3, 1, 1, id="W17-gc5"),
    pytest.param(1, 8, 9, 33, 1, 5, 2, 1, id="W33-K5-gc8"),
    pytest.param(2, 8, 6, 7, 2, 3, 0, 1, id="pad0-smaller-output"),
    pytest.param(2, 8, 5, 6, 2, 3, 3, 1, id="pad3-larger-output"),
    pytest.param(1, 8, 7, 9, 2, 3, 2, 2, id="dilation2"),
    pytest.param(2, 4, 8, 10, 1, 4, 1, 1, id="evenK4"),
    pytest.param(1, 16, 8, 8, 1, 7, 3, 1, id="K7"),
    pytest.param(2, 24, 5, 7, 2, 3, 1, 1, id="5x7-gc12"),
    pytest.param(1, 26, 5, 7, 2, 5, 2, 1, id="5x7-K5-gc13"),
    pytest.param(2, 18, 7, 5, 2, 3, 2, 2, id="7x5-dilation2-gc9"),
    pytest.param(1, 14, 4, 4, 2, 7, 3, 1, id="4x4-K7-gc7"),
    pytest.param(2, 32, 3, 1, 2, 3, 1, 1, id="3x1-gc16"),
    pytest.param(1, 16, 6, 5, 1, 2, 0, 1, id="K2-gc16"),
    pytest.param(1, 16, 4, 6, 2, 1, 0, 1, id="K1-gc8"),
    pytest.param(1, 32, 12, 12, 1, 3, 1, 1, id="12x12-gc32"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("B,C,H,W,G,K,p,d", CASES)
def test_forward_and_both_gradients_match_unfold(B, C, H, W, G, K, p, d, dtype):
    x, w, gy = make(B, C, H, W, G, K, 1, p, d, dtype=dtype)
    assert _cpu_native.supports(x, w, _validate(x, w, K, 1, p, p, d))
    x.requires_grad_(True)
    w.requires_grad_(True)
    ref = unfold_reference(x, w, K, 1, p, d)
    rgx, rgw = torch.autograd.grad(ref, (x, w), gy)
    y = involution(x, w, K, 1, p, d, backend="compiled")
    gx, gw = torch.autograd.grad(y, (x, w), gy)
    assert y.dtype == gx.dtype == gw.dtype == dtype
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(gx, rgx)
    torch.testing.assert_close(gw, rgw)


@pytest.mark.parametrize("B,C,H,W,G,K,p,d", CASES)
def test_bf16_loops_are_the_float32_loops_rounded_once(B, C, H, W, G, K, p, d):
    """bf16 loads and stores, float32 arithmetic: each map equals the float32 loops on the widened
    operands rounded to bf16 (round to nearest even, as torch rounds), bit for bit."""
    x, w, gy = make(B, C, H, W, G, K, 1, p, d, dtype=torch.float32)
    geom = _validate(x, w, K, 1, p, p, d)
    x, w, gy = x.bfloat16(), w.bfloat16(), gy.bfloat16()
    assert _cpu_native.supports(x, w, geom)
    for op, a, b in (("fwd", x, w), ("tx", gy, w), ("cx", gy, x)):
        low = getattr(_cpu_native, op)(a, b, geom)
        wide = getattr(_cpu_native, op)(a.float(), b.float(), geom).bfloat16()
        assert low.dtype == torch.bfloat16
        assert torch.equal(low.view(torch.int16), wide.view(torch.int16)), op


def test_bf16_loops_split_large_batches_into_chunks_of_items():
    """Items too large to share a chunk (here one 32x32 item per chunk, three chunks, split over the
    threads) give the same bits as the float32 loops on the whole batch."""
    x, w, gy = make(3, 32, 32, 32, 2, 3, 1, 1, 1, dtype=torch.float32)
    geom = _validate(x, w, 3, 1, 1, 1, 1)
    x, w, gy = x.bfloat16(), w.bfloat16(), gy.bfloat16()
    for op, a, b in (("fwd", x, w), ("tx", gy, w), ("cx", gy, x)):
        low = getattr(_cpu_native, op)(a, b, geom)
        wide = getattr(_cpu_native, op)(a.float(), b.float(), geom).bfloat16()
        assert torch.equal(low.view(torch.int16), wide.view(torch.int16)), op


def test_bf16_rounding_and_non_finite_values():
    """Sums halfway between two bf16 values round to even; inf and NaN come out as they went in."""
    x = torch.zeros(1, 1, 1, 3)
    x[0, 0, 0, :] = torch.tensor([1.0, 2**-8, 0.0])  # 1 + 2^-8 is halfway between 1 and 1 + 2^-7
    w = torch.zeros(1, 1, 9, 1, 3)
    w[0, 0, 4, 0, 0] = 1.0  # centre tap at column 0
    w[0, 0, 5, 0, 0] = 1.0  # its right neighbour
    w[0, 0, 4, 0, 2] = float("nan")
    w[0, 0, 4, 0, 1] = float("inf")
    geom = _validate(x, w, 3, 1, 1, 1, 1)
    y = _cpu_native.fwd(x.bfloat16(), w.bfloat16(), geom).float()
    assert y[0, 0, 0, 0].item() == 1.0  # 1 + 2^-8 rounds to the even neighbour 1.0
    assert y[0, 0, 0, 1].item() == float("inf")
    assert y[0, 0, 0, 2].isnan()


def test_bf16_autocast_routes_to_the_loops_and_returns_bf16():
    """Under CPU bf16 autocast (``--trainer.precision=bf16-mixed``) the op runs the bf16 loops in
    both directions and its gradients come back in the leaves' dtype."""
    x, w, gy = make(2, 32, 8, 8, 2, 3, 1, 1, 1, dtype=torch.float32)
    x.requires_grad_(True)
    w.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = involution(x, w, 3, 1, 1, backend="compiled")
    assert y.dtype == torch.bfloat16
    gx, gw = torch.autograd.grad(y, (x, w), gy.bfloat16())
    assert gx.dtype == gw.dtype == torch.float32
    geom = _validate(x, w, 3, 1, 1, 1, 1)
    assert torch.equal(y, _cpu_native.fwd(x.detach().bfloat16(), w.detach().bfloat16(), geom))
    ref = unfold_reference(x.detach().double(), w.detach().double(), 3, 1, 1)
    torch.testing.assert_close(y.double(), ref, atol=0.1, rtol=0.03)


def test_asymmetric_padding_of_even_kernels():
    """Involution2d's "same" padding for K = 4: top/left (1, 2), bottom/right (2, 1)."""
    x, _, gy = make(2, 8, 7, 9, 2, 4)
    w = torch.randn(2, 2, 16, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    gy = torch.randn(2, 8, 7, 9, dtype=torch.float64)
    outs = {}
    for backend in ("eager", "compiled"):
        xl, wl = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = _involution_padded(xl, wl, 4, 1, 1, (1, 2), (7, 9), backend=backend)
        outs[backend] = (y, *torch.autograd.grad(y, (xl, wl), gy))
    for a, b in zip(outs["compiled"], outs["eager"]):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "C,H,W,G,K,p,d",
    [(2, 4, 4, 1, 3, 1, 1), (2, 2, 3, 1, 3, 1, 1), (5, 3, 5, 1, 3, 2, 2), (5, 3, 4, 1, 5, 2, 1), (2, 3, 4, 1, 3, 0, 1)],
    ids=["4x4", "2x3", "3x5-dilation2-gc5", "3x4-K5-gc5", "pitched-pad0"],
)
def test_gradgradcheck_on_small_maps(C, H, W, G, K, p, d):
    """Double backward (WGAN-GP) goes through the same three loops in float64."""
    x, w, _ = make(1, C, H, W, G, K, 1, p, d)
    x.requires_grad_(True)
    w.requires_grad_(True)
    fn = partial(involution, kernel_size=K, stride=1, padding=p, dilation=d, backend="compiled")
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "pad,out,rows,cols",
    [((1, 0), (5, 6), 6, 8), ((1, 1), (5, 11), 6, 11)],
    ids=["pitched", "same-width"],
)
def test_outputs_smaller_than_the_input_leave_it_unread(dtype, pad, out, rows, cols):
    """An explicit output size that reads neither the last input rows (nor columns): their gradient is 0.
    Both layouts: re-pitched rows (output narrower than the input) and same-width maps."""
    x, _, _ = make(2, 24, 9, 11, 2, 3, dtype=dtype)
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(2, 2, 9, *out, dtype=dtype, generator=gen)
    gy = torch.randn(2, 24, *out, dtype=dtype, generator=gen)
    outs = {}
    for backend in ("eager", "compiled"):
        xl, wl = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = _involution_padded(xl, wl, 3, 1, 1, pad, out, backend=backend)
        outs[backend] = (y, *torch.autograd.grad(y, (xl, wl), gy))
    for a, b in zip(outs["compiled"], outs["eager"]):
        torch.testing.assert_close(a, b)
    assert not outs["compiled"][1][..., rows:, :].any() and not outs["compiled"][1][..., cols:].any()


@pytest.mark.parametrize("H,W", [(4, 4), (5, 7)])
def test_non_finite_values_spread_like_the_reference(H, W):
    """An inf at the right edge of the input and of the output gradient: the same-width layout reads
    across row ends and masks those lanes, so no inf leaks into the next row (forward, input and
    kernel gradients have NaN and inf exactly where the unfold reference has them)."""
    x, w, gy = make(1, 16, H, W, 1, 3, 1, 1, 1)
    x[0, 3, 1, W - 1] = float("inf")
    gy[0, 5, 2, W - 1] = float("inf")
    w[0, 0, 4, 0, W - 1] = float("-inf")
    x.requires_grad_(True)
    w.requires_grad_(True)
    ref = unfold_reference(x, w, 3, 1, 1)
    rgx, rgw = torch.autograd.grad(ref, (x, w), gy)
    y = involution(x, w, 3, 1, 1, backend="compiled")
    gx, gw = torch.autograd.grad(y, (x, w), gy)
    for a, b in ((y, ref), (gx, rgx), (gw, rgw)):
        torch.testing.assert_close(a, b, equal_nan=True)


@pytest.mark.parametrize("op", ["fwd", "tx", "cx"])
def test_scratch_allocation_failure_is_a_runtime_error(op):
    """A scratch that cannot be allocated (here: exabytes, for empty tensors of a huge map) raises
    RuntimeError, which the auto backend turns into eager, instead of dereferencing NULL."""
    n = 1 << 28
    geom = Geom(1, 1, 1, 1, 0, 0, n, n, n, n)  # K 1, one group, stride 1, dilation 1, no padding
    a = torch.empty(0, 16, n, n)
    b = torch.empty(0, 1, 1, n, n) if op != "cx" else torch.empty(0, 16, n, n)
    with pytest.raises(RuntimeError, match="could not allocate"):
        getattr(_cpu_native, op)(a, b, geom)


def test_non_contiguous_and_expanded_inputs():
    x, w, gy = make(2, 32, 8, 8, 2, 3, 1, 1, 1)
    xc = x.contiguous(memory_format=torch.channels_last)
    we = w[:1].expand(2, -1, -1, -1, -1)
    ref = unfold_reference(x, we, 3, 1, 1)
    torch.testing.assert_close(involution(xc, we, 3, 1, 1, backend="compiled"), ref)


def test_threads_split_the_blocks_without_changing_the_result():
    x, w, _ = make(4, 64, 16, 15, 4, 3, 1, 1, 1, dtype=torch.float32)
    geom = _validate(x, w, 3, 1, 1, 1, 1)
    assert x.numel() * 9 >= 2 * _cpu_native._WORK_PER_THREAD  # big enough for two threads
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _cpu_native.fwd(x, w, geom)
        torch.set_num_threads(2)
        two = _cpu_native.fwd(x, w, geom)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
    torch.testing.assert_close(one, unfold_reference(x, w, 3, 1, 1))


def test_build_failure_is_a_runtime_error(monkeypatch, tmp_path):
    """A compiler that fails surfaces as RuntimeError (which the auto backend turns into eager)."""
    monkeypatch.setattr(_cpu_native, "_lib", None)
    monkeypatch.setenv("IGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    monkeypatch.setattr(_cpu_native, "_compiler", lambda: "/bin/false")
    with pytest.raises(RuntimeError, match="building the CPU loops failed"):
        _cpu_native._get()
    assert not list(tmp_path.glob("*.so"))  # no half-built library left behind


def test_output_size_helper_agrees_with_the_loops():
    x, w, _ = make(1, 4, 6, 6, 1, 3, 1, 0, 1)
    assert involution(x, w, 3, backend="compiled").shape[-1] == involution_output_size(6, 3)
