"""Which runs of a study on SLURM train again: each run's state from its folder and the queue.

A run's state comes from its own folder (``metrics.csv`` against the budget, ``last.ckpt``,
``train.log``), the job id of its latest task (``<out>/slurm/jobs.json``, written at submission)
and ``squeue``'s listing of that task. A run is submitted again only when it is neither done nor in
the queue (pending or running): a task stopped by its time limit, preemption or ``scancel`` then
resumes from its ``last.ckpt``, and a finished run never trains twice. A run that failed by itself
(an exception, a bad override) is reported with its log's last line and held back, so checking a
study's state never resubmits the same failure; ``retry_failed`` (``--slurm-retry-failed``)
resubmits it once the cause is fixed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from igan.study.plan import PlannedRun, finished, plan_run, run_dir
from igan.training.run_folder import last_epoch

#: The study folder's subfolder of submitit's scripts and logs and of :data:`JOBS_FILE`.
SLURM_FOLDER = "slurm"
#: Run name -> the SLURM job id of its latest task ("123_4").
JOBS_FILE = "jobs.json"
#: squeue states of a task yet to start, and of one that ended; any other state counts as running.
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
ENDED = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
         "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED"}


def read_jobs(out: Path) -> dict[str, str]:
    """``<out>/slurm/jobs.json``: run name -> the job id of its latest task; empty before the first submission."""
    try:
        jobs = json.loads((out / SLURM_FOLDER / JOBS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in jobs.items()} if isinstance(jobs, dict) else {}


def write_jobs(out: Path, jobs: dict[str, str]) -> None:
    from igan.io.files import atomic_write

    (out / SLURM_FOLDER).mkdir(parents=True, exist_ok=True)
    atomic_write(out / SLURM_FOLDER / JOBS_FILE, json.dumps(jobs, indent=2, sort_keys=True) + "\n")


def last_line(path: Path) -> Optional[str]:
    """The last non-blank line of a text file; None when it has none."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


@dataclass
class RunStatus:
    """One run as this invocation found it."""

    run: PlannedRun
    state: str  # done, running, queued, stopped, failed, new
    job: Optional[str] = None  # its latest task's job id
    detail: str = ""
    reached: int = 0  # epochs its folder held when read (a run starting over has 0 left to resume from)
    retry: bool = False  # a failed run goes into the array only when asked (--slurm-retry-failed)

    @property
    def submit(self) -> bool:
        """Whether it goes into this invocation's array: stopped or new, or failed and retried."""
        return self.state in ("stopped", "new") or (self.state == "failed" and self.retry)

    def describe(self) -> str:
        run, job = self.run, f"task {self.job}" if self.job else ""
        progress = f"{self.reached}/{run.epochs} epochs"
        return {
            "done": f"done ({progress})",
            "running": f"running ({progress}, {job})",
            "queued": f"queued ({job}{', ' + self.detail if self.detail else ''})",
            "stopped": f"stopped at {progress} ({job}: {self.detail}); resubmitted, "
                       + ("resuming from last.ckpt" if run.state == "resume" else "starting over: no last.ckpt"),
            "failed": f"failed at {progress} ({job}: {self.detail}); "
                      + (("resubmitted, " + ("resuming from last.ckpt" if run.state == "resume" else "starting over"))
                         if self.retry else "held back: fix the cause, then add --slurm-retry-failed"),
            "new": "new" if run.state == "new" else f"to resume from last.ckpt ({progress}), not submitted before",
        }[self.state]


#: A train.log or task-log line that says the task was stopped from outside rather than failing by itself.
_STOPPED = re.compile(r"^interrupted|CANCELLED|DUE TO TIME LIMIT|DUE TO PREEMPTION|DUE TO NODE FAILURE")


def run_statuses(runs: list[PlannedRun], out: Path, jobs: dict[str, str],
                 tasks: dict[str, tuple[str, str]], retry_failed: bool = False) -> list[RunStatus]:
    """Each run's state from its folder, its latest job id and the queue (``tasks``, from :func:`queue`).

    A run with a task in the queue, or one that failed and is held back, is only read
    (``metrics.csv``, ``train.log``): its folder stays as it is. Any other run is planned
    (:func:`igan.study.plan.plan_run`): done, or to train again, resuming from its ``last.ckpt``
    when it has one.
    """
    statuses = []
    for run in runs:
        folder, job = run_dir(out, run), jobs.get(run.name)
        run.log = folder / "train.log"
        state, reason = tasks.get(job, ("", "")) if job else ("", "")
        reached = min(last_epoch(folder) or 0, run.epochs)
        if state and state not in ENDED:
            run.done = reached
            queued = state in QUEUED
            statuses.append(RunStatus(run, "queued" if queued else "running", job,
                                      reason if queued and reason not in ("None", "") else "", reached))
            continue
        line = last_line(run.log) or ""  # read before planning, which may move a folder without last.ckpt aside
        task_line = (last_line(out / SLURM_FOLDER / f"{job}_0_log.err") or "") if job else ""
        stopped = bool(_STOPPED.search(line) or _STOPPED.search(task_line))
        detail = line or task_line or "no log written"
        if job is not None and not finished(run, folder) and not stopped and not retry_failed:
            statuses.append(RunStatus(run, "failed", job, detail, reached))
            continue
        plan_run(run, folder)
        if run.state == "done":
            statuses.append(RunStatus(run, "done", job, reached=reached))
        elif job is None:
            statuses.append(RunStatus(run, "new", reached=reached))
        else:
            statuses.append(RunStatus(run, "stopped" if stopped else "failed", job, detail, reached, retry=True))
    return statuses
