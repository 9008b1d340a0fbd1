"""Benchmark igan.ops.involution against the paper's unfold formulation and nn.Conv2d.

Usage::

    python benchmarks/involution.py [--device cpu|cuda] [--repeats N] [--dtype float32|float16|bfloat16]
                                    [--backend compiled|eager|auto] [--threads T] [--isolate]

Prints the vector ISA torch uses on CPU and one markdown table, measured in one run, at GAN shapes:
B=64, group_channels 16 (G = C/16), stride 1, "same" padding K//2, (C, H=W, K) in
{(64, 32), (128, 16), (256, 8)} x {3, 7} and the small maps of RedNet-style stacks
(``replace: true``) at K = 3: (256, 8), (512, 8), (256, 4), (512, 4).

``--isolate`` measures every row twice: in this one process after the rows before it (shapes
change, so compiled code and allocator caches from other shapes are around), then in a fresh
process of its own (``... isolated`` columns), to show what a shape change inside a process costs.

What is measured (all times in ms, the median over ``--repeats`` runs after two
warm-up calls, which also trigger ``torch.compile``):

* ``ours``: :func:`igan.ops.involution` with ``--backend`` (default ``compiled``:
  the Inductor-fused kernels; ``eager f+b`` is the no-compile fallback).
* ``unfold``: Algorithm 1 of Li et al. (``F.unfold`` into K*K copies, multiply,
  sum), the official naive implementation.
* ``conv``: ``nn.Conv2d(C, C, K, padding=K//2)`` on the same input, for scale.
* ``f+b``: forward + backward, gradients of the input and of the kernel (conv:
  input, weight and bias), with a fixed random output gradient.
* ``copy``: ``dst.copy_(src)`` of a preallocated buffer holding as many bytes as
  our forward reads and writes at least once (input + kernel + output): the
  memory-bandwidth floor. ``fwd/copy`` is ours divided by it (1.0 = at the limit).
* ``peak``: peak *extra* memory of one call (MiB), i.e. the highest level of
  bytes allocated during the call above the level at its start (inputs and the
  output gradient exist beforehand and are not counted; outputs and gradients
  produced by the call are). On CUDA: ``torch.cuda.max_memory_allocated`` minus
  the allocated bytes before the call. On CPU: the running total of every
  allocation and free through PyTorch's CPU allocator, as recorded by
  ``torch.profiler`` with ``profile_memory=True`` (Inductor's buffers come from
  the same allocator, so compiled kernels are covered). ``fwd`` peaks include what
  autograd saves for backward (inputs require grad).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import describe, sync  # noqa: E402
from igan.ops import involution  # noqa: E402

# (C, H=W, K)
SHAPES = [(64, 32, 3), (64, 32, 7), (128, 16, 3), (128, 16, 7), (256, 8, 3), (256, 8, 7), (512, 8, 3), (256, 4, 3), (512, 4, 3)]
BATCH = 64
GROUP_CHANNELS = 16


def unfold_reference(x, w, kernel_size, stride=1, padding=0, dilation=1):
    B, C, H, W = x.shape
    G = w.shape[1]
    Ho, Wo = w.shape[-2:]
    u = F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)
    u = u.view(B, G, C // G, kernel_size * kernel_size, Ho, Wo)
    return (u * w.unsqueeze(2)).sum(3).view(B, C, Ho, Wo)


def timeit(fn, device, repeats):
    fn()
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def peak_extra_mib(fn, device) -> float:
    fn()  # warm (compile, allocator caches)
    sync(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = []

    def walk(node):
        if node.tag == _EventType.Allocation:
            events.append((node.start_time_ns, node.extra_fields.alloc_size))
        for child in node.children:
            walk(child)

    for root in prof.profiler.kineto_results.experimental_event_tree():
        walk(root)
    level = peak = 0
    for _, size in sorted(events):
        level += size
        peak = max(peak, level)
    return peak / 2**20


def measure_row(C, H, K, args, device, dtype) -> dict[str, str]:
    G, p = C // GROUP_CHANNELS, K // 2
    x = torch.randn(BATCH, C, H, H, device=device, dtype=dtype, requires_grad=True)
    w = torch.randn(BATCH, G, K * K, H, H, device=device, dtype=dtype, requires_grad=True)
    gy = torch.randn(BATCH, C, H, H, device=device, dtype=dtype)
    conv = nn.Conv2d(C, C, K, padding=p).to(device=device, dtype=dtype)

    def ours_fwd(backend=args.backend):
        return involution(x, w, K, 1, p, backend=backend)

    def ours_fb(backend=args.backend):
        return torch.autograd.grad(involution(x, w, K, 1, p, backend=backend), (x, w), gy)

    def ref_fwd():
        return unfold_reference(x, w, K, 1, p)

    def ref_fb():
        return torch.autograd.grad(unfold_reference(x, w, K, 1, p), (x, w), gy)

    def conv_fwd():
        return conv(x)

    def conv_fb():
        return torch.autograd.grad(conv(x), (x, *conv.parameters()), gy)

    n_bytes = (x.numel() + w.numel() + gy.numel()) * x.element_size()
    src = torch.empty(n_bytes // x.element_size(), device=device, dtype=dtype)
    dst = torch.empty_like(src)

    r = args.repeats
    t = {
        "ours fwd": timeit(ours_fwd, device, r),
        "ours f+b": timeit(ours_fb, device, r),
        "unfold fwd": timeit(ref_fwd, device, r),
        "unfold f+b": timeit(ref_fb, device, r),
        "conv fwd": timeit(conv_fwd, device, r),
        "conv f+b": timeit(conv_fb, device, r),
        "copy": timeit(lambda: dst.copy_(src), device, r),
    }
    if not args.no_eager:
        t["eager f+b"] = timeit(lambda: ours_fb("eager"), device, r)
    del src, dst
    m = {
        "peak fwd ours": peak_extra_mib(ours_fwd, device),
        "peak fwd unfold": peak_extra_mib(ref_fwd, device),
        "peak f+b ours": peak_extra_mib(ours_fb, device),
        "peak f+b unfold": peak_extra_mib(ref_fb, device),
    }
    row = {
        "C": str(C), "H=W": str(H), "K": str(K),
        **{k: f"{v:.2f}" for k, v in t.items()},
        "f+b speed-up vs unfold": f"{t['unfold f+b'] / t['ours f+b']:.1f}x",
        "fwd / copy": f"{t['ours fwd'] / t['copy']:.2f}",
        **{k: f"{v:.1f}" for k, v in m.items()},
        "fwd mem ratio": f"1/{m['peak fwd unfold'] / max(m['peak fwd ours'], 1e-9):.1f}",
        "f+b mem ratio": f"1/{m['peak f+b unfold'] / max(m['peak f+b ours'], 1e-9):.1f}",
    }  # fmt: skip
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


ISOLATED = ["ours fwd", "ours f+b", "unfold f+b", "f+b speed-up vs unfold", "copy", "fwd / copy"]


def isolated_row(C, H, K, argv) -> dict[str, str]:
    """The same row measured by a fresh interpreter that runs only this shape."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--only", f"{C},{H},{K}", "--row-json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"error: isolated run of C={C} H={H} K={K} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1])


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        C, H, K = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,K (three integers), got {text!r}") from None
    return C, H, K


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--backend", default="compiled", choices=["compiled", "eager", "auto"])
    ap.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default: all cores)")
    ap.add_argument("--no-eager", action="store_true", help="skip the eager-fallback column")
    ap.add_argument("--isolate", action="store_true", help="also measure every row in a process of its own")
    ap.add_argument("--only", type=parse_shape, action="append", metavar="C,H,K", help="measure only these shapes")
    ap.add_argument("--row-json", action="store_true", help=argparse.SUPPRESS)  # what --isolate's children print
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda: no CUDA device available")
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    shapes = args.only or SHAPES

    if args.row_json:
        for C, H, K in shapes:
            print(json.dumps(measure_row(C, H, K, args, device, dtype)), flush=True)
        return

    print(describe(device))
    print(f"Vector ISA (torch.backends.cpu.get_cpu_capability()): {torch.backends.cpu.get_cpu_capability()}")
    print(
        f"Involution, B={BATCH}, group_channels={GROUP_CHANNELS}, stride 1, padding K//2, {args.dtype} on "
        f"{device.type}, backend={args.backend}, median of {args.repeats}; times in ms, memory in MiB"
    )
    print()
    cols = [
        "C", "H=W", "K",
        "ours fwd", "ours f+b", *([] if args.no_eager else ["eager f+b"]),
        "unfold fwd", "unfold f+b", "conv fwd", "conv f+b",
        "f+b speed-up vs unfold", "copy", "fwd / copy",
        "peak fwd ours", "peak fwd unfold", "fwd mem ratio", "peak f+b ours", "peak f+b unfold", "f+b mem ratio",
    ]  # fmt: skip
    if args.isolate:
        cols += [f"{c} isolated" for c in ISOLATED]
        child_argv = [a for a in argv if a != "--isolate"]
        child_argv = [a for i, a in enumerate(child_argv) if a != "--only" and (i == 0 or child_argv[i - 1] != "--only")]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---:" for _ in cols) + "|")

    for C, H, K in shapes:
        row = measure_row(C, H, K, args, device, dtype)
        if args.isolate:
            alone = isolated_row(C, H, K, child_argv)
            row.update({f"{c} isolated": alone[c] for c in ISOLATED})
        print("| " + " | ".join(row[c] for c in cols) + " |", flush=True)
    print()
    print(
        "Targets: CPU f+b >= 10x faster than unfold at every K=3 shape, fwd/copy <= 2 on maps of at least "
        "8x8, peak memory <= 1/K^2 of unfold's; CUDA >= 5x, fwd/copy <= 2."
    )


if __name__ == "__main__":
    main()
