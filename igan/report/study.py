"""``python -m igan.study``: train several configs under one budget, then compare them.

    python -m igan.study --configs configs/calligraphy_dcgan.yaml configs/calligraphy_idcgan.yaml \\
        --epochs 10 --out runs/study [--data.image_size=32 ...any train_gan.py override]

Each config trains in its own process (one after the other, so their timings do not interfere),
with the same seed, fixed noise, epoch budget, overrides and W&B group; everything lands under
``--out`` (``runs/<config>-s<seed>/``, ``samples/<config>-s<seed>/``, ``logs/``) and the comparison
of :mod:`igan.report.compare` in ``<out>/compare/``. Progress and an estimate of the time left are printed
after every epoch of every run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from igan.errors import IganError
from igan.training.history import read_history
from igan.training.progress import format_minutes


@dataclass
class PlannedRun:
    config: Path
    name: str
    epochs: int
    done: int = 0
    seconds: float = 0.0  # wall-clock of the run so far, start-up and evaluation included
    pace: Optional[float] = None  # seconds per epoch since its first row, training and evaluation included
    log: Optional[Path] = None
    metrics: dict = field(default_factory=dict)


def estimate_left(runs: list[PlannedRun], current: PlannedRun) -> Optional[float]:
    """Seconds left: the current run at its own pace, later runs at the mean pace seen so far."""
    paced = [r for r in runs if r.pace is not None]
    if not paced:
        return None
    mean_pace = sum(r.pace for r in paced) / len(paced)
    own_pace = current.pace if current.pace is not None else mean_pace
    left = (current.epochs - current.done) * own_pace
    started = False
    for r in runs:
        if started:
            left += r.epochs * mean_pace
        started = started or r is current
    return left


def _progress_line(index: int, runs: list[PlannedRun], run: PlannedRun, study_start: float) -> str:
    m = run.metrics
    shown = ", ".join(f"{key} {m[key]}" for key in ("fid", "kid", "diversity") if m.get(key))
    left = estimate_left(runs, run)
    eta = f", about {format_minutes(left)} left" if left is not None else ""
    return (f"[{index + 1}/{len(runs)} {run.name}] epoch {run.done}/{run.epochs}"
            f"{' (' + shown + ')' if shown else ''} | study {format_minutes(time.perf_counter() - study_start)}{eta}")


def train_one(index: int, runs: list[PlannedRun], args: list[str], metrics_csv: Path, study_start: float) -> int:
    """Train runs[index] in a child process, printing a line whenever it finishes an epoch."""
    run = runs[index]
    start = time.perf_counter()
    first_row: Optional[tuple[int, float]] = None  # (epoch, time) of the first row: start-up excluded from the pace
    with open(run.log, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "igan.training.cli", *args], stdout=log, stderr=subprocess.STDOUT)
        while True:
            finished = proc.poll() is not None
            if metrics_csv.exists():
                rows = [r for r in read_history(metrics_csv) if r.get("epoch", "").isdigit()]
                if rows and (first_row is None or int(rows[-1]["epoch"]) > run.done):
                    now = time.perf_counter()
                    run.done, run.metrics = int(rows[-1]["epoch"]), rows[-1]
                    run.seconds = now - start
                    if first_row is None:
                        first_row = (run.done, now)
                    elif run.done > first_row[0]:
                        run.pace = (now - first_row[1]) / (run.done - first_row[0])
                    print(_progress_line(index, runs, run, study_start), flush=True)
            if finished:
                break
            time.sleep(2.0)
    run.seconds = time.perf_counter() - start
    return proc.returncode


def run_study(configs: list[str], epochs: int, out: Path, overrides: list[str], seed: int = 0,
              group: Optional[str] = None) -> dict:
    """Train ``configs`` one after the other, then compare; returns :func:`igan.report.compare.compare_runs`' result."""
    from igan.report.compare import compare_runs

    paths = [Path(c) for c in configs]
    for path in paths:
        if not path.is_file():
            raise IganError(f"config not found: {path}")
    for arg in overrides:
        if arg.split("=")[0] in ("--run_name", "--trainer.max_epochs", "--seed_everything", "--trainer.default_root_dir",
                                 "--samples_root", "--config"):
            raise IganError(f"{arg.split('=')[0]} is set by the study itself; use --epochs, --seed or --out")
    names = [f"{p.stem}-s{seed}" for p in paths]
    if len(set(names)) != len(names):
        raise IganError("two configs have the same file name; the study names runs after them")
    runs = [PlannedRun(p, n, epochs, log=out / "logs" / f"{n}.log") for p, n in zip(paths, names)]
    (out / "logs").mkdir(parents=True, exist_ok=True)
    group = group or f"study-{out.resolve().name}"
    study_start = time.perf_counter()
    print(f"Study of {len(runs)} run(s), {epochs} epoch(s) each, seed {seed}, W&B group {group!r}, in {out}", flush=True)
    for index, run in enumerate(runs):
        args = ["--config", str(run.config), f"--trainer.max_epochs={epochs}", f"--seed_everything={seed}",
                f"--run_name={run.name}", f"--wandb_group={group}", f"--trainer.default_root_dir={out / 'runs'}",
                f"--samples_root={out / 'samples'}", "--trainer.enable_progress_bar=false", *overrides]
        print(f"[{index + 1}/{len(runs)} {run.name}] training {run.config} (log: {run.log})", flush=True)
        metrics_csv = out / "runs" / run.name / "metrics.csv"
        metrics_csv.unlink(missing_ok=True)
        code = train_one(index, runs, args, metrics_csv, study_start)
        if code != 0:
            tail = run.log.read_text().strip().splitlines()[-5:]
            raise IganError(f"run {run.name} failed (exit {code}); last lines of {run.log}:\n  " + "\n  ".join(tail))
        print(f"[{index + 1}/{len(runs)} {run.name}] done in {format_minutes(run.seconds)}", flush=True)
    result = compare_runs([out / "runs" / r.name for r in runs], out / "compare")
    print(result["markdown"], flush=True)
    print(f"Study finished in {format_minutes(time.perf_counter() - study_start)}; comparison in {out / 'compare'}", flush=True)
    return result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m igan.study", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any other --key=value argument is passed to every train_gan.py run.",
    )
    parser.add_argument("--configs", nargs="+", required=True, help="config YAML files, the first is the baseline")
    parser.add_argument("--epochs", type=int, required=True, help="epochs per run (the same budget for all)")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default runs/study-<date>-<time>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    parser.add_argument("--group", default=None, help="W&B group of the runs (default study-<out folder name>)")
    args, overrides = parser.parse_known_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    out = args.out or Path("runs") / time.strftime("study-%Y%m%d-%H%M%S")
    try:
        run_study(args.configs, args.epochs, out, overrides, seed=args.seed, group=args.group)
    except IganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
