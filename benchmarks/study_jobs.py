"""``igan study --jobs N``: what N trainings at once buy against one at a time.

Runs the same small study (by default DCGAN and IDCGAN at 32 px, seeds 0 and 1, one epoch of a few
batches, metrics off) with each ``--jobs`` value, in turn, and prints each study's wall time, the
runs' summed training time (metrics.csv ``train_seconds``: how much each run slowed by sharing)
and the speed-up against the first value. Start-up (imports, W&B, data loading) is part of every
run, as in a real study. The glyphs are rendered once before the first timing.

    python benchmarks/study_jobs.py                      # --jobs 1 against --jobs 2
    python benchmarks/study_jobs.py --jobs 1 2 4 --batches 50 --repeats 2
    python benchmarks/study_jobs.py --jobs 2 3 --width 32 --configs configs/calligraphy_{dcgan,sagan,idcgan}.yaml
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import describe  # noqa: E402


def prepare_glyphs(root: str, image_size: int) -> None:
    """Render the calligraphy glyphs (cached under ``root``), so no timed study pays for it."""
    from igan.data import GANDataModule

    GANDataModule(name="calligraphy", root=root, image_size=image_size).prepare_data()


def train_seconds(out: Path) -> float:
    """The runs' training time summed over the study (the last metrics.csv row of each run)."""
    total = 0.0
    for path in sorted((out / "runs").glob("*/metrics.csv")):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        total += float(rows[-1]["train_seconds"] or 0) if rows else 0.0
    return total


def time_study(args: argparse.Namespace, jobs: int, out: Path) -> float:
    command = [sys.executable, "-m", "igan", "study", "--configs", *args.configs, "--seeds", *map(str, args.seeds),
               "--epochs", str(args.epochs), "--jobs", str(jobs), "--out", str(out),
               f"--data.image_size={args.image_size}", f"--data.root={args.data_root}",
               f"--trainer.limit_train_batches={args.batches}", "--metrics.every_n_epochs=0"]
    if args.width is not None:
        command += [f"--model.generator.init_args.width={args.width}",
                    f"--model.discriminator.init_args.width={args.width}"]
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "WANDB_SILENT": "true"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: the study with --jobs {jobs} failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+",
                        default=["configs/calligraphy_dcgan.yaml", "configs/calligraphy_idcgan.yaml"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2], help="the first is the reference")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batches", type=int, default=20, help="trainer.limit_train_batches of every run")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--data-root", default="data", help="calligraphy glyph cache, shared by every run")
    parser.add_argument("--width", type=int, default=None, help="G and D width of every run (make compare: 32)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds; every round times each --jobs in turn")
    args = parser.parse_args()
    if any(j < 1 for j in args.jobs) or args.repeats < 1:
        parser.error("--jobs and --repeats must be >= 1")

    print(describe(torch.device("cpu")))
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other processes share the cores)")
    runs = len(args.configs) * len(args.seeds)
    print(f"study: {runs} runs ({' '.join(Path(c).stem for c in args.configs)} x seeds "
          f"{' '.join(map(str, args.seeds))}), {args.epochs} epoch(s) of {args.batches} batches, "
          f"{args.image_size} px{f', width {args.width}' if args.width else ''}, metrics off")
    prepare_glyphs(args.data_root, args.image_size)
    walls: dict[int, list[float]] = {j: [] for j in args.jobs}
    with tempfile.TemporaryDirectory(prefix="study-jobs-") as tmp:
        for round_ in range(args.repeats):
            # Alternate the order each round, so a machine slowing down does not favour one setting.
            order = args.jobs if round_ % 2 == 0 else list(reversed(args.jobs))
            for jobs in order:
                out = Path(tmp) / f"jobs{jobs}-round{round_}"
                seconds = time_study(args, jobs, out)
                walls[jobs].append(seconds)
                print(f"round {round_ + 1} --jobs {jobs}: study {seconds:.1f} s wall, runs' training "
                      f"{train_seconds(out):.1f} s summed, load average {os.getloadavg()[0]:.1f}", flush=True)
    reference = min(walls[args.jobs[0]])
    for jobs in args.jobs:
        best = min(walls[jobs])
        print(f"--jobs {jobs}: best wall {best:.1f} s of {len(walls[jobs])}; speed-up against --jobs "
              f"{args.jobs[0]}: {reference / best:.2f}x")


if __name__ == "__main__":
    main()
