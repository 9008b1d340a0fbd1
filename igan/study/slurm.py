"""The SLURM executor of a study: the runs to train as one job array, submitted through submitit.

``igan study ... --executor slurm`` does not wait for the array. Each invocation reads every run's
state (:mod:`igan.study.slurm_state`, from the run folders and ``squeue``), prints it, submits the
runs neither done nor in the queue as one array (:func:`submit`) and returns; the same command
again continues, and writes the comparison once every run is done (:mod:`igan.study.cli`).

This module turns the study's ``--slurm-*`` options into submitit's parameters of that array and
talks to SLURM's client commands (``sbatch`` through submitit, ``sinfo``, ``squeue``; never
``sacct``, which many clusters, and a one-node SLURM without slurmdbd, do not have). Each task runs
:func:`igan.study.slurm_task.train_task` on its node.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import math
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from igan.errors import IganError
from igan.study.plan import PlannedRun
from igan.study.slurm_state import SLURM_FOLDER, read_jobs, write_jobs
from igan.study.slurm_task import train_task

#: Seconds before the time limit at which SLURM signals a task to save and stop (submitit's ``signal_delay_s``).
SIGNAL_DELAY_S = 120


@dataclass
class SlurmOptions:
    """What a cluster user sets for every task of the array (None: the cluster's default)."""

    partition: Optional[str] = None
    gpus_per_task: Optional[int] = None
    cpus_per_task: Optional[int] = None
    mem: Optional[str] = None  # SLURM's --mem: 16G, 4000M
    time: Optional[str] = None  # SLURM's --time: minutes, H:MM:SS, D-HH:MM...
    parallel: Optional[int] = None  # tasks at once, the array's %N
    sbatch: list[str] = field(default_factory=list)  # extra "#SBATCH --key=value" lines, or shell lines
    retry_failed: bool = False  # resubmit runs that failed by themselves (not only those stopped from outside)


def minutes(text: str) -> int:
    """SLURM's time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in whole minutes, rounded up; 0 for unlimited."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited"):
        return 0
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise IganError(f"--slurm-time: not a SLURM time ({text!r}); give minutes or D-HH:MM:SS, e.g. 90 or 4:00:00")
    days, a, b, c = match.groups()
    parts = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # D-H, D-H:M, D-H:M:S
        seconds = int(days) * 86400 + sum(v * s for v, s in zip(parts, (3600, 60, 1)))
    else:  # M, M:S, H:M:S
        seconds = {1: lambda: parts[0] * 60, 2: lambda: parts[0] * 60 + parts[1],
                   3: lambda: parts[0] * 3600 + parts[1] * 60 + parts[2]}[len(parts)]()
    return math.ceil(seconds / 60)


def sbatch_lines(lines: list[str]) -> tuple[dict, list[str]]:
    """``--slurm-sbatch`` lines as submitit's ``additional_parameters`` (the options) and ``setup`` (shell lines).

    ``--qos=high``, ``#SBATCH --qos=high`` and ``--qos high`` are options (``--exclusive`` alone is
    a flag); any other line (``module load cuda``, ``source venv/bin/activate``) runs in the job
    script before the task.
    """
    options: dict = {}
    setup: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("#SBATCH"):
            text = text[len("#SBATCH"):].strip()
        elif not text.startswith("-"):
            setup.append(line)
            continue
        if not text.startswith("--") or len(text) < 3:
            raise IganError(f"--slurm-sbatch: give sbatch's long options (--account=NAME), got {line!r}")
        key, sep, value = text[2:].partition("=")
        if not sep:
            key, _, value = text[2:].partition(" ")
        options[key.strip()] = value.strip() or True
    return options, setup


def partition_time(partition: Optional[str]) -> str:
    """The time limit a task gets without ``--time``: the partition's default time, else its maximum."""
    result = _slurm(["sinfo", "--noheader", "--format=%P|%L|%l"])
    rows = [line.split("|") for line in result.splitlines() if line.count("|") == 2]
    for name, default, maximum in rows:
        if (partition is None and name.endswith("*")) or name.rstrip("*") == partition:
            return default if default not in ("n/a", "") else maximum
    raise IganError(f"no partition {partition!r} in sinfo" if partition else "sinfo shows no default partition; "
                    "give --slurm-partition")


def executor_parameters(options: SlurmOptions, name: str, time_limit: str) -> dict:
    """submitit's SlurmExecutor parameters of the study's array: one task of one process per run."""
    extra, setup = sbatch_lines(options.sbatch)
    params: dict = {"job_name": name, "nodes": 1, "ntasks_per_node": 1, "time": minutes(time_limit),
                    "signal_delay_s": SIGNAL_DELAY_S}
    for key in ("partition", "gpus_per_task", "cpus_per_task", "mem"):
        if getattr(options, key):  # 0 GPUs: none asked for
            params[key] = getattr(options, key)
    if options.parallel is not None:
        params["array_parallelism"] = options.parallel
    if extra:
        params["additional_parameters"] = extra
    if setup:
        params["setup"] = setup
    return params


def check_options(options: SlurmOptions) -> None:
    """Raise :class:`IganError` for an option SLURM would refuse, before anything is submitted."""
    for key in ("gpus_per_task", "cpus_per_task", "parallel"):
        value = getattr(options, key)
        if value is not None and value < (0 if key == "gpus_per_task" else 1):
            raise IganError(f"--slurm-{key.replace('_per_', '-per-').replace('_', '-')} must be >= "
                            f"{0 if key == 'gpus_per_task' else 1}, got {value}")
    if options.mem is not None and not re.fullmatch(r"\d+[KMGT]?B?", options.mem.upper()):
        raise IganError(f"--slurm-mem: give SLURM's --mem, e.g. 16G or 4000M, got {options.mem!r}")
    if options.time is not None:
        minutes(options.time)
    sbatch_lines(options.sbatch)


def _slurm(command: list[str]) -> str:
    """A SLURM client command's output; :class:`IganError` with its message when it is missing or fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise IganError(f"{command[0]} not found: --executor slurm runs where SLURM's commands are") from None
    except subprocess.TimeoutExpired:
        raise IganError(f"{command[0]} did not answer within 60 s; is slurmctld up?") from None
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        raise IganError(f"{command[0]} failed: {message}")
    return done.stdout


def queue() -> dict[str, tuple[str, str]]:
    """This user's tasks in the queue: job id ("123_4", one line per array task) -> (state, reason)."""
    listing = _slurm(["squeue", "--array", "--noheader", "--format=%i|%T|%r", f"--user={getpass.getuser()}"])
    tasks = {}
    for line in listing.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            tasks[parts[0]] = (parts[1], parts[2])
    return tasks


def submit(runs: list[PlannedRun], out: Path, group: str, overrides: list[str], options: SlurmOptions) -> list[str]:
    """Submit ``runs`` as one job array (one task each, in order); their job ids ("123_0", ...), also in jobs.json."""
    import submitit

    for tool in ("sbatch", "srun"):  # submitit's job script starts each task with srun
        if shutil.which(tool) is None:
            raise IganError(f"{tool} not found: --executor slurm runs where SLURM's commands are")
    time_limit = options.time or partition_time(options.partition)
    params = executor_parameters(options, f"igan-{out.resolve().name}", time_limit)
    executor = submitit.SlurmExecutor(folder=out.resolve() / SLURM_FOLDER)  # tasks run this Python (sys.executable)
    executor.update_parameters(**params)
    absolute = out.resolve()  # whatever directory a task starts in
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's refusal; it is in the error below
            submitted = executor.map_array(train_task, runs, [absolute] * len(runs), [group] * len(runs),
                                           [overrides] * len(runs))
    except FileNotFoundError:
        raise IganError("sbatch not found: --executor slurm runs where SLURM's commands are") from None
    except submitit.core.utils.FailedJobError as err:  # sbatch's own message, e.g. an unknown partition
        message = str(err).strip().splitlines()
        raise IganError(f"sbatch refused the array: {message[-1] if message else 'no message'}") from None
    ids = [job.job_id for job in submitted]
    write_jobs(out, {**read_jobs(out), **{run.name: job for run, job in zip(runs, ids)}})
    return ids
