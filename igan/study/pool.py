"""The local executor of a study: its runs trained as child processes of this one, ``jobs`` at a time.

Each run is ``python -m igan train`` (:func:`igan.study.plan.training_args`) with its output in
the run's ``train.log``. With ``jobs`` > 1 the children share the CPU threads evenly and take the
visible GPUs in turn (:func:`child_env`). A child gets SIGTERM when the study dies, even by
kill -9, and a stopped study SIGTERMs its children, which save their last.ckpt first.

When a child ends, the pool reaps it itself (``os.wait4``, which also returns the child's CPU
time) and adds the session to the run's ``machine.json`` (:mod:`igan.study.machine`): the host,
the threads it gave the child and the CPU share the child got, so a comparison can tell whether the
runs' minutes compare.

An executor is built with ``(runs, out, group, overrides, jobs)``, trains the runs not done with
:meth:`LocalPool.train`, and lists those that failed in ``failed`` as ``(run, exit code)``. A
cluster's queue does not wait like this: :mod:`igan.study.slurm` submits and returns, and shares
with this pool the run's command line (:func:`train_command`) and log (:func:`open_log`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

from igan.errors import IganError
from igan.study.machine import record_machine
from igan.study.plan import PlannedRun, latest_row, progress_line, run_dir, training_args
from igan.training.progress import format_minutes

POLL_S = 1.0  # how often the study reads the children's metrics.csv
STOP_WAIT_S = 120.0  # how long a stopped child may take to save its last.ckpt


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


def train_command(run: PlannedRun, out: Path, group: str, overrides: list[str]) -> list[str]:
    """A run's training: ``python -m igan train`` with :func:`~igan.study.plan.training_args`, on any executor."""
    return [sys.executable, "-m", "igan", "train", *training_args(run, out, group, overrides)]


def open_log(run: PlannedRun, out: Path, where: str = "") -> tuple[IO, str]:
    """The run's ``train.log`` opened to append (a resumed run's log continues the killed one's), its header written.

    Returns the file and how the run starts ("starting" or "resuming from last.ckpt at epoch N").
    """
    run.log = run_dir(out, run) / "train.log"
    run.log.parent.mkdir(parents=True, exist_ok=True)
    log = open(run.log, "a")
    how = f"resuming from last.ckpt at epoch {run.done}" if run.state == "resume" else "starting"
    log.write(f"=== igan.study {time.strftime('%Y-%m-%d %H:%M:%S')}: {how}{where}\n")
    log.flush()
    return log, how


def _die_with_parent() -> None:
    """In the child: SIGTERM when the study dies, even by kill -9, so no orphan keeps training."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def reap(proc: subprocess.Popen) -> Optional[tuple[int, Optional[float]]]:
    """(exit code, CPU seconds) of an ended child, reaped here; None while it runs.

    ``os.wait4`` gives the child's user + system time (with its own waited-for children, such as
    data-loading workers); the exit code follows Popen's convention (-N for signal N), and is
    set on ``proc`` so Popen's own ``poll``/``wait`` see the child as done. CPU seconds are None
    when someone else reaped the child first.
    """
    if proc.returncode is not None:
        return proc.returncode, None
    try:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    except ChildProcessError:  # already reaped elsewhere: only the exit code is left
        proc.poll()
        return (proc.returncode, None) if proc.returncode is not None else None
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


@dataclass
class Child:
    index: int
    run: PlannedRun
    slot: int
    proc: subprocess.Popen
    log: IO
    start: float
    first_row: Optional[tuple[int, float]] = None  # (epoch, time) of its first new row: start-up left out of the pace


class LocalPool:
    """The runs, the children training them, and the progress lines."""

    def __init__(self, runs: list[PlannedRun], out: Path, group: str, overrides: list[str], jobs: int) -> None:
        self.runs, self.out, self.group, self.overrides, self.jobs = runs, out, group, overrides, jobs
        self.start = time.perf_counter()
        self.threads = thread_count(jobs)
        self.gpus = visible_gpus() if jobs > 1 else []
        self.failed: list[tuple[PlannedRun, int]] = []

    def launch(self, index: int, slot: int) -> Child:
        run = self.runs[index]
        log, how = open_log(run, self.out)
        env = child_env(run, slot, self.jobs, self.threads, self.gpus)
        share = (f", {self.threads} thread(s)" + (f", GPU {env['CUDA_VISIBLE_DEVICES']}" if self.gpus else "")
                 if self.jobs > 1 else "")
        print(f"[{index + 1}/{len(self.runs)} {run.name}] {how} {run.config} (log: {run.log}{share})", flush=True)
        proc = subprocess.Popen(self.command(run), stdout=log, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        return Child(index, run, slot, proc, log, time.perf_counter())

    def command(self, run: PlannedRun) -> list[str]:
        """The child's command line: ``python -m igan train`` with the run's arguments."""
        return train_command(run, self.out, self.group, self.overrides)

    def record(self, child: Child, cpu_seconds: Optional[float]) -> None:
        """Add the ended child's session to its run's machine.json (nothing when its CPU time is unknown)."""
        if cpu_seconds is None:
            return
        try:
            record_machine(run_dir(self.out, child.run), self.threads, cpu_seconds, time.perf_counter() - child.start)
        except (OSError, IganError) as err:  # the comparison then says the timings are unknown; nothing else lost
            print(f"[{child.index + 1}/{len(self.runs)} {child.run.name}] note: machine.json not written ({err})",
                  flush=True)

    def poll(self, child: Child) -> None:
        """Print a line for each epoch the child finished since the last poll."""
        run = child.run
        now = time.perf_counter()
        run.seconds = now - child.start  # kept current between rows, so the time left counts start-up too
        row = latest_row(run_dir(self.out, run) / "metrics.csv")
        if row is None or int(row["epoch"]) <= run.done:
            return
        run.done, run.metrics = int(row["epoch"]), row
        if child.first_row is None:
            child.first_row = (run.done, now)
        elif run.done > child.first_row[0]:
            run.pace = (now - child.first_row[1]) / (run.done - child.first_row[0])
        print(progress_line(self.runs, child.index, self.jobs, time.perf_counter() - self.start), flush=True)

    def finish(self, child: Child, cpu_seconds: Optional[float] = None) -> None:
        self.poll(child)
        child.log.close()
        self.record(child, cpu_seconds)
        run, code = child.run, child.proc.returncode
        run.seconds, run.ended = time.perf_counter() - child.start, True
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
                    ended = reap(child.proc)
                    if ended is not None:
                        self.finish(child, ended[1])
                        active.remove(child)
                    else:
                        self.poll(child)
        except BaseException:
            self.stop(active)
            raise

    def stop(self, active: list[Child]) -> None:
        """SIGTERM every child (each saves its last.ckpt after the current batch) and wait for them."""
        for child in active:
            if child.proc.returncode is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for child in active:
            ended = reap(child.proc)
            while ended is None and time.monotonic() < deadline:
                time.sleep(0.05)
                ended = reap(child.proc)
            if ended is None:
                child.proc.kill()
                child.proc.wait()
            child.log.close()
            self.record(child, None if ended is None else ended[1])  # a resumed run adds its next session
