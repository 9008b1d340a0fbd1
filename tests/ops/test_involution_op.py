"""Tests of igan.ops: the involution operator against the paper's unfold formulation.

Everything runs on the eager backend except the few ``compiled`` tests, which use
tiny shapes (each new shape/dtype costs a few seconds of Inductor compilation).
"""

from __future__ import annotations

import shutil
import warnings
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from igan.ops import Involution2d, involution, involution_output_size
from igan.ops import functional as inv_functional
from igan.ops.functional import _involution_padded


def unfold_reference(x, w, kernel_size, stride=1, padding=0, dilation=1):
    """Algorithm 1 of Li et al. (CVPR 2021): unfold K*K copies, multiply, sum."""
    B, C, H, W = x.shape
    G = w.shape[1]
    Ho, Wo = w.shape[-2:]
    u = F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)
    u = u.view(B, G, C // G, kernel_size * kernel_size, Ho, Wo)
    return (u * w.unsqueeze(2)).sum(3).view(B, C, Ho, Wo)


def make(B, C, H, W, G, K, s=1, p=0, d=1, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    Ho = involution_output_size(H, K, s, p, d)
    Wo = involution_output_size(W, K, s, p, d)
    x = torch.randn(B, C, H, W, dtype=dtype, generator=gen)
    w = torch.randn(B, G, K * K, Ho, Wo, dtype=dtype, generator=gen)
    gy = torch.randn(B, C, Ho, Wo, dtype=dtype, generator=gen)
    return x, w, gy


def has_cxx() -> bool:
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


# (B, C, H, W, G, K, stride, padding, dilation)
CASES = [
    pytest.param(2, 8, 7, 9, 2, 3, 1, 1, 1, id="HneW-K3-same"),
    pytest.param(2, 8, 9, 7, 2, 3, 1, 0, 1, id="pad0"),
    pytest.param(2, 4, 8, 10, 1, 4, 1, 1, 1, id="evenK4-G1"),
    pytest.param(1, 6, 9, 8, 6, 2, 1, 0, 1, id="evenK2-G=C-batch1"),
    pytest.param(2, 8, 11, 9, 4, 3, 2, 1, 1, id="stride2"),
    pytest.param(2, 8, 10, 12, 2, 3, 1, 2, 2, id="dilation2"),
    pytest.param(1, 4, 13, 11, 2, 5, 3, 2, 2, id="stride3-dil2-K5"),
    pytest.param(2, 4, 9, 10, 1, 4, 2, 0, 2, id="evenK-stride2-dil2-pad0"),
    pytest.param(2, 4, 5, 6, 4, 3, 1, 3, 1, id="pad-larger-than-kernel"),
    pytest.param(1, 16, 8, 8, 1, 7, 1, 3, 1, id="K7"),
    pytest.param(2, 3, 6, 5, 3, 1, 1, 0, 1, id="K1"),
]


@pytest.mark.parametrize("B,C,H,W,G,K,s,p,d", CASES)
def test_matches_unfold_reference(B, C, H, W, G, K, s, p, d):
    x, w, gy = make(B, C, H, W, G, K, s, p, d)
    x.requires_grad_(True)
    w.requires_grad_(True)
    ref = unfold_reference(x, w, K, s, p, d)
    rgx, rgw = torch.autograd.grad(ref, (x, w), gy)
    y = involution(x, w, K, s, p, d, backend="eager")
    assert y.shape == ref.shape == (B, C, involution_output_size(H, K, s, p, d), involution_output_size(W, K, s, p, d))
    gx, gw = torch.autograd.grad(y, (x, w), gy)
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(gx, rgx)
    torch.testing.assert_close(gw, rgw)


def test_float32_matches_reference():
    x, w, gy = make(2, 32, 12, 10, 2, 3, 1, 1, 1, dtype=torch.float32)
    x.requires_grad_(True)
    w.requires_grad_(True)
    ref = unfold_reference(x, w, 3, 1, 1)
    rg = torch.autograd.grad(ref, (x, w), gy)
    y = involution(x, w, 3, 1, 1, backend="eager")
    g = torch.autograd.grad(y, (x, w), gy)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, ref)
    for a, b in zip(g, rg):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layout", ["transposed", "sliced", "channels_last", "expanded_weight"])
def test_non_contiguous_inputs(layout):
    B, C, H, W, G, K, p = 2, 8, 9, 7, 2, 3, 1
    x, w, gy = make(B, C, H, W, G, K, 1, p)
    if layout == "transposed":
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif layout == "sliced":
        big = torch.randn(B, 2 * C, H + 3, W + 4, dtype=x.dtype)
        big[:, ::2, 1 : H + 1, 2 : W + 2] = x
        x = big[:, ::2, 1 : H + 1, 2 : W + 2]
    elif layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        w = w[:1].expand(B, -1, -1, -1, -1)
    assert layout == "expanded_weight" or not x.is_contiguous()
    xr = x.detach().clone().contiguous().requires_grad_(True)
    wr = w.detach().clone().contiguous().requires_grad_(True)
    xl = x.detach().requires_grad_(True)
    wl = w.detach().requires_grad_(True)
    ref = unfold_reference(xr, wr, K, 1, p)
    y = involution(xl, wl, K, 1, p, backend="eager")
    torch.testing.assert_close(y, ref)
    for a, b in zip(torch.autograd.grad(y, (xl, wl), gy), torch.autograd.grad(ref, (xr, wr), gy)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "B,C,H,W,G,K,s,p,d",
    [(1, 2, 5, 4, 1, 3, 1, 1, 1), (2, 2, 6, 5, 2, 2, 2, 1, 2)],
    ids=["K3-same", "evenK-stride2-dil2"],
)
def test_gradcheck_and_gradgradcheck(B, C, H, W, G, K, s, p, d):
    x, w, _ = make(B, C, H, W, G, K, s, p, d)
    x.requires_grad_(True)
    w.requires_grad_(True)
    fn = partial(involution, kernel_size=K, stride=s, padding=p, dilation=d, backend="eager")
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


def _critic(channels=16, backend="eager"):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.LeakyReLU(0.2),
        Involution2d(channels, 3, group_channels=8, norm=None, act=partial(nn.LeakyReLU, 0.2), backend=backend),
        nn.LeakyReLU(0.2),
        Involution2d(channels, 4, stride=2, group_channels=8, norm=None, act=partial(nn.LeakyReLU, 0.2), backend=backend),
        nn.Flatten(),
        nn.LazyLinear(1),
    ).double()


class _RefInvolution(nn.Module):
    """Same parameters as an Involution2d (odd K, stride 1) but the unfold formula."""

    def __init__(self, inv: Involution2d):
        super().__init__()
        self.inv = inv

    def forward(self, x):
        k = self.inv.kernel(x)
        K = self.inv.kernel_size
        return unfold_reference(x, k, K, 1, K // 2, 1)


def _gp_param_grads(critic, x):
    x = x.clone().requires_grad_(True)
    out = critic(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    gp = ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
    loss = out.mean() + 10 * gp
    loss.backward()
    return {n: p.grad.clone() for n, p in critic.named_parameters()}


def test_gradient_penalty_through_involution():
    """WGAN-GP: grad of D wrt its input with create_graph, then backward (double backward)."""
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    critic = _critic()
    critic(x)  # materialise LazyLinear
    grads = _gp_param_grads(critic, x)
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values()), grads.keys()

    # Same numbers as the unfold formulation for the stride-1 layer.
    ref_critic = nn.Sequential(*critic)
    ref_critic[2] = _RefInvolution(critic[2])
    critic.zero_grad()
    ref_grads = _gp_param_grads(ref_critic, x)
    ref_grads = {n.replace("2.inv.", "2."): g for n, g in ref_grads.items()}
    critic.zero_grad()
    grads = _gp_param_grads(critic, x)
    assert grads.keys() == ref_grads.keys()
    for n in grads:
        torch.testing.assert_close(grads[n], ref_grads[n], msg=n)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cpu_autocast_low_precision(dtype):
    x, w, gy = make(2, 16, 10, 9, 2, 3, 1, 1, 1, dtype=torch.float32)
    x.requires_grad_(True)
    w.requires_grad_(True)
    ref = unfold_reference(x, w, 3, 1, 1)
    rgx, rgw = torch.autograd.grad(ref, (x, w), gy)
    with torch.autocast("cpu", dtype=dtype):
        y = involution(x, w, 3, 1, 1, backend="eager")
    assert y.dtype == dtype
    gx, gw = torch.autograd.grad(y, (x, w), gy.to(dtype))
    assert gx.dtype == gw.dtype == torch.float32  # flows back through the autocast cast
    # Inputs rounded to 8 (bf16) / 11 (fp16) bits, sums of 9 terms accumulated in float32.
    tol = dict(atol=0.1, rtol=0.03) if dtype == torch.bfloat16 else dict(atol=0.02, rtol=0.01)
    torch.testing.assert_close(y.float(), ref, **tol)
    torch.testing.assert_close(gx, rgx, **tol)
    torch.testing.assert_close(gw, rgw, atol=tol["atol"] * 4, rtol=tol["rtol"])


def test_low_precision_accumulates_in_float32():
    # 3*3*... many equal small terms: float32 accumulation then one rounding.
    x = torch.full((1, 1, 9, 9), 1.0, dtype=torch.bfloat16)
    w = torch.full((1, 1, 81, 1, 1), 1.0 + 2**-7, dtype=torch.bfloat16)  # exactly representable
    y = involution(x, w, 9, backend="eager")
    assert y.dtype == torch.bfloat16
    assert y.item() == pytest.approx(float(torch.tensor(81 * (1 + 2**-7)).bfloat16()))


def test_involution2d_shapes_kernel_and_grads():
    m = Involution2d(32, kernel_size=3, group_channels=16, backend="eager")
    x = torch.randn(2, 32, 9, 7)
    y, k = m(x, return_kernel=True)
    assert y.shape == x.shape
    assert k.shape == (2, 2, 9, 9, 7)
    torch.testing.assert_close(y, unfold_reference(x, k, 3, 1, 1))
    y.square().mean().backward()
    for n, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n
    assert isinstance(m.norm, nn.BatchNorm2d) and isinstance(m.act, nn.ReLU)
    assert not any(isinstance(mod, nn.BatchNorm2d) for mod in Involution2d(16, norm=None).modules())


@pytest.mark.parametrize("K,s,d", [(3, 2, 1), (4, 1, 1), (4, 2, 1), (2, 1, 2), (5, 3, 2), (3, 1, 2)])
@pytest.mark.parametrize("H,W", [(8, 8), (9, 7)])
def test_involution2d_same_padding(K, s, d, H, W):
    m = Involution2d(16, kernel_size=K, stride=s, dilation=d, group_channels=4, backend="eager")
    y, k = m(torch.randn(1, 16, H, W), return_kernel=True)
    Ho, Wo = -(-H // s), -(-W // s)
    assert y.shape == (1, 16, Ho, Wo)
    assert k.shape == (1, 4, K * K, Ho, Wo)


def test_involution2d_odd_kernel_padding_matches_official():
    m = Involution2d(16, kernel_size=3, stride=2, group_channels=16, backend="eager")
    x = torch.randn(1, 16, 8, 6)
    y, k = m(x, return_kernel=True)
    torch.testing.assert_close(y, unfold_reference(x, k, 3, 2, 1))


@pytest.mark.parametrize(
    "x_shape,w_shape,kwargs,match",
    [
        ((2, 16, 8, 8), (2, 3, 9, 8, 8), {}, r"weight has 3 groups but input has 16 channels; G must divide C"),
        ((2, 16, 8, 8), (2, 2, 9, 7, 7), {}, r"weight spatial size \(7, 7\) != output size \(8, 8\) for kernel_size=3, stride=1, padding=1, dilation=1"),
        ((2, 16, 8, 8), (2, 2, 8, 8, 8), {}, r"weight has 8 kernel taps .* kernel_size=3 needs K\*K=9"),
        ((16, 8, 8), (2, 2, 9, 8, 8), {}, r"input must be 4-D"),
        ((2, 16, 8, 8), (2, 2, 9, 64), {}, r"weight must be 5-D"),
        ((2, 16, 8, 8), (3, 2, 9, 8, 8), {}, r"weight batch size 3 != input batch size 2"),
        ((1, 4, 2, 2), (1, 1, 9, 1, 1), {"padding": 0}, r"too small"),
        ((2, 16, 8, 8), (2, 2, 9, 8, 8), {"stride": 0}, r"stride must be >= 1"),
        ((2, 16, 8, 8), (2, 2, 9, 8, 8), {"backend": "cuda-magic"}, r"unknown backend"),
    ],
)
def test_errors(x_shape, w_shape, kwargs, match):
    kwargs = {"padding": 1, "backend": "eager", **kwargs}
    with pytest.raises(ValueError, match=match):
        involution(torch.randn(x_shape), torch.randn(w_shape), 3, **kwargs)


def test_module_errors():
    with pytest.raises(ValueError, match="group_channels=12 must divide channels=32"):
        Involution2d(32, group_channels=12)
    with pytest.raises(ValueError, match=r"expected input \(B, 32, H, W\)"):
        Involution2d(32, backend="eager")(torch.randn(1, 16, 4, 4))


def test_env_backend_and_auto_fallback(monkeypatch):
    x, w, _ = make(1, 4, 6, 5, 2, 3, 1, 1)
    ref = unfold_reference(x, w, 3, 1, 1)
    monkeypatch.setenv("IGAN_INVOLUTION_BACKEND", "bogus")
    with pytest.raises(ValueError, match="IGAN_INVOLUTION_BACKEND"):
        involution(x, w, 3, 1, 1)

    def broken(*args):
        raise RuntimeError("no compiler here")

    monkeypatch.setenv("IGAN_INVOLUTION_BACKEND", "auto")
    monkeypatch.setattr(inv_functional, "_call_compiled", broken)
    monkeypatch.setattr(inv_functional._cpu_native, "_get", broken)  # the C loops fail to build too
    monkeypatch.setattr(inv_functional, "_broken", set())
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        torch.testing.assert_close(involution(x, w, 3, 1, 1), ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only one warning per device type
        torch.testing.assert_close(involution(x, w, 3, 1, 1), ref)
    monkeypatch.setenv("IGAN_INVOLUTION_BACKEND", "compiled")
    with pytest.raises(RuntimeError, match="no compiler here"):
        involution(x, w, 3, 1, 1)


# --------------------------------------------------------------------------- compiled


@pytest.mark.skipif(not has_cxx(), reason="Inductor needs a C++ compiler on CPU")
@pytest.mark.parametrize(
    "B,C,H,W,G,K,s,p,d,dtype",
    [
        (2, 8, 7, 9, 2, 3, 1, 1, 1, torch.float32),
        (1, 4, 9, 10, 1, 4, 2, 0, 2, torch.float64),
    ],
    ids=["K3-same-f32", "evenK-stride2-dil2-f64"],
)
def test_compiled_equals_eager(B, C, H, W, G, K, s, p, d, dtype):
    x, w, gy = make(B, C, H, W, G, K, s, p, d, dtype=dtype)
    outs = {}
    for backend in ("eager", "compiled"):
        xl = x.clone().requires_grad_(True)
        wl = w.clone().requires_grad_(True)
        y = involution(xl, wl, K, s, p, d, backend=backend)
        gx, gw = torch.autograd.grad(y, (xl, wl), gy, create_graph=True)
        # Second order reuses the same three compiled kernels (same shapes).
        ggx, ggw = torch.autograd.grad((gx.square().sum() + gw.square().sum()), (xl, wl))
        outs[backend] = (y, gx, gw, ggx, ggw)
    ref = unfold_reference(x, w, K, s, p, d)
    torch.testing.assert_close(outs["compiled"][0], ref)
    for a, b in zip(outs["compiled"], outs["eager"]):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("backend", ["compiled", "auto"])
def test_compiled_routes_each_call_to_its_kernel(monkeypatch, backend):
    """CPU stride 1 in float32/float64/bfloat16: the C loops for all three maps. CPU otherwise (stride 2,
    fp16): the input padded eagerly, then Inductor's unmasked loop (``fwd_padded``). Any other device
    (meta tensors stand in for CUDA) keeps the fused ``fwd_pure``. Both compilers are replaced by
    recorders that run the pure kernels eagerly: this checks the route, not the compilers."""
    calls = []

    def record(name, *args):
        calls.append((name, args[0].device.type, tuple(args[0].shape)))
        return getattr(inv_functional.K, name)(*args)

    def record_native(op):
        return lambda *args: calls.append(("native " + op, args[0].device.type, tuple(args[0].shape))) or getattr(
            inv_functional.K, f"{op}_eager"
        )(*args)

    monkeypatch.setattr(inv_functional, "_call_compiled", record)
    for op in ("fwd", "tx", "cx"):
        monkeypatch.setattr(inv_functional._cpu_native, op, record_native(op))
    monkeypatch.setattr(inv_functional, "_broken", set())
    x, w, gy = make(2, 8, 7, 9, 2, 3, 1, 1, 1)
    xl, wl = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    y = involution(xl, wl, 3, 1, 1, backend=backend)
    torch.testing.assert_close(y, unfold_reference(x, w, 3, 1, 1))
    torch.autograd.grad(y, (xl, wl), gy)
    assert calls == [("native fwd", "cpu", (2, 8, 7, 9)), ("native tx", "cpu", (2, 8, 7, 9)), ("native cx", "cpu", (2, 8, 7, 9))]
    calls.clear()
    x2, w2, _ = make(2, 8, 11, 9, 4, 3, 2, 1, 1)
    torch.testing.assert_close(involution(x2, w2, 3, 2, 1, backend=backend), unfold_reference(x2, w2, 3, 2, 1))
    involution(x.bfloat16(), w.bfloat16(), 3, 1, 1, backend=backend)
    involution(x.half(), w.half(), 3, 1, 1, backend=backend)
    xm, wm = x.to("meta"), w.to("meta")  # involution() itself would ask autocast about "meta": call _run
    inv_functional._run("fwd", backend, xm, wm, inv_functional._validate(xm, wm, 3, 1, 1, 1, 1))
    assert calls == [
        ("fwd_padded", "cpu", (2, 8, 13, 11)),
        ("native fwd", "cpu", (2, 8, 7, 9)),
        ("fwd_padded", "cpu", (2, 8, 9, 11)),
        ("fwd_pure", "meta", (2, 8, 7, 9)),
    ]


@pytest.mark.skipif(not has_cxx(), reason="Inductor needs a C++ compiler on CPU")
def test_compiled_asymmetric_padding_equals_eager():
    """Even K "same" padding: top/left (1, 2), bottom/right (2, 1); each side padded as asked."""
    x, _, _ = make(1, 4, 7, 9, 2, 4)
    w = torch.randn(1, 2, 16, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    outs = {}
    for backend in ("eager", "compiled"):
        xl, wl = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        y = _involution_padded(xl, wl, 4, 1, 1, (1, 2), (7, 9), backend=backend)
        outs[backend] = (y, *torch.autograd.grad(y, (xl, wl), torch.ones_like(y)))
    for a, b in zip(outs["compiled"], outs["eager"]):
        torch.testing.assert_close(a, b)


@pytest.mark.skipif(not has_cxx(), reason="Inductor needs a C++ compiler on CPU")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_compiled_cpu_forward_keeps_the_low_precision_dtype(dtype):
    x, w, _ = make(2, 8, 7, 9, 2, 3, 1, 1, 1, dtype=torch.float32)
    x, w = x.to(dtype), w.to(dtype)
    y = involution(x, w, 3, 1, 1, backend="compiled")
    assert y.dtype == dtype
    torch.testing.assert_close(y, involution(x, w, 3, 1, 1, backend="eager"))


@pytest.mark.parametrize("B,C,H,W,G,K,s,p,d", [CASES[0], CASES[7], CASES[6]])
def test_fwd_pure_the_cuda_forward_matches_the_reference(B, C, H, W, G, K, s, p, d):
    """``fwd_pure`` (pad fused into the loop) is what CUDA compiles; here run eagerly on CPU."""
    x, w, _ = make(B, C, H, W, G, K, s, p, d)
    geom = inv_functional._validate(x, w, K, s, p, p, d)
    torch.testing.assert_close(inv_functional.K.fwd_pure(x, w, geom), unfold_reference(x, w, K, s, p, d))


def test_backend_context_overrides_the_environment(monkeypatch):
    from igan.ops import involution_backend

    monkeypatch.setenv("IGAN_INVOLUTION_BACKEND", "compiled")
    with involution_backend("eager"):
        assert inv_functional._resolve_backend(None) == "eager"
        assert inv_functional._resolve_backend("compiled") == "compiled"  # an explicit argument still wins
    assert inv_functional._resolve_backend(None) == "compiled"
    with pytest.raises(ValueError, match="unknown backend"):
        with involution_backend("fast"):
            pass


# --------------------------------------------------------------------------- CUDA (skipped without a GPU)


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["eager", "compiled"])  # compiled: Inductor's Triton kernels
@pytest.mark.parametrize("B,C,H,W,G,K,s,p,d", [CASES[0], CASES[4], CASES[5], CASES[9]])
def test_cuda_matches_the_float64_reference(B, C, H, W, G, K, s, p, d, backend):
    x, w, gy = make(B, C, H, W, G, K, s, p, d)
    ref = unfold_reference(x.requires_grad_(True), w.requires_grad_(True), K, s, p, d)
    rgx, rgw = torch.autograd.grad(ref, (x, w), gy)
    xc, wc = (t.detach().float().cuda().requires_grad_(True) for t in (x, w))
    y = involution(xc, wc, K, s, p, d, backend=backend)
    gx, gw = torch.autograd.grad(y, (xc, wc), gy.float().cuda())
    for ours, theirs in ((y, ref), (gx, rgx), (gw, rgw)):
        assert ours.is_cuda and ours.dtype == torch.float32
        torch.testing.assert_close(ours.cpu().double(), theirs.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_cuda_second_derivative_passes_gradgradcheck(backend):
    """WGAN-GP differentiates involution twice: the Triton kernels of all three maps, float64."""
    x, w, _ = make(1, 4, 6, 5, 2, 3, 1, 1, 1)
    x, w = x.cuda().requires_grad_(True), w.cuda().requires_grad_(True)
    fn = partial(involution, kernel_size=3, stride=1, padding=1, dilation=1, backend=backend)
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_cuda_bf16_autocast_rounds_only_inputs_and_output(backend):
    """Under CUDA bf16 autocast (``--trainer.precision=bf16-mixed``) the 49 taps of a 7x7 kernel are
    summed in float32: the result equals the float64 sum of the bf16-rounded inputs up to the one
    rounding of the output (2^-8 relative)."""
    x, w, _ = make(2, 32, 16, 16, 4, 7, 1, 3, 1, dtype=torch.float32, seed=3)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = involution(x.cuda(), w.cuda(), 7, 1, 3, 1, backend=backend)
    assert y.dtype == torch.bfloat16
    ref = unfold_reference(x.bfloat16().double(), w.bfloat16().double(), 7, 1, 3, 1)
    torch.testing.assert_close(y.cpu().double(), ref, rtol=2**-8, atol=1e-3 * ref.abs().max().item())

