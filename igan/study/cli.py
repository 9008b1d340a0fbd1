"""``igan study``: train every config with every seed under one budget, then compare them.

    igan study --configs configs/calligraphy_dcgan.yaml configs/calligraphy_idcgan.yaml \\
        --seeds 0 1 2 --epochs 10 --out runs/study [--jobs 2] [--data.image_size=32 ...any igan train override]

Each run (``<config stem>-s<seed>``) trains in its own process with ``--seed_everything=<seed>``;
the fixed grid noise and the evaluation noise keep their own seeds (``samples.seed``,
``metrics.seed``), so every run draws the same cells and is scored on the same noise. All runs share
the epoch budget, the overrides and one W&B group; everything lands under ``--out``
(``runs/<run>/`` with the run's ``train.log``, ``samples/<run>/``) and the comparison of
``igan compare`` in ``<out>/compare/``.

``--minutes M`` also stops each run after M minutes (Lightning's ``trainer.max_time``, evaluations
included): one wall-clock budget for all. Re-running the same command continues the study: a run
whose metrics.csv reached the epochs, or whose Timer in ``last.ckpt`` spent the minutes, is skipped, a run with a ``last.ckpt`` resumes from it, any other starts; the comparison is rebuilt.
``--jobs N`` trains N runs at once, each with 1/N of the CPU threads (or the GPUs in turn).

``--executor slurm`` submits the runs not done as one SLURM job array instead and returns; the
same command again shows each run's state, resubmits the runs stopped from outside (resuming from
their last.ckpt; failed ones with ``--slurm-retry-failed``), and writes the comparison once every
run is done (:mod:`igan.study.slurm`).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from igan.errors import ArgumentParser, IganError, UsageError
from igan.study.plan import PlannedRun, check_request, plan_study, run_dir, study_runs
from igan.study.pool import LocalPool
from igan.study.slurm import SlurmOptions
from igan.training.progress import format_minutes


class RunsFailed(IganError):
    """Some runs of the study failed (the others trained and were compared)."""


def run_study(configs: list[str], epochs: int, out: Path, overrides: list[str], seeds: tuple[int, ...] = (0,),
              jobs: int = 1, group: Optional[str] = None, executor: type = LocalPool,
              minutes: Optional[float] = None) -> dict:
    """Train (or continue) every config x seed, then compare; returns :func:`igan.report.compare.compare_runs`' result.

    ``executor`` trains the planned runs (:mod:`igan.study.pool` says what it provides). Raises
    :class:`IganError` for bad input, and after the comparison (which shows the failed runs as such)
    when a run failed.
    """
    check_request(seeds, jobs, overrides)
    runs = plan_study(configs, list(seeds), epochs, out, minutes)
    group = group or f"study-{out.resolve().name}"
    counts = {s: sum(r.state == s for r in runs) for s in ("done", "resume", "new")}
    print(f"Study of {len(runs)} run(s) ({len(configs)} config(s) x {len(seeds)} seed(s)), {budget(epochs, minutes)} each, "
          f"{jobs} at a time, W&B group {group!r}, in {out}", flush=True)
    print(f"Plan: {counts['done']} done, {counts['resume']} to resume, {counts['new']} new", flush=True)
    for r in runs:
        detail = {"done": f"done ({r.done}/{r.epochs} epochs{'' if r.done >= r.epochs else ', its time spent'})", "resume": f"resume from last.ckpt ({r.done}/{r.epochs} "
                  "epochs in metrics.csv)", "new": "new"}[r.state]
        print(f"  {r.name}: {detail}", flush=True)
    start = time.perf_counter()
    pool = executor(runs, out, group, overrides, jobs)
    pool.train()
    result = compare_study(runs, out, seeds)
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


def budget(epochs: int, minutes: Optional[float]) -> str:
    """``10 epoch(s)`` or ``at most 10 epoch(s) or 45 minutes``: a run's budget, as the header says it."""
    return f"{epochs} epoch(s)" if minutes is None else f"at most {epochs} epoch(s) or {minutes:g} minutes"


def compare_study(runs: list[PlannedRun], out: Path, seeds: tuple[int, ...]) -> dict:
    """``<out>/compare/`` of every planned run with a folder, configs in the given order (the first is the baseline)."""
    from igan.report.compare import compare_runs

    # Every planned run is compared, a failed one too: the report shows it as failed (or unfinished or
    # diverged) instead of its group silently having fewer seeds.
    order = {config: i for i, config in enumerate(dict.fromkeys(r.config for r in runs))}
    compared = sorted((r for r in runs if run_dir(out, r).is_dir()),
                      key=lambda r: (order[r.config], seeds.index(r.seed)))
    if not compared:
        return {}
    result = compare_runs([run_dir(out, r) for r in compared], out / "compare")
    print(result["markdown"], flush=True)
    return result


def slurm_study(configs: list[str], epochs: int, out: Path, overrides: list[str], seeds: tuple[int, ...],
                options: SlurmOptions, group: Optional[str] = None, again: str = "the same command",
                minutes: Optional[float] = None) -> dict:
    """One invocation of a study on SLURM: each run's state, one array of the runs to train, or the comparison.

    Returns the comparison's result once every run is done, else {} (``again`` is the command line
    printed as what to run next). See :mod:`igan.study.slurm`.
    """
    from igan.study import slurm, slurm_state

    check_request(seeds, 1, overrides)
    slurm.check_options(options)
    runs = study_runs(configs, list(seeds), epochs, minutes)
    group = group or f"study-{out.resolve().name}"
    jobs = slurm_state.read_jobs(out)
    statuses = slurm_state.run_statuses(runs, out, jobs, slurm.queue() if jobs else {}, options.retry_failed)
    counts = {s: sum(x.state == s for x in statuses) for s in ("done", "running", "queued", "stopped", "failed")}
    print(f"Study of {len(runs)} run(s) ({len(configs)} config(s) x {len(seeds)} seed(s)), {budget(epochs, minutes)} each, "
          f"on SLURM, W&B group {group!r}, in {out}", flush=True)
    print("State: " + ", ".join(f"{n} {state}" for state, n in counts.items()) +
          f", {sum(x.state == 'new' for x in statuses)} not submitted yet", flush=True)
    for status in statuses:
        print(f"  {status.run.name}: {status.describe()}", flush=True)
    pending = [s.run for s in statuses if s.submit]
    if pending:
        ids = slurm.submit(pending, out, group, overrides, options)
        array = ids[0].split("_")[0]
        at_once = min(options.parallel or len(pending), len(pending))
        tasks = ", ".join(f"{r.name} {i}" for r, i in zip(pending, ids))
        print(f"Submitted SLURM job {array}: {len(pending)} task(s), {at_once} at a time ({tasks}); "
              f"logs in {out / slurm_state.SLURM_FOLDER}", flush=True)
    if counts["done"] < len(runs):
        print("Next: the same command shows the runs' states, resubmits any stopped, and writes the comparison once "
              f"all are done (squeue --array -u $USER shows the queue):\n  {again}", flush=True)
        return {}
    result = compare_study(runs, out, seeds)
    print(f"Study finished; comparison in {out / 'compare'}", flush=True)
    if any((out / "runs" / "wandb").glob("offline-run-*")):
        print(f"W&B runs are offline; upload them with: wandb sync {out / 'runs' / 'wandb'}/offline-run-*", flush=True)
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
    parser.add_argument("--minutes", type=float, default=None,
                        help="also stop each run after this many minutes of training, evaluations included "
                             "(Lightning's max_time; a run that spent it counts as done, a larger value continues it)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, sharing the CPU threads or GPUs (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default runs/study-<date>-<time>)")
    parser.add_argument("--group", default=None, help="W&B group of the runs (default study-<out folder name>)")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local: train here, --jobs at a time (default); slurm: submit one SLURM job array and "
                             "return, the same command again continues")
    cluster = parser.add_argument_group("SLURM (with --executor slurm; unset: the cluster's default)")
    cluster.add_argument("--slurm-partition", default=None, metavar="NAME", help="partition of the tasks")
    cluster.add_argument("--slurm-gpus-per-task", type=int, default=None, metavar="N", help="GPUs of each run")
    cluster.add_argument("--slurm-cpus-per-task", type=int, default=None, metavar="N",
                         help="CPUs (threads) of each run")
    cluster.add_argument("--slurm-mem", default=None, metavar="SIZE", help="memory of each run, e.g. 16G")
    cluster.add_argument("--slurm-time", default=None, metavar="TIME",
                         help="time limit of each task, e.g. 4:00:00 (default: the partition's); a run stopped by it "
                              "resumes on the next invocation")
    cluster.add_argument("--slurm-parallel", type=int, default=None, metavar="N",
                         help="tasks running at once (the array's %%N)")
    cluster.add_argument("--slurm-retry-failed", action="store_true",
                         help="resubmit runs that failed by themselves too (stopped ones always are), once the cause "
                              "is fixed")
    cluster.add_argument("--slurm-sbatch", action="append", default=[], metavar="LINE",
                         help="an extra sbatch option (--slurm-sbatch=--qos=high, or '#SBATCH --qos=high') or a shell "
                              "line run before each task ('module load cuda'); repeatable")
    return parser


def slurm_options(args: argparse.Namespace) -> Optional[SlurmOptions]:
    """The SLURM options given; None when none is (the local executor refuses them)."""
    options = SlurmOptions(args.slurm_partition, args.slurm_gpus_per_task, args.slurm_cpus_per_task, args.slurm_mem,
                           args.slurm_time, args.slurm_parallel, list(args.slurm_sbatch), args.slurm_retry_failed)
    return options if options != SlurmOptions() else None


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
    if args.minutes is not None and not 0 < args.minutes < float("inf"):
        print(f"error: --minutes must be > 0, got {args.minutes:g}", file=sys.stderr)
        return 2
    options = slurm_options(args)
    if args.executor == "slurm":
        if args.jobs != 1:
            print("error: --jobs is for --executor local; on SLURM, --slurm-parallel N runs N tasks at once",
                  file=sys.stderr)
            return 2
        if args.out is None:
            print("error: --executor slurm needs --out: the same command continues the study in that folder",
                  file=sys.stderr)
            return 2
        again = shlex.join(["igan", "study", *(sys.argv[1:] if argv is None else argv)])
        try:
            slurm_study(args.configs, args.epochs, args.out, overrides, tuple(args.seeds), options or SlurmOptions(),
                        group=args.group, again=again, minutes=args.minutes)
        except IganError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if options is not None:
        print("error: the --slurm-* options need --executor slurm", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / time.strftime("study-%Y%m%d-%H%M%S")
    previous = signal.signal(signal.SIGTERM, _sigterm) if threading.current_thread() is threading.main_thread() else None
    try:
        run_study(args.configs, args.epochs, out, overrides, seeds=tuple(args.seeds), jobs=args.jobs, group=args.group,
                  minutes=args.minutes)
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
