"""Does the Lightning module do more work than the bare loop? Operator time and counts, side by side.

``benchmarks/train_throughput.py`` compares wall-clock iterations; when a row's Lightning/bare
ratio drops below 0.95 this script says whether Lightning ran extra operators (then there is
overhead to cut) or the same ones (then the gap is the timing's). It profiles ``--iters``
iterations of the real :class:`igan.gan.GAN` on a Lightning ``Trainer`` and the same number of
the benchmark's bare loop over copies of the same networks (``torch.profiler``, CPU activity),
and prints both totals of operator self time, the operators whose call counts differ, and the
operators whose time differs most.

    python benchmarks/lightning_ops.py --config configs/calligraphy_sagan.yaml --size 32
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.train_throughput import BareLoop, FixedBatches, build_gan, load_config  # noqa: E402


class _ProfileBatches(L.Callback):
    """Profiles the Lightning batches ``warmup`` to ``warmup + iters - 1``."""

    def __init__(self, warmup: int, iters: int) -> None:
        self.warmup, self.iters, self.prof = warmup, iters, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            self.prof = profile(activities=[ProfilerActivity.CPU])
            self.prof.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup + self.iters - 1:
            self.prof.__exit__(None, None, None)


def _ops(prof) -> dict[str, tuple[float, int]]:
    """Operator name -> (self CPU seconds, calls)."""
    return {e.key: (e.self_cpu_time_total / 1e6, e.count) for e in prof.key_averages()}


def compare(config: Path, size: int, iters: int, warmup: int, seed: int = 0) -> dict:
    settings = load_config(config)
    real = torch.rand(settings["data"]["batch_size"], settings["data"]["channels"], size, size) * 2 - 1
    bare_gan = build_gan(settings, size, seed)
    loop = BareLoop(bare_gan, bare_gan.generator, bare_gan.discriminator, torch.device("cpu"))
    for _ in range(warmup):
        loop.iteration(real)
    with profile(activities=[ProfilerActivity.CPU]) as bare_prof:
        for _ in range(iters):
            loop.iteration(real)

    gan = build_gan(settings, size, seed)
    callback = _ProfileBatches(warmup, iters)
    n = warmup + iters
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=n, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[callback])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(gan, train_dataloaders=torch.utils.data.DataLoader(FixedBatches(real, n), batch_size=None))
    return {"lightning": _ops(callback.prof), "bare": _ops(bare_prof)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=Path("configs/calligraphy_sagan.yaml"))
    ap.add_argument("--size", type=int, default=32, help="image side")
    ap.add_argument("--iters", type=int, default=10, help="profiled iterations of each")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--top", type=int, default=8, help="operators listed by time difference")
    args = ap.parse_args(argv)
    print(describe(torch.device("cpu")))
    ops = compare(args.config, args.size, args.iters, args.warmup)
    light, bare = ops["lightning"], ops["bare"]
    total_l, total_b = sum(t for t, _ in light.values()), sum(t for t, _ in bare.values())
    print(f"{args.config} at {args.size} px, {args.iters} iterations each: operator self time "
          f"Lightning {total_l:.2f} s, bare {total_b:.2f} s (Lightning/bare {total_l / total_b:.3f})")
    names = sorted(set(light) | set(bare))
    differing = [(n, light.get(n, (0, 0))[1], bare.get(n, (0, 0))[1]) for n in names
                 if light.get(n, (0, 0))[1] != bare.get(n, (0, 0))[1]]
    print(f"\noperators with different call counts ({len(differing)}):")
    for name, cl, cb in sorted(differing, key=lambda r: -abs(r[1] - r[2])):
        print(f"  {name[:70]:70s} Lightning x{cl:<6d} bare x{cb}")
    print("\nlargest time differences (Lightning - bare):")
    for name in sorted(names, key=lambda n: -abs(light.get(n, (0, 0))[0] - bare.get(n, (0, 0))[0]))[:args.top]:
        tl, tb = light.get(name, (0, 0))[0], bare.get(name, (0, 0))[0]
        print(f"  {name[:70]:70s} {1e3 * (tl - tb):+9.1f} ms  ({1e3 * tl:.1f} vs {1e3 * tb:.1f})")


if __name__ == "__main__":
    main()
