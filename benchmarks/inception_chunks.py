"""Images per Inception call: the seconds of an evaluation's Inception pass, and its FID, by chunk size.

An evaluation is almost all one Inception-v3 pass over the generated images (``eval_cost.py``), and
on a CPU that pass is faster in small chunks: the 299 x 299 activations of a few images stay in
cache, those of 50 do not. This times the pass over the same N images (Kai glyphs) at each chunk
size, in interleaved rounds so that a drift of the machine hits every size alike, and scores each
pass's FID against the same real features: a chunk size may become the default only where its FID
is within 0.5% of the reference size's on the same images (oneDNN may pick other algorithms by batch).

    python benchmarks/inception_chunks.py                       # N = 256, chunks 4 8 16 50, torch's threads
    python benchmarks/inception_chunks.py --threads 1 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eval_cost import images  # noqa: E402
from benchmarks.machine import describe  # noqa: E402
from igan.metrics.frechet import frechet_distance  # noqa: E402
from igan.metrics.inception import load_inception  # noqa: E402

#: FID may move at most this fraction from the reference chunk size's.
FID_TOLERANCE = 0.005


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--num", type=int, default=256, help="generated and real images (default 256, the callback's)")
    ap.add_argument("--size", type=int, default=32, help="image side in pixels (Inception resizes to 299)")
    ap.add_argument("--chunks", type=int, nargs="+", default=[4, 8, 16, 50], help="images per Inception call")
    ap.add_argument("--reference", type=int, default=50, help="the chunk size FID is compared with (default 50)")
    ap.add_argument("--rounds", type=int, default=2, help="passes timed per chunk size (median)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.reference not in args.chunks or min(args.chunks) < 1 or args.rounds < 1:
        print("error: --chunks must be >= 1 and include --reference; --rounds >= 1", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(describe(torch.device("cpu")))
    pixels, what = images(args.num, args.size)
    real_images, fake_images = pixels[: args.num], pixels[args.num :]
    extractor = load_inception(chunk_size=args.reference)
    print(f"N = {args.num} ({what}), {torch.get_num_threads()} thread(s), {args.rounds} rounds, extractor {extractor.name}")
    real = extractor.extract(real_images).pool
    extractor.extract(fake_images[: max(args.chunks)])  # warm-up: oneDNN primitives of the largest size

    times: dict[int, list[float]] = {c: [] for c in args.chunks}
    fids: dict[int, float] = {}
    for _ in range(args.rounds):
        for chunk in args.chunks:
            extractor.chunk_size = chunk
            start = time.perf_counter()
            fake = extractor.extract(fake_images).pool
            times[chunk].append(time.perf_counter() - start)
            fids[chunk] = frechet_distance(real, fake)

    reference_time, reference_fid = statistics.median(times[args.reference]), fids[args.reference]
    print(f"\n| chunk | s per pass | s per image | speed vs {args.reference} | FID | FID vs {args.reference} |")
    print("|---:|---:|---:|---:|---:|---:|")
    ok = True
    for chunk in args.chunks:
        t = statistics.median(times[chunk])
        drift = fids[chunk] / reference_fid - 1
        ok &= abs(drift) <= FID_TOLERANCE
        print(f"| {chunk} | {t:.2f} | {t / args.num:.4f} | {reference_time / t:.2f}x | {fids[chunk]:.4f} | {drift:+.5%} |")
    print(f"\nFID within {FID_TOLERANCE:.1%} of chunk {args.reference}'s at every size: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
