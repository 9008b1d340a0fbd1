"""``igan study``: train every config with every seed under one budget, then compare them.

    igan study --configs configs/calligraphy_dcgan.yaml configs/calligraphy_idcgan.yaml \\
        --seeds 0 1 2 --epochs 10 --out runs/study [--jobs 2] [--data.image_size=32 ...any igan train override]

Each run (``<config stem>-s<seed>``) trains in its own process with ``--seed_everything=<seed>``;
the fixed grid noise and the evaluation noise keep their own seeds (``samples.seed``,
``metrics.seed``), so every run draws the same cells and is scored on the same noise. All runs share
the epoch budget, the overrides and one W&B group; everything lands under ``--out``
(``runs/<run>/`` with the run's ``train.log``, ``samples/<run>/``) and the comparison of
``igan compare`` in ``<out>/compare/``.

Re-running the same command continues the study: a run whose metrics.csv reached the budget is
skipped, a run with a ``last.ckpt`` resumes from it, any other starts; the comparison is rebuilt.
``--jobs N`` trains N runs at once, each with 1/N of the CPU threads (or the GPUs in turn).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from igan.errors import ArgumentParser, IganError, UsageError
from igan.study.plan import check_request, plan_study, run_dir
from igan.study.pool import LocalPool
from igan.training.progress import format_minutes


class RunsFailed(IganError):
    """Some runs of the study failed (the others trained and were compared)."""


def run_study(configs: list[str], epochs: int, out: Path, overrides: list[str], seeds: tuple[int, ...] = (0,),
              jobs: int = 1, group: Optional[str] = None, executor: type = LocalPool) -> dict:
    """Train (or continue) every config x seed, then compare; returns :func:`igan.report.compare.compare_runs`' result.

    ``executor`` trains the planned runs (:mod:`igan.study.pool` says what it provides). Raises
    :class:`IganError` for bad input, and after the comparison (which shows the failed runs as such)
    when a run failed.
    """
    from igan.report.compare import compare_runs

    check_request(seeds, jobs, overrides)
    runs = plan_study(configs, list(seeds), epochs, out)
    group = group or f"study-{out.resolve().name}"
    counts = {s: sum(r.state == s for r in runs) for s in ("done", "resume", "new")}
    print(f"Study of {len(runs)} run(s) ({len(configs)} config(s) x {len(seeds)} seed(s)), {epochs} epoch(s) each, "
          f"{jobs} at a time, W&B group {group!r}, in {out}", flush=True)
    print(f"Plan: {counts['done']} done, {counts['resume']} to resume, {counts['new']} new", flush=True)
    for r in runs:
        detail = {"done": f"done ({r.done}/{r.epochs} epochs)", "resume": f"resume from last.ckpt ({r.done}/{r.epochs} "
                  "epochs in metrics.csv)", "new": "new"}[r.state]
        print(f"  {r.name}: {detail}", flush=True)
    start = time.perf_counter()
    pool = executor(runs, out, group, overrides, jobs)
    pool.train()
    # Every planned run is compared, a failed one too: the report shows it as failed (or unfinished or
    # diverged) instead of its group silently having fewer seeds.
    order = {config: i for i, config in enumerate(dict.fromkeys(r.config for r in runs))}
    compared = sorted((r for r in runs if run_dir(out, r).is_dir()),
                      key=lambda r: (order[r.config], seeds.index(r.seed)))  # the first config is the baseline
    result: dict = {}
    if compared:
        result = compare_runs([run_dir(out, r) for r in compared], out / "compare")
        print(result["markdown"], flush=True)
    if pool.failed:
        lines = []
        for run, code in pool.failed:
            tail = run.log.read_text(errors="replace").strip().splitlines()[-5:] if run.log and run.log.exists() else []
            lines.append(f"run {run.name} failed (exit {code}); last lines of {run.log}:\n  " + "\n  ".join(tail))
        raise RunsFailed(f"{len(pool.failed)} of {len(runs)} run(s) failed; re-run the same command to continue "
                        "after fixing the cause\n" + "\n".join(lines))
    print(f"Study finished in {format_minutes(time.perf_counter() - start)}; comparison in {out / 'compare'}",
          flush=True)
    return result


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers, got {text!r}") from None


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="igan study", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any other --key=value argument is passed to every igan train run.",
    )
    parser.add_argument("--configs", nargs="+", required=True, help="config YAML files, the first is the baseline")
    parser.add_argument("--seeds", nargs="+", type=_seed, default=[0], help="training seeds of every config (default 0)")
    parser.add_argument("--epochs", type=int, required=True, help="epochs per run (the same budget for all)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, sharing the CPU threads or GPUs (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default runs/study-<date>-<time>)")
    parser.add_argument("--group", default=None, help="W&B group of the runs (default study-<out folder name>)")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    try:
        args, overrides = build_parser().parse_known_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    if args.epochs < 1:
        print(f"error: --epochs must be >= 1, got {args.epochs}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / time.strftime("study-%Y%m%d-%H%M%S")
    previous = signal.signal(signal.SIGTERM, _sigterm) if threading.current_thread() is threading.main_thread() else None
    try:
        run_study(args.configs, args.epochs, out, overrides, seeds=tuple(args.seeds), jobs=args.jobs, group=args.group)
    except RunsFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except IganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except _Stopped as err:
        print("interrupted: the runs in training were stopped, each saving its last.ckpt; re-run the same command "
              "to continue", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): the runs in training saved their last.ckpt; re-run the same command to continue",
              file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


class _Stopped(Exception):
    code = 143


def _sigterm(signum, frame) -> None:
    raise _Stopped  # like Ctrl-C: the children are stopped (and save their last.ckpt) before the study ends
