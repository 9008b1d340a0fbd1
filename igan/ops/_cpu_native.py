"""The CPU loops of ``_cpu_loops.c`` (stride 1, float32/float64/bfloat16), built once per machine and loaded.

Inductor vectorises its loop along a map's rows, which run half empty once a row is shorter than a
vector (8x8 on AVX-512, 4x4 on AVX2), and it pads the input in a separate pass. These loops work on
one (batch, group) block at a time, padded in cache, with every tap a constant offset along the
flattened rows (see the C file), so the vector width no longer depends on the map size.

The library is compiled with the C compiler Inductor would use (``$CC``, else ``cc``/``gcc``/
``clang``), ``-O3 -march=native -fopenmp``, into ``$IGAN_CACHE_DIR`` (default
``~/.cache/igan``) under a name keyed by the source, flags, compiler and CPU, so machines sharing a
home directory do not share binaries. A failed build raises ``RuntimeError`` (a cache folder that
cannot be written, :class:`~igan.errors.IganError` naming it); the ``auto`` backend turns either
into the eager fallback.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import threading
from pathlib import Path

import torch

from igan.io.files import atomic_write

from ._kernels import Geom

__all__ = ["supports", "fwd", "tx", "cx"]

_SOURCE = Path(__file__).with_name("_cpu_loops.c")
_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=gnu11"]
_SUFFIX = {torch.float32: "f32", torch.float64: "f64", torch.bfloat16: "bf16"}
_MAX_TAPS = 1024  # the plan's fixed offset table in the C file
_WORK_PER_THREAD = 1 << 18  # multiply-adds below which another thread does not pay
_ENOMEM = -2  # INV_ENOMEM of the C file (INV_EGEOM = -1)
_lib: ctypes.CDLL | None = None
_lock = threading.Lock()


def supports(a: torch.Tensor, b: torch.Tensor, g: Geom) -> bool:
    """Whether these loops handle a call on ``a`` and ``b``: CPU, both float32, float64 or bfloat16, stride 1."""
    return (
        a.device.type == "cpu"
        and b.device.type == "cpu"
        and a.dtype in _SUFFIX
        and b.dtype == a.dtype
        and g.stride == 1
        and g.k * g.k <= _MAX_TAPS
    )


def _compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise RuntimeError("involution: no C compiler found (set CC) for the CPU loops")


def _cpu_id() -> str:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                model += line
    except OSError:
        pass
    return f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()} {model}"


def _compile(cc: str, out: Path) -> None:
    proc = subprocess.run([cc, *_FLAGS, str(_SOURCE), "-o", str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"involution: building the CPU loops failed: {proc.stderr.strip()[-2000:]}")


def _build() -> ctypes.CDLL:
    cc = _compiler()
    src = _SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([src, " ".join(_FLAGS).encode(), cc.encode(), _cpu_id().encode()])).hexdigest()[:16]
    cache = Path(os.environ.get("IGAN_CACHE_DIR") or Path.home() / ".cache" / "igan")
    lib = cache / f"involution_cpu_{key}.so"
    if not lib.exists():
        # Built beside the target and renamed: concurrent processes (DDP ranks) never load half a file.
        atomic_write(lib, lambda tmp: _compile(cc, tmp))
    dll = ctypes.CDLL(str(lib))
    for suf in _SUFFIX.values():
        for op in ("fwd", "tx", "cx"):
            fn = getattr(dll, f"inv_{op}_{suf}")
            fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int]
            fn.restype = ctypes.c_int
    return dll


def _get() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                _lib = _build()
    return _lib


def _call(op: str, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, g: Geom) -> torch.Tensor:
    lib = _get()
    geo = torch.tensor([a.shape[0], a.shape[1], g.groups, g.h, g.w, g.h_out, g.w_out, g.k, g.dilation, g.pad_h, g.pad_w], dtype=torch.int64)
    fn = getattr(lib, f"inv_{op}_{_SUFFIX[a.dtype]}")
    # Small calls run on one thread: waking a team costs more than they take (and, on a loaded
    # machine, a descheduled team member stalls the whole call).
    work = a.shape[0] * a.shape[1] * g.h_out * g.w_out * g.k * g.k
    threads = max(1, min(torch.get_num_threads(), work // _WORK_PER_THREAD))
    rc = fn(a.data_ptr(), b.data_ptr(), out.data_ptr(), geo.data_ptr(), threads)
    if rc != 0:
        what = "could not allocate its scratch" if rc == _ENOMEM else "cannot plan this geometry"
        raise RuntimeError(f"involution: the CPU loop inv_{op} {what} (code {rc}) for {g}")
    return out


def fwd(x: torch.Tensor, w: torch.Tensor, g: Geom) -> torch.Tensor:
    x, w = x.contiguous(), w.contiguous()
    return _call("fwd", x, w, x.new_empty((x.shape[0], x.shape[1], g.h_out, g.w_out)), g)


def tx(gy: torch.Tensor, w: torch.Tensor, g: Geom) -> torch.Tensor:
    gy, w = gy.contiguous(), w.contiguous()
    return _call("tx", gy, w, gy.new_empty((gy.shape[0], gy.shape[1], g.h, g.w)), g)


def cx(gy: torch.Tensor, x: torch.Tensor, g: Geom) -> torch.Tensor:
    gy, x = gy.contiguous(), x.contiguous()
    return _call("cx", gy, x, gy.new_empty((gy.shape[0], g.groups, g.k * g.k, g.h_out, g.w_out)), g)
