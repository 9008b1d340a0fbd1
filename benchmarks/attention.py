"""SAGAN's attention under a gradient penalty: SDPA's math path against igan.ops.attention.

A gradient penalty differentiates D twice. SDPA's fused kernels cannot, so the penalty's D forward
needs an attention whose backward is itself differentiable: SDPA's math path (which keeps every
(B, Nq, Nk) intermediate for the second pass) or :func:`igan.ops.attention.twice_differentiable_attention`
(both derivatives slice by slice, the softmax recomputed). This times one WGAN-GP-style step of a
:class:`igan.models.blocks.SelfAttention2d` block (forward, gradient with ``create_graph``, penalty
backward) with each, in turn, in one run; the system CPU time and minor page faults per step show
what the math path's large matrices cost on CPU.

    python benchmarks/attention.py                    # SAGAN's 16x16 (32 px) and 32x32 (64 px) positions
    python benchmarks/attention.py --sides 32 --batch 16
    python benchmarks/attention.py --pool 1 --value-ratio 1   # the full-width block (every position attended)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import igan.models.blocks as blocks  # noqa: E402
from benchmarks.machine import describe  # noqa: E402
from igan.ops import attention  # noqa: E402


def math_path(q, k, v, scale=None):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, scale=scale)


def sliced_path(q, k, v, scale=None):
    saved = dict(attention.MATH_PATH_MAX_BYTES)
    attention.MATH_PATH_MAX_BYTES.update({key: 0 for key in saved})  # always slices, whatever the size
    try:
        return attention.twice_differentiable_attention(q, k, v, scale=scale)
    finally:
        attention.MATH_PATH_MAX_BYTES.update(saved)


def penalty_step(block: blocks.SelfAttention2d, x: torch.Tensor) -> None:
    """What WGAN-GP does to D: the gradient of its output w.r.t. the input, a penalty on it, backward."""
    with blocks.double_backward_attention():
        out = block(x)
        (grad,) = torch.autograd.grad(out.square().mean(dim=(1, 2, 3)).sum(), x, create_graph=True)
    grad.flatten(1).norm(dim=1).sub(1).square().mean().backward()


def measure(path, block, x, repeats: int) -> dict:
    blocks.twice_differentiable_attention = path  # the name SelfAttention2d calls under the penalty
    penalty_step(block, x)  # warm-up
    times, faults, system, user = [], 0, 0.0, 0.0
    for _ in range(repeats):
        before, cpu_before = resource.getrusage(resource.RUSAGE_SELF), os.times()
        start = time.perf_counter()
        penalty_step(block, x)
        times.append(time.perf_counter() - start)
        after, cpu_after = resource.getrusage(resource.RUSAGE_SELF), os.times()
        faults += after.ru_minflt - before.ru_minflt
        system += cpu_after.system - cpu_before.system
        user += cpu_after.user - cpu_before.user
    return {"seconds": statistics.median(times), "faults": faults / repeats, "sys": system / max(user + system, 1e-9)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sides", type=int, nargs="+", default=[16, 32], help="feature-map sides (positions = side^2)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--channels", type=int, default=64, help="SAGAN's width at those stages")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pool", type=int, default=2, help="key/value max-pooling of the block (1: none)")
    ap.add_argument("--value-ratio", type=int, default=2, help="values at channels / ratio (1: full width)")
    args = ap.parse_args(argv)
    print(describe(torch.device("cpu")))
    print(f"One penalty step of SelfAttention2d({args.channels}, pool={args.pool}, value_ratio={args.value_ratio}), "
          f"batch {args.batch}, median of {args.repeats}, math and sliced paths alternated twice.\n")
    print("| side | queries | keys | math s | sliced s | speed-up | math faults/step | sliced faults/step | math sys | sliced sys |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    original = blocks.twice_differentiable_attention
    try:
        for side in args.sides:
            torch.manual_seed(0)
            block = blocks.SelfAttention2d(args.channels, pool=args.pool, value_ratio=args.value_ratio)
            with torch.no_grad():
                block.gamma.fill_(0.5)
            x = torch.randn(args.batch, args.channels, side, side, requires_grad=True)
            rounds = [(measure(math_path, block, x, args.repeats), measure(sliced_path, block, x, args.repeats))
                      for _ in range(2)]
            math = min((r[0] for r in rounds), key=lambda r: r["seconds"])
            sliced = min((r[1] for r in rounds), key=lambda r: r["seconds"])
            keys = (-(-side // args.pool)) ** 2  # ceil-mode pooling
            print(f"| {side} | {side * side} | {keys} | {math['seconds']:.3f} | {sliced['seconds']:.3f} | "
                  f"{math['seconds'] / sliced['seconds']:.2f}x | {math['faults']:.0f} | {sliced['faults']:.0f} | "
                  f"{100 * math['sys']:.0f}% | {100 * sliced['sys']:.0f}% |", flush=True)
    finally:
        blocks.twice_differentiable_attention = original
    print(f"\nShipped rule: the sliced path when one (B, queries, keys) float32 matrix exceeds "
          f"{attention.MATH_PATH_MAX_BYTES['cpu'] >> 20} MiB on CPU, the math path below.")


if __name__ == "__main__":
    main()
