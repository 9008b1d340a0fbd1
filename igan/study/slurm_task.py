"""One task of a study's SLURM job array, on its compute node (run by submitit).

The task plans its run again from the run folder when it starts, so a task SLURM itself requeued
(preemption with ``PreemptMode=REQUEUE``) resumes too, then trains it with the command line of a
local run (:func:`igan.study.pool.train_command`), its output in the run's ``train.log``, and adds
the session to the run's ``machine.json``. The training's W&B run is offline, in the study folder;
Lightning's own SLURM requeue is off (:func:`igan.training.resume.cluster_plugins`): the study
resubmits a stopped run instead. The signal SLURM sends before the time limit (submitit's
``--signal``, SIGUSR2 by default) makes the training save its ``last.ckpt`` and stop.

Imports stay light (no torch or Lightning): submitit unpickles :func:`train_task` in the task's
own process, which only waits for the training.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from igan.study.plan import PlannedRun, plan_run, run_dir
from igan.study.pool import child_env, open_log, thread_count, train_command

#: Set to "1" in a task's training: :func:`igan.training.resume.cluster_plugins` then turns Lightning's requeue off
#: (the same name as ``igan.training.resume.NO_REQUEUE_ENV``, kept here so a task need not import Lightning).
NO_REQUEUE_ENV = "IGAN_SLURM_NO_REQUEUE"


def task_env(run: PlannedRun, out: Path, environ: Optional[dict] = None) -> dict:
    """A task's training environment: its CPUs as threads, W&B offline in the study, no Lightning requeue."""
    environ = dict(os.environ if environ is None else environ)
    given = environ.get("SLURM_CPUS_PER_TASK") or environ.get("SLURM_CPUS_ON_NODE") or ""
    threads = int(given) if given.isdigit() and int(given) > 0 else thread_count(1, environ)
    env = child_env(run, 0, 1, threads, [], environ)  # the W&B job type of a local run
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    if env.get("WANDB_MODE") != "disabled":
        env["WANDB_MODE"] = "offline"  # compute nodes often have no internet: `wandb sync` afterwards
    env["WANDB_DIR"] = str(out / "runs")  # where the training's logger writes its W&B run anyway
    env[NO_REQUEUE_ENV] = "1"
    return env


class TaskFailed(RuntimeError):
    """The training of an array task ended without finishing (its train.log says why)."""


def train_task(run: PlannedRun, out: Path, group: str, overrides: list[str]) -> int:
    """One array task on its node: plan the run from its folder, train it as a local run would, record the session.

    The warning signal before the time limit (submitit's, SIGUSR2 unless SUBMITIT_PREEMPT_SIGNAL
    says otherwise) is turned into SIGTERM for the training, which saves its last.ckpt and stops;
    the training itself ignores that signal, whose default action would kill it unsaved.
    """
    from igan.study.machine import record_machine

    folder = run_dir(out, run)
    plan_run(run, folder)
    if run.state == "done":
        return 0
    job = os.environ.get("SLURM_ARRAY_JOB_ID", os.environ.get("SLURM_JOB_ID", "?"))
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    where = f" (SLURM job {job}{'_' + task if task else ''} on {socket.gethostname()})"
    env = task_env(run, out)
    warning = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    log, _ = open_log(run, out, where)
    with log:
        proc = subprocess.Popen(train_command(run, out, group, overrides), stdout=log, stderr=subprocess.STDOUT,
                                env=env, preexec_fn=lambda: signal.signal(warning, signal.SIG_IGN))
        previous = signal.signal(warning, lambda signum, frame: proc.send_signal(signal.SIGTERM))
        try:
            code = proc.wait()
        finally:
            signal.signal(warning, previous)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    record_machine(folder, int(env["OMP_NUM_THREADS"]), cpu, time.perf_counter() - start)
    if code != 0:
        raise TaskFailed(f"{run.name}: igan train exited with {code}; see {run.log}")
    return code
