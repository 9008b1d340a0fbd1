"""Training throughput and peak memory of the three translation configs (conv, attention, involution).

Each config's :class:`igan.translation.module.Translation` (its ``model`` section, the config's
batch size and styles) trains on random (source, target, style) batches through a real Lightning
``Trainer`` (no logger, progress bar or checkpoints). Rounds visit the configs in turn, one
iteration each, so drift of the machine hits all three alike:

* ``img/s``: source images per second of one training iteration (a D update and a G update), the
  median over the rounds, timed from the start of one batch to the start of the next;
* ``peak MiB``: the most memory one iteration of a fresh Trainer (Adam's state created in it)
  allocates above what was held before it, from the running total of PyTorch's CPU allocations
  recorded by ``torch.profiler`` (CUDA: ``max_memory_allocated``);
* ``GFLOP/iter``: matmuls and convolutions of one iteration, by ``torch.utils.flop_counter``
  (involution's and attention's elementwise multiply-adds are not counted);
* ``other load``: CPU time other processes took meanwhile, as a share of all cores.

    python benchmarks/translation_throughput.py                 # 64 px, 20 rounds
    python benchmarks/translation_throughput.py --sizes 32 64 --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import lightning as L
import torch
import yaml
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import describe, sync  # noqa: E402
from benchmarks.train_throughput import OtherLoad  # noqa: E402
from igan.ops import involution_backend  # noqa: E402
from igan.translation.module import Translation  # noqa: E402

CONFIGS = [f"configs/translate/calligraphy_{block}.yaml" for block in ("conv", "attention", "involution")]


class RandomPairs(Dataset):
    """``n`` fixed random (source, target, style) triples: the data is not what is timed."""

    def __init__(self, n: int, size: int, num_styles: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.source = torch.rand(n, 1, size, size, generator=generator) * 2 - 1
        self.target = torch.rand(n, 1, size, size, generator=generator) * 2 - 1
        self.style = torch.randint(0, num_styles, (n,), generator=generator)

    def __len__(self) -> int:
        return len(self.style)

    def __getitem__(self, i: int):
        return self.source[i], self.target[i], self.style[i]


class Stepper(L.Callback):
    """Runs one batch per call of :meth:`step`: the Trainer's loop is driven by the rounds."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        sync(pl_module.device)
        self.starts.append(time.perf_counter())


def build(config_path: Path, size: int, device: torch.device) -> tuple[Translation, DataLoader, int]:
    config = yaml.safe_load(config_path.read_text())
    styles = config["data"]["styles"]
    batch = config["data"]["batch_size"]
    module = Translation(image_size=size, num_styles=len(styles), **config["model"])
    loader = DataLoader(RandomPairs(batch * 4, size, len(styles)), batch_size=batch, shuffle=False)
    return module, loader, batch


def time_config(module: Translation, loader: DataLoader, iterations: int, device: torch.device) -> list[float]:
    """Seconds of each of ``iterations`` training iterations (after one untimed) through a real Trainer."""
    stepper = Stepper()
    trainer = L.Trainer(accelerator=device.type, devices=1, max_steps=iterations + 2, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[stepper])
    trainer.fit(module, train_dataloaders=loader)
    return [b - a for a, b in zip(stepper.starts[1:], stepper.starts[2:])]


def peak_mib(module: Translation, loader: DataLoader, device: torch.device) -> float:
    """The most memory one iteration allocates above what was held before it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        time_config(module, loader, 0, device)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        time_config(module, loader, 0, device)
    level = peak = 0
    events = sorted((e for e in prof.events() if e.cpu_memory_usage), key=lambda e: e.time_range.start)
    for event in events:
        level += event.cpu_memory_usage
        peak = max(peak, level)
    return peak / 2**20


def gflop(module: Translation, loader: DataLoader) -> float:
    source, target, style = next(iter(loader))
    with FlopCounterMode(display=False) as counter, involution_backend("eager"):
        fake = module.generator(source, style)
        loss = module.discriminator(source, fake, style).mean() + (fake - target).abs().mean()
        loss = loss + module.discriminator(source, target, style).mean()
        loss.backward()
    module.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=CONFIGS)
    ap.add_argument("--sizes", nargs="+", type=int, default=[64])
    ap.add_argument("--rounds", type=int, default=20, help="timed iterations per config, in turn (default 20)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    device = torch.device(args.device)
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    print(describe(device))
    started = time.perf_counter()
    load = OtherLoad()
    rows = []
    for size in args.sizes:
        built = {c: build(REPO / c, size, device) for c in args.configs}
        times: dict[str, list[float]] = {c: [] for c in args.configs}
        for c, (module, loader, _) in built.items():
            time_config(module, loader, 1, device)  # warm-up: compiles the involution loops
        for _ in range(args.rounds):
            for c, (module, loader, _) in built.items():
                times[c] += time_config(module, loader, 1, device)
        for c, (module, loader, batch) in built.items():
            seconds = statistics.median(times[c])
            rows.append((c, size, batch, batch / seconds, peak_mib(module, loader, device), gflop(module, loader)))
    print()
    print("| config | px | batch | img/s | peak MiB | GFLOP/iter |")
    print("|---|---:|---:|---:|---:|---:|")
    for c, size, batch, rate, peak, flops in rows:
        print(f"| {Path(c).stem} | {size} | {batch} | {rate:.1f} | {peak:.0f} | {flops:.2f} |")
    print()
    print(f"Median of {args.rounds} iterations per config, the configs in turn; other load "
          f"{load.fraction():.2f} of the cores; total {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
