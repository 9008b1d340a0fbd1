"""The involution op in bfloat16 on CPU: the C loops' bf16 path against float32 and the Inductor route.

Usage::

    python benchmarks/involution_bf16.py [--repeats N] [--rounds R] [--threads T]

For each shape (B = 64, group_channels 16, K = 3, stride 1, "same" padding: the maps of IDCGAN at
32 and 64 px and the small RedNet-style maps) it times forward + backward (input and kernel
gradients) of three routes, in turn, ``--rounds`` times, and prints the median of each and the
paired ratios of one run:

* ``f32 loops``: float32 operands through the C loops (what ``32-true`` training runs);
* ``bf16 loops``: bfloat16 operands through the C loops' bf16 path (bf16 loads and stores, float32
  arithmetic), what ``bf16-mixed`` training runs now;
* ``bf16 inductor``: the same bfloat16 operands through Inductor's kernels, the route bf16 took
  before the loops had a bf16 path.

The CPU's native bf16 support (AMX / AVX512-BF16, as ``precision: auto`` reads it) is printed
first: without it bf16 is emulated by conversions and float32 stays faster, which is why ``auto``
chooses 32-true there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import describe  # noqa: E402
from igan.ops import _cpu_native  # noqa: E402
from igan.ops.functional import _call_compiled, _validate  # noqa: E402
from igan.training.precision import cpu_has_native_bf16  # noqa: E402

# (C, H=W): IDCGAN's involution maps at 32 px (G 128 at 16x16, D 64 at 16x16) and 64 px, then small maps.
SHAPES = [(64, 32), (128, 16), (64, 16), (256, 8), (512, 4)]
BATCH, GROUP_CHANNELS, K = 64, 16, 3


def inductor(op, a, b, geom):
    """The route bf16 took before: Inductor's padded forward, its pure backward kernels."""
    if op == "fwd":
        from igan.ops._kernels import pad_input

        return _call_compiled("fwd_padded", pad_input(a, geom), b, geom)
    return _call_compiled(f"{op}_pure", a, b, geom)


def step(route, x, w, gy, geom):
    """Forward, input gradient, kernel gradient: the three maps one training step of the op runs."""
    route("fwd", x, w, geom)
    route("tx", gy, w, geom)
    route("cx", gy, x, geom)


def time_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="calls per timing")
    ap.add_argument("--rounds", type=int, default=5, help="timings per route, taken in turn")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(describe(torch.device("cpu")))
    print(f"native bf16 (AMX or AVX512-BF16): {'yes' if cpu_has_native_bf16() else 'no'}\n")
    print("| C | HxW | f32 loops ms | bf16 loops ms | bf16 inductor ms | f32 / bf16 loops | inductor / bf16 loops |")
    print("|---|---|---|---|---|---|---|")
    native = lambda op, a, b, g: getattr(_cpu_native, op)(a, b, g)  # noqa: E731
    for c, hw in SHAPES:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(BATCH, c, hw, hw, generator=gen)
        w = torch.randn(BATCH, c // GROUP_CHANNELS, K * K, hw, hw, generator=gen)
        gy = torch.randn(BATCH, c, hw, hw, generator=gen)
        geom = _validate(x, w, K, 1, K // 2, K // 2, 1)
        low = [t.bfloat16() for t in (x, w, gy)]
        routes = {
            "f32": lambda: step(native, x, w, gy, geom),
            "bf16": lambda: step(native, *low, geom),
            "ind": lambda: step(inductor, *low, geom),
        }
        for fn in routes.values():  # warm-up, compiles Inductor's kernels
            fn()
        times = {name: [] for name in routes}
        for _ in range(args.rounds):
            for name, fn in routes.items():
                times[name].append(time_once(lambda: [fn() for _ in range(args.repeats)]) / args.repeats * 1e3)
        med = {name: statistics.median(t) for name, t in times.items()}
        f32_ratio = statistics.median(a / b for a, b in zip(times["f32"], times["bf16"]))
        ind_ratio = statistics.median(a / b for a, b in zip(times["ind"], times["bf16"]))
        print(f"| {c} | {hw}x{hw} | {med['f32']:.2f} | {med['bf16']:.2f} | {med['ind']:.2f} | {f32_ratio:.2f} | {ind_ratio:.2f} |")


if __name__ == "__main__":
    main()
