"""``python -m igan.study``: train every config with every seed under one budget, then compare them.

    python -m igan.study --configs configs/calligraphy_dcgan.yaml configs/calligraphy_idcgan.yaml \\
        --seeds 0 1 2 --epochs 10 --out runs/study [--jobs 2] [--data.image_size=32 ...any train_gan.py override]

Each run (``<config stem>-s<seed>``) trains in its own process with ``--seed_everything=<seed>``;
the fixed grid noise and the evaluation noise keep their own seeds (``samples.seed``,
``metrics.seed``), so every run draws the same cells and is scored on the same noise. All runs share
the epoch budget, the overrides and one W&B group; everything lands under ``--out``
(``runs/<run>/`` with the run's ``train.log``, ``samples/<run>/``) and the comparison of
:mod:`igan.report.compare` in ``<out>/compare/``.

Re-running the same command continues the study: a run whose metrics.csv reached the budget is
skipped, a run with a ``last.ckpt`` resumes from it, any other starts; the comparison is rebuilt.
``--jobs N`` trains N runs at once, each with 1/N of the CPU threads (or the GPUs in turn).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

from igan.errors import IganError
from igan.training.progress import format_minutes
from igan.training.run_folder import aside_path

#: Settings the study sets for every run; given as overrides they would break naming or resuming.
OWNED = ("--run_name", "--trainer.max_epochs", "--seed_everything", "--trainer.default_root_dir", "--samples_root",
         "--config", "--ckpt_path", "--wandb_group", "--checkpoint.dirpath")
POLL_S = 1.0  # how often the study reads the children's metrics.csv
STOP_WAIT_S = 120.0  # how long a stopped child may take to save its last.ckpt


class RunsFailed(IganError):
    """Some runs of the study failed (the others trained and were compared)."""


@dataclass
class PlannedRun:
    config: Path
    name: str
    epochs: int
    seed: int = 0
    label: str = ""
    state: str = "new"  # "done", "resume" or "new"
    done: int = 0  # epochs completed (from metrics.csv)
    seconds: float = 0.0  # wall-clock of the run in this study so far, start-up and evaluation included
    pace: Optional[float] = None  # seconds per epoch since its first new row, training and evaluation included
    log: Optional[Path] = None
    metrics: dict = field(default_factory=dict)

    @property
    def left(self) -> int:
        return max(self.epochs - self.done, 0)


def estimate_left(runs: list[PlannedRun], jobs: int = 1) -> Optional[float]:
    """Seconds left for the study: each run's epochs left at its own pace (else the mean pace), over ``jobs``."""
    paced = [r for r in runs if r.pace is not None]
    if not paced:
        return None
    mean_pace = sum(r.pace for r in paced) / len(paced)
    work = sum(r.left * (r.pace if r.pace is not None else mean_pace) for r in runs)
    return work / max(1, min(jobs, sum(1 for r in runs if r.left) or 1))


def last_epoch(metrics_csv: Path) -> Optional[int]:
    """The highest epoch in a metrics.csv; None without the file or rows."""
    try:
        with open(metrics_csv, newline="") as f:
            epochs = [int(r["epoch"]) for r in csv.DictReader(f) if (r.get("epoch") or "").isdigit()]
    except (OSError, KeyError, csv.Error):
        return None
    return max(epochs) if epochs else None


def latest_row(metrics_csv: Path) -> Optional[dict]:
    try:
        with open(metrics_csv, newline="") as f:
            rows = [r for r in csv.DictReader(f) if (r.get("epoch") or "").isdigit()]
    except (OSError, csv.Error):
        return None
    return max(rows, key=lambda r: int(r["epoch"])) if rows else None


def plan_run(run: PlannedRun, run_dir: Path) -> PlannedRun:
    """Set ``run.state``: done (metrics.csv reached the budget), resume (a last.ckpt) or new.

    A new run's folder that still holds epochs or checkpoints without a last.ckpt (killed before its
    first one was written) is moved aside to ``.<run>.replaced-<time>``, so the new run may start there.
    """
    epoch = last_epoch(run_dir / "metrics.csv")
    checkpoints = run_dir / "checkpoints"
    run.done = epoch or 0
    if epoch is not None and epoch >= run.epochs:
        run.state = "done"
    elif (checkpoints / "last.ckpt").is_file():
        run.state = "resume"
    else:
        run.state, run.done = "new", 0
        if (epoch or 0) > 0 or (checkpoints.is_dir() and any(checkpoints.glob("*.ckpt"))):
            aside = aside_path(run_dir, time.strftime("%Y%m%d-%H%M%S"))
            run_dir.rename(aside)
            print(f"note: {run_dir} had epochs but no last.ckpt to resume from; moved to {aside}", flush=True)
    return run


def thread_count(jobs: int, environ: Optional[dict] = None) -> int:
    """CPU threads of each of ``jobs`` runs: the usable cores (or a given OMP_NUM_THREADS) split evenly."""
    environ = os.environ if environ is None else environ
    given = environ.get("OMP_NUM_THREADS", "")
    total = int(given) if given.isdigit() and int(given) > 0 else len(os.sched_getaffinity(0))
    return max(1, total // jobs)


def visible_gpus(environ: Optional[dict] = None) -> list[str]:
    """The GPUs the study may hand out: CUDA_VISIBLE_DEVICES' entries when set, else every device torch sees."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        return [d.strip() for d in environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def child_env(run: PlannedRun, slot: int, jobs: int, threads: int, gpus: list[str],
              environ: Optional[dict] = None) -> dict:
    """The environment of one training: its W&B job type (the model label) and, with jobs > 1, its share."""
    env = dict(os.environ if environ is None else environ)
    env["WANDB_JOB_TYPE"] = run.label  # W&B groups runs by group and job type: one line per model
    if jobs > 1:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    return env


def _die_with_parent() -> None:
    """In the child: SIGTERM when the study dies, even by kill -9, so no orphan keeps training."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    index: int
    run: PlannedRun
    slot: int
    proc: subprocess.Popen
    log: IO
    start: float
    first_row: Optional[tuple[int, float]] = None  # (epoch, time) of its first new row: start-up left out of the pace


class Study:
    """The runs, the children training them, and the progress lines."""

    def __init__(self, runs: list[PlannedRun], out: Path, group: str, overrides: list[str], jobs: int) -> None:
        self.runs, self.out, self.group, self.overrides, self.jobs = runs, out, group, overrides, jobs
        self.start = time.perf_counter()
        self.threads = thread_count(jobs)
        self.gpus = visible_gpus() if jobs > 1 else []
        self.failed: list[tuple[PlannedRun, int]] = []

    def run_dir(self, run: PlannedRun) -> Path:
        return self.out / "runs" / run.name

    def args(self, run: PlannedRun) -> list[str]:
        args = ["--config", str(run.config), f"--trainer.max_epochs={run.epochs}", f"--seed_everything={run.seed}",
                f"--run_name={run.name}", f"--wandb_group={self.group}",
                f"--trainer.default_root_dir={self.out / 'runs'}", f"--samples_root={self.out / 'samples'}",
                "--trainer.enable_progress_bar=false", *self.overrides]
        return args + (["--ckpt_path=last"] if run.state == "resume" else [])

    def line(self, index: int, run: PlannedRun) -> str:
        m = run.metrics
        shown = ", ".join(f"{key} {m[key]}" for key in ("fid", "kid", "recall", "coverage", "diversity") if m.get(key))
        left = estimate_left(self.runs, self.jobs)
        eta = f", about {format_minutes(left)} left" if left is not None else ""
        return (f"[{index + 1}/{len(self.runs)} {run.name}] epoch {run.done}/{run.epochs}"
                f"{' (' + shown + ')' if shown else ''} | study {format_minutes(time.perf_counter() - self.start)}{eta}")

    def launch(self, index: int, slot: int) -> Child:
        run = self.runs[index]
        run.log = self.run_dir(run) / "train.log"
        run.log.parent.mkdir(parents=True, exist_ok=True)
        log = open(run.log, "a")  # a resumed run's log continues the killed one's
        how = f"resuming from last.ckpt at epoch {run.done}" if run.state == "resume" else "starting"
        log.write(f"=== igan.study {time.strftime('%Y-%m-%d %H:%M:%S')}: {how}\n")
        log.flush()
        env = child_env(run, slot, self.jobs, self.threads, self.gpus)
        share = (f", {self.threads} thread(s)" + (f", GPU {env['CUDA_VISIBLE_DEVICES']}" if self.gpus else "")
                 if self.jobs > 1 else "")
        print(f"[{index + 1}/{len(self.runs)} {run.name}] {how} {run.config} (log: {run.log}{share})", flush=True)
        proc = subprocess.Popen([sys.executable, "-m", "igan.train", *self.args(run)], stdout=log,
                                stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        return Child(index, run, slot, proc, log, time.perf_counter())

    def poll(self, child: Child) -> None:
        """Print a line for each epoch the child finished since the last poll."""
        run = child.run
        row = latest_row(self.run_dir(run) / "metrics.csv")
        if row is None or int(row["epoch"]) <= run.done:
            return
        now = time.perf_counter()
        run.done, run.metrics, run.seconds = int(row["epoch"]), row, now - child.start
        if child.first_row is None:
            child.first_row = (run.done, now)
        elif run.done > child.first_row[0]:
            run.pace = (now - child.first_row[1]) / (run.done - child.first_row[0])
        print(self.line(child.index, run), flush=True)

    def finish(self, child: Child) -> None:
        self.poll(child)
        child.log.close()
        run, code = child.run, child.proc.returncode
        run.seconds = time.perf_counter() - child.start
        if code == 0:
            print(f"[{child.index + 1}/{len(self.runs)} {run.name}] done in {format_minutes(run.seconds)}", flush=True)
        else:
            self.failed.append((run, code))
            print(f"[{child.index + 1}/{len(self.runs)} {run.name}] failed (exit {code}); see {run.log}", flush=True)

    def train(self) -> None:
        """Train the runs not done, ``jobs`` at a time; a failed run does not stop the others."""
        queue = [i for i, r in enumerate(self.runs) if r.state != "done"]
        active: list[Child] = []
        try:
            while queue or active:
                free = [s for s in range(self.jobs) if s not in {c.slot for c in active}]
                while queue and free:
                    active.append(self.launch(queue.pop(0), free.pop(0)))
                time.sleep(POLL_S)
                for child in list(active):
                    if child.proc.poll() is not None:
                        self.finish(child)
                        active.remove(child)
                    else:
                        self.poll(child)
        except BaseException:
            self.stop(active)
            raise

    def stop(self, active: list[Child]) -> None:
        """SIGTERM every child (each saves its last.ckpt after the current batch) and wait for them."""
        for child in active:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for child in active:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            child.log.close()


def plan_study(configs: list[str], seeds: list[int], epochs: int, out: Path) -> list[PlannedRun]:
    """Every config with every seed, seed by seed (so early results cover every config), each planned."""
    paths = [Path(c) for c in configs]
    for path in paths:
        if not path.is_file():
            raise IganError(f"config not found: {path}")
    if len({p.stem for p in paths}) != len(paths):
        raise IganError("two configs have the same file name; the study names runs after them")
    runs = [PlannedRun(p, f"{p.stem}-s{seed}", epochs, seed=seed, label=p.stem) for seed in seeds for p in paths]
    return [plan_run(r, out / "runs" / r.name) for r in runs]


def run_study(configs: list[str], epochs: int, out: Path, overrides: list[str], seeds: tuple[int, ...] = (0,),
              jobs: int = 1, group: Optional[str] = None) -> dict:
    """Train (or continue) every config x seed, then compare; returns :func:`igan.report.compare.compare_runs`' result.

    Raises :class:`IganError` for bad input, and after the comparison of the finished runs when a run failed.
    """
    from igan.report.compare import compare_runs

    if jobs < 1:
        raise IganError(f"--jobs must be >= 1, got {jobs}")
    if not seeds:
        raise IganError("--seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise IganError(f"--seeds lists a seed twice: {' '.join(map(str, seeds))}")
    if any(s < 0 or s >= 2**32 for s in seeds):
        raise IganError(f"--seeds must be between 0 and 2**32 - 1, got {' '.join(map(str, seeds))}")
    for arg in overrides:
        if arg.split("=")[0] in OWNED:
            raise IganError(f"{arg.split('=')[0]} is set by the study itself; use --epochs, --seeds, --group or --out")
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
    study = Study(runs, out, group, overrides, jobs)
    study.train()
    failed = {r.name for r, _ in study.failed}
    finished = [r for r in runs if r.name not in failed]
    result: dict = {}
    if finished:
        order = {config: i for i, config in enumerate(dict.fromkeys(r.config for r in runs))}
        finished.sort(key=lambda r: (order[r.config], seeds.index(r.seed)))  # the first config is the baseline
        result = compare_runs([out / "runs" / r.name for r in finished], out / "compare")
        print(result["markdown"], flush=True)
    if study.failed:
        lines = []
        for run, code in study.failed:
            tail = run.log.read_text(errors="replace").strip().splitlines()[-5:] if run.log and run.log.exists() else []
            lines.append(f"run {run.name} failed (exit {code}); last lines of {run.log}:\n  " + "\n  ".join(tail))
        raise RunsFailed(f"{len(study.failed)} of {len(runs)} run(s) failed; re-run the same command to continue "
                        "after fixing the cause\n" + "\n".join(lines))
    print(f"Study finished in {format_minutes(time.perf_counter() - study.start)}; comparison in {out / 'compare'}",
          flush=True)
    return result


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers, got {text!r}") from None


def main(argv: Optional[list[str]] = None) -> int:
    parser = _Parser(
        prog="python -m igan.study", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any other --key=value argument is passed to every train_gan.py run.",
    )
    parser.add_argument("--configs", nargs="+", required=True, help="config YAML files, the first is the baseline")
    parser.add_argument("--seeds", nargs="+", type=_seed, default=[0], help="training seeds of every config (default 0)")
    parser.add_argument("--epochs", type=int, required=True, help="epochs per run (the same budget for all)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, sharing the CPU threads or GPUs (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default runs/study-<date>-<time>)")
    parser.add_argument("--group", default=None, help="W&B group of the runs (default study-<out folder name>)")
    try:
        args, overrides = parser.parse_known_args(argv)
    except SystemExit as exit_:
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


if __name__ == "__main__":
    sys.exit(main())
