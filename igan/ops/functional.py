"""Functional involution with a lean autograd and a fused (``torch.compile``) backend.

Why not the paper's Algorithm 1? It ``unfold``s the input into ``K*K`` copies
(``K*K`` times the activation memory, saved again for backward) before a multiply
and a sum. Here the op is a ``torch.autograd.Function`` over three small bilinear
kernels (see :mod:`igan.ops._kernels`) that never build the unfolded tensor.

Backends (keyword ``backend=`` or environment variable ``IGAN_INVOLUTION_BACKEND``):

* ``"compiled"``: on CPU with stride 1 in float32/float64, C loops built once per
  machine (:mod:`igan.ops._cpu_native`, any shape); otherwise the pure kernels
  compiled by ``torch.compile`` (Inductor emits a fused C++/OpenMP loop on CPU and
  a Triton kernel on CUDA), one graph per ``(kernel, shape, dtype, device,
  geometry)``. Inputs are made contiguous first so memory-format variants do not
  multiply the compile cache.
* ``"eager"``: in-place ``addcmul_`` over strided views; no compile cost, used by
  tests and anywhere a compiler is unavailable.
* ``"auto"`` (default): ``"compiled"``, falling back to ``"eager"`` with a single
  warning per device type if compilation fails (no C++ compiler, no Triton...).

Inside a user's own ``torch.compile`` region the pure kernels are used directly so
the outer graph absorbs them.

Double (and higher) backward: the three maps are closed under differentiation
(``fwd``'s gradients are ``tx`` and ``cx``, and so on), so each is its own
``autograd.Function`` whose backward calls the others. WGAN-GP's
``create_graph=True`` therefore stays on the lean kernels too.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import warnings
from typing import Callable, Iterator

import torch
from torch import Tensor

from . import _cpu_native
from . import _kernels as K
from ._kernels import Geom

__all__ = ["involution", "involution_output_size", "involution_backend", "BACKENDS"]

BACKENDS = ("auto", "compiled", "eager")
_ENV = "IGAN_INVOLUTION_BACKEND"

# Involution layers at several resolutions, batch sizes (train / eval / gradient
# penalty) and the three kernels easily exceed Dynamo's default of 8 graphs per
# code object, after which it silently runs the (unfused) Python. Each distinct
# shape compiles once, so a generous limit is safe.
_RECOMPILE_LIMIT = 256

_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("involution_backend", default=None)
_compiled: dict[str, Callable] = {}
_broken: set[str] = set()  # device types on which compilation failed under "auto"
_lock = threading.Lock()


def involution_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """``floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


# --------------------------------------------------------------------------- backend


@contextlib.contextmanager
def involution_backend(name: str) -> Iterator[None]:
    """Run every involution without an explicit ``backend=`` on ``name`` inside the block.

    For code that must not compile, e.g. under ``torch.utils.flop_counter.FlopCounterMode``.
    """
    token = _override.set(_resolve_backend(name))
    try:
        yield
    finally:
        _override.reset(token)


def _resolve_backend(backend: str | None) -> str:
    name = backend if backend is not None else (_override.get() or os.environ.get(_ENV, "auto"))
    name = name.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"involution: unknown backend {name!r} (from {'argument' if backend else _ENV}); choose one of {BACKENDS}")
    return name


def _get_compiled(name: str) -> Callable:
    fn = _compiled.get(name)
    if fn is None:
        with _lock:
            fn = _compiled.get(name)
            if fn is None:
                fn = torch.compile(getattr(K, name), dynamic=False, fullgraph=True)
                _compiled[name] = fn
    return fn


def _call_compiled(name: str, *args):
    import torch._dynamo.config as dcfg

    tensors = [a.contiguous() if isinstance(a, Tensor) else a for a in args]
    limit = max(getattr(dcfg, "recompile_limit", 8), _RECOMPILE_LIMIT)
    with dcfg.patch(recompile_limit=limit):
        return _get_compiled(name)(*tensors)


def _compiled_call(op: str, *args):
    """``op``'s compiled kernel.

    CPU, stride 1, float32/float64/bfloat16: the C loops of :mod:`igan.ops._cpu_native`, which pad each
    (batch, group) block in cache and vectorise over flattened rows, so maps whose rows are shorter
    than a vector (4x4, 8x8 on AVX-512) run as fast per element as large ones; built once per
    machine, one build for every shape (no recompilation per shape).

    Other CPU calls (fp16, stride > 1) use Inductor; its forward pads the input eagerly first,
    because Inductor's fused padding masks every tap's load at the image border (the unmasked loop
    on the padded copy was about twice as fast). GPUs keep the fused padding (masked loads are cheap
    there, an extra pass over memory is not).
    """
    a, b, geom = args
    if _cpu_native.supports(a, b, geom):
        return getattr(_cpu_native, op)(a, b, geom)
    if op == "fwd" and a.device.type == "cpu":
        return _call_compiled("fwd_padded", K.pad_input(a, geom), b, geom)
    return _call_compiled(f"{op}_pure", *args)


def _run(op: str, backend: str, *args):
    """Dispatch kernel ``op`` ('fwd' | 'tx' | 'cx') to the chosen implementation."""
    if torch.compiler.is_compiling():
        return getattr(K, f"{op}_pure")(*args)
    if backend == "eager":
        return getattr(K, f"{op}_eager")(*args)
    if backend == "compiled":
        return _compiled_call(op, *args)
    dev = args[0].device.type
    if dev not in _broken:
        try:
            return _compiled_call(op, *args)
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "use eager"
            _broken.add(dev)
            warnings.warn(
                f"involution: torch.compile failed on {dev} ({type(exc).__name__}: {exc}); "
                f"using the eager kernels. Set {_ENV}=eager to silence this.",
                RuntimeWarning,
                stacklevel=3,
            )
    return getattr(K, f"{op}_eager")(*args)


# --------------------------------------------------------------------------- autograd


class _Fwd(torch.autograd.Function):
    """y = fwd(x, w). Gradients: gx = tx(gy, w), gw = cx(gy, x)."""

    @staticmethod
    def forward(ctx, x, w, geom, backend):
        ctx.geom, ctx.backend = geom, backend
        ctx.save_for_backward(x, w)
        return _run("fwd", backend, x, w, geom)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gx = _Tx.apply(gy, w, ctx.geom, ctx.backend) if ctx.needs_input_grad[0] else None
        gw = _Cx.apply(gy, x, ctx.geom, ctx.backend) if ctx.needs_input_grad[1] else None
        return gx, gw, None, None


class _Tx(torch.autograd.Function):
    """gx = tx(g, w), the adjoint of fwd(., w).

    <u, tx(g, w)> = <fwd(u, w), g> = <cx(g, u), w>, hence
    d/dg = fwd(u, w) and d/dw = cx(g, u).
    """

    @staticmethod
    def forward(ctx, g, w, geom, backend):
        ctx.geom, ctx.backend = geom, backend
        ctx.save_for_backward(g, w)
        return _run("tx", backend, g, w, geom)

    @staticmethod
    def backward(ctx, u):
        g, w = ctx.saved_tensors
        dg = _Fwd.apply(u, w, ctx.geom, ctx.backend) if ctx.needs_input_grad[0] else None
        dw = _Cx.apply(g, u, ctx.geom, ctx.backend) if ctx.needs_input_grad[1] else None
        return dg, dw, None, None


class _Cx(torch.autograd.Function):
    """gw = cx(g, x), the adjoint of fwd(x, .).

    <v, cx(g, x)> = <fwd(x, v), g> = <x, tx(g, v)>, hence
    d/dg = fwd(x, v) and d/dx = tx(g, v).
    """

    @staticmethod
    def forward(ctx, g, x, geom, backend):
        ctx.geom, ctx.backend = geom, backend
        ctx.save_for_backward(g, x)
        return _run("cx", backend, g, x, geom)

    @staticmethod
    def backward(ctx, v):
        g, x = ctx.saved_tensors
        dg = _Fwd.apply(x, v, ctx.geom, ctx.backend) if ctx.needs_input_grad[0] else None
        dx = _Tx.apply(g, v, ctx.geom, ctx.backend) if ctx.needs_input_grad[1] else None
        return dg, dx, None, None


# --------------------------------------------------------------------------- public API


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"involution: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"involution: {name} must be >= {minimum}, got {value}")
    return value


def _apply(input: Tensor, weight: Tensor, geom: Geom, backend: str | None) -> Tensor:
    """Autocast handling + dispatch; ``geom`` is already validated against the shapes."""
    backend = _resolve_backend(backend)
    dev = input.device.type
    if torch.is_autocast_enabled(dev):
        # Like convolutions, run in the autocast dtype (half the bytes moved);
        # the kernels accumulate in float32 and return the autocast dtype.
        dtype = torch.get_autocast_dtype(dev)
        with torch.autocast(dev, enabled=False):
            return _Fwd.apply(input.to(dtype), weight.to(dtype), geom, backend)
    dtype = torch.promote_types(input.dtype, weight.dtype)
    return _Fwd.apply(input.to(dtype), weight.to(dtype), geom, backend)


def _validate(input, weight, kernel_size, stride, pad_h, pad_w, dilation, out_size=None) -> Geom:
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise ValueError(
            f"involution: input and weight must be tensors, got {type(input).__name__} and {type(weight).__name__}"
        )
    k = _check_int("kernel_size", kernel_size, 1)
    s = _check_int("stride", stride, 1)
    d = _check_int("dilation", dilation, 1)
    _check_int("padding", pad_h, 0)
    _check_int("padding", pad_w, 0)
    if input.dim() != 4:
        raise ValueError(f"involution: input must be 4-D (B, C, H, W), got {input.dim()}-D shape {tuple(input.shape)}")
    if weight.dim() != 5:
        raise ValueError(
            "involution: weight must be 5-D (B, G, K*K, H_out, W_out), "
            f"got {weight.dim()}-D shape {tuple(weight.shape)}"
        )
    if not input.is_floating_point() or not weight.is_floating_point():
        raise ValueError(f"involution: input and weight must be floating point, got {input.dtype} and {weight.dtype}")
    if input.device != weight.device:
        raise ValueError(f"involution: input is on {input.device} but weight is on {weight.device}")
    B, C, H, W = input.shape
    Bw, G, KK, Hw, Ww = weight.shape
    if Bw != B:
        raise ValueError(f"involution: weight batch size {Bw} != input batch size {B}")
    if G < 1 or C % G != 0:
        raise ValueError(f"involution: weight has {G} groups but input has {C} channels; G must divide C")
    if KK != k * k:
        raise ValueError(f"involution: weight has {KK} kernel taps (dim 2) but kernel_size={k} needs K*K={k * k}")
    if out_size is None:
        Ho = involution_output_size(H, k, s, pad_h, d)
        Wo = involution_output_size(W, k, s, pad_w, d)
    else:
        Ho, Wo = out_size
    if Ho < 1 or Wo < 1:
        raise ValueError(
            f"involution: input spatial size ({H}, {W}) is too small for kernel_size={k}, "
            f"stride={s}, padding={pad_h}, dilation={d} (output would be ({Ho}, {Wo}))"
        )
    if (Hw, Ww) != (Ho, Wo):
        raise ValueError(
            f"involution: weight spatial size ({Hw}, {Ww}) != output size ({Ho}, {Wo}) for "
            f"kernel_size={k}, stride={s}, padding={pad_h if pad_h == pad_w else (pad_h, pad_w)}, dilation={d}"
        )
    return Geom(k, G, s, d, pad_h, pad_w, H, W, Ho, Wo)


def involution(
    input: Tensor,
    weight: Tensor,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    backend: str | None = None,
) -> Tensor:
    """Involution (Li et al., CVPR 2021, Eq. 4) with per-pixel, per-group kernels.

    Args:
        input: ``(B, C, H, W)``. Any strides (channels_last, views) are accepted.
        weight: ``(B, G, K*K, H_out, W_out)`` with ``G`` dividing ``C``; channel
            ``c`` uses the kernel of group ``c // (C // G)``; tap ``i*K + j`` is
            kernel row ``i``, column ``j``.
        kernel_size, stride, padding, dilation: as for ``nn.Unfold``; zero padding.
        backend: ``"auto" | "compiled" | "eager"``; default from
            ``$IGAN_INVOLUTION_BACKEND``, else ``"auto"``.

    Returns:
        ``(B, C, H_out, W_out)`` with ``H_out = floor((H + 2p - d(K-1) - 1)/s) + 1``,
        identical (up to rounding) to ``(unfold(x) * w).sum(K*K axis)``
        (Algorithm 1 of the paper). Float16/bfloat16 (also via autocast) are
        stored in the low dtype and accumulated in float32.

    Raises:
        ValueError: naming the mismatch when the shapes or arguments disagree.
    """
    geom = _validate(input, weight, kernel_size, stride, padding, padding, dilation)
    return _apply(input, weight, geom, backend)


def _involution_padded(
    input: Tensor,
    weight: Tensor,
    kernel_size: int,
    stride: int,
    dilation: int,
    pad: tuple[int, int],
    out_size: tuple[int, int],
    backend: str | None = None,
) -> Tensor:
    """Like :func:`involution` with top/left padding ``pad`` and an explicit output
    size (the bottom/right padding is implied): asymmetric "same" padding."""
    geom = _validate(input, weight, kernel_size, stride, pad[0], pad[1], dilation, out_size)
    return _apply(input, weight, geom, backend)
