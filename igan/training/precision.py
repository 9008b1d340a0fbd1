"""``trainer.precision: auto``: bf16-mixed where the hardware computes bf16 natively, 32-true elsewhere.

bf16 autocast only pays where the processor has bf16 arithmetic: on CPUs the AMX tiles or the
AVX512-BF16 instructions (Sapphire Rapids and later Xeons, Zen 4 and later EPYCs). Elsewhere
oneDNN emulates it through float32 and training gets slower, so the choice is read from the CPU's
own flags (``/proc/cpuinfo``) and from torch's oneDNN, never assumed from the vendor. On CUDA,
bf16 where the GPU supports it (Ampere and later).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

#: /proc/cpuinfo flags of native bf16 arithmetic (AMX tiles, AVX512-BF16 dot products).
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first processor's feature flags; empty where the file is absent (macOS, Windows)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(flags: Optional[set[str]] = None) -> bool:
    """True when the CPU computes bf16 natively and torch's oneDNN will use it."""
    flags = cpu_flags() if flags is None else flags
    if not any(flag in flags for flag in NATIVE_BF16_FLAGS):
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without oneDNN
        return False


def unset_auto(args: list[str]) -> list[str]:
    """``--trainer.precision=auto`` (or ``... auto``) -> ``null``: Lightning's type has no "auto", and
    an unset precision is resolved by :func:`resolve_precision` after parsing."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--trainer.precision=auto":
            out[i] = "--trainer.precision=null"
        elif arg == "auto" and i > 0 and out[i - 1] == "--trainer.precision":
            out[i] = "null"
    return out


def resolve_precision(precision: object, accelerator: object = "auto", flags: Optional[set[str]] = None) -> object:
    """``"auto"`` -> ``"bf16-mixed"`` or ``"32-true"`` for the device the run will use; any other value as given."""
    if precision != "auto":
        return precision
    use_cuda = torch.cuda.is_available() and str(accelerator) in ("auto", "gpu", "cuda")
    if use_cuda:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if cpu_has_native_bf16(flags) else "32-true"
