"""What a study trains: every config with every seed, each run done, to resume, or new.

A run is planned from what its folder holds (``metrics.csv``, ``checkpoints/last.ckpt``), so
re-running a study continues it whichever executor trained it before. Nothing here starts a
process: an executor (:mod:`igan.study.pool` on this machine, :mod:`igan.study.slurm` on a cluster)
trains what the plan says, each run with :func:`training_args`, and reports progress with
:func:`progress_line`.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from igan.errors import IganError
from igan.training.progress import format_minutes
from igan.training.run_folder import aside_path, last_epoch

#: Settings the study sets for every run; given as overrides they would break naming or resuming.
OWNED = ("--run_name", "--trainer.max_epochs", "--seed_everything", "--trainer.default_root_dir", "--samples_root",
         "--config", "--ckpt_path", "--wandb_group", "--checkpoint.dirpath", "--trainer.max_time")


@dataclass
class PlannedRun:
    config: Path
    name: str
    epochs: int
    seed: int = 0
    label: str = ""
    minutes: Optional[float] = None  # wall-clock budget of the training, evaluations included (None: epochs only)
    state: str = "new"  # "done", "resume" or "new"
    done: int = 0  # epochs completed (from metrics.csv)
    seconds: float = 0.0  # wall-clock of the run in this study so far, start-up and evaluation included
    trained: float = 0.0  # seconds of its time budget spent before this invocation (the Timer in last.ckpt)
    pace: Optional[float] = None  # seconds per epoch since its first new row, training and evaluation included
    ended: bool = False  # its process ended in this study (done or failed): no time left
    log: Optional[Path] = None
    metrics: dict = field(default_factory=dict)

    @property
    def left(self) -> int:
        return max(self.epochs - self.done, 0)


def run_dir(out: Path, run: PlannedRun) -> Path:
    """The run's folder in the study folder ``out``."""
    return out / "runs" / run.name


def estimate_left(runs: list[PlannedRun], jobs: int = 1) -> Optional[float]:
    """Seconds left for the study: each run's epochs left at its own pace (else the mean pace), at most
    what is left of its time budget plus the start-up and final evaluation that ended runs spent beyond
    theirs, laid out in order on ``jobs`` slots as the pool starts them (so a last run alone counts in full)."""
    paced = [r for r in runs if r.pace is not None]
    if not paced:
        return None
    mean_pace = sum(r.pace for r in paced) / len(paced)
    # Only runs that spent their budget tell the overrun: one that failed or ran out of epochs ended early.
    beyond = [r.seconds - (r.minutes * 60 - r.trained) for r in runs if r.ended and r.minutes is not None]
    beyond = [b for b in beyond if b > 0]
    overhead = sum(beyond) / len(beyond) if beyond else 0.0

    def left(r: PlannedRun) -> float:
        by_epochs = r.left * (r.pace if r.pace is not None else mean_pace)
        if r.minutes is None:
            return by_epochs
        return min(by_epochs, max(r.minutes * 60 - r.trained + overhead - r.seconds, 0.0))

    slots = [0.0] * max(1, jobs)
    for run in runs:
        if run.state != "done" and not run.ended:  # done when found, or ended in this study
            slots[slots.index(min(slots))] += left(run)
    return max(slots)


def max_time(minutes: float) -> str:
    """Lightning's ``DD:HH:MM:SS`` for a budget of ``minutes`` (to the second)."""
    seconds = max(1, round(minutes * 60))
    return f"{seconds // 86400:02d}:{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def training_seconds(folder: Path) -> Optional[float]:
    """Seconds the run has trained by Lightning's clock (its Timer, saved in ``last.ckpt``); None when unknown.

    The Timer is what ``trainer.max_time`` stops on, so this tells a run that spent its time budget
    from one stopped from outside. The checkpoint is memory-mapped, its tensors never read.
    """
    import torch

    path = folder / "checkpoints" / "last.ckpt"
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return float(state["callbacks"]["Timer"]["time_elapsed"]["train"])
    except Exception:  # no Timer (trained without a time budget), or an unreadable file: unknown
        return None


def finished(run: PlannedRun, folder: Path) -> bool:
    """Whether the run reached its epochs, or spent its time budget (``run.minutes``)."""
    epoch = last_epoch(folder)
    if epoch is not None and epoch >= run.epochs:
        return True
    if run.minutes is None:
        return False
    spent = training_seconds(folder)
    return spent is not None and spent >= run.minutes * 60 * 0.999


def latest_row(metrics_csv: Path) -> Optional[dict]:
    """The metrics.csv row of the highest epoch; None without the file or rows."""
    try:
        with open(metrics_csv, newline="") as f:
            rows = [r for r in csv.DictReader(f) if (r.get("epoch") or "").isdigit()]
    except (OSError, csv.Error):
        return None
    return max(rows, key=lambda r: int(r["epoch"])) if rows else None


def plan_run(run: PlannedRun, folder: Path) -> PlannedRun:
    """Set ``run.state``: done (metrics.csv reached the epochs, or the time budget is spent), resume (a last.ckpt) or new.

    A new run's folder that still holds epochs or checkpoints without a last.ckpt (killed before its
    first one was written) is moved aside to ``.<run>.replaced-<time>``, so the new run may start there.
    """
    epoch = last_epoch(folder)
    checkpoints = folder / "checkpoints"
    run.done = epoch or 0
    if finished(run, folder):
        run.state = "done"
    elif (checkpoints / "last.ckpt").is_file():
        run.state = "resume"
        if run.minutes is not None:  # a resumed run has only the rest of its budget left
            run.trained = training_seconds(folder) or 0.0
    else:
        run.state, run.done = "new", 0
        if (epoch or 0) > 0 or (checkpoints.is_dir() and any(checkpoints.glob("*.ckpt"))):
            aside = aside_path(folder, time.strftime("%Y%m%d-%H%M%S"))
            folder.rename(aside)
            print(f"note: {folder} had epochs but no last.ckpt to resume from; moved to {aside}", flush=True)
    return run


def check_request(seeds: tuple[int, ...], jobs: int, overrides: list[str]) -> None:
    """Raise :class:`IganError` for seeds, jobs or overrides a study cannot run with."""
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
            raise IganError(f"{arg.split('=')[0]} is set by the study itself; use --epochs, --minutes, --seeds, --group or --out")


def study_runs(configs: list[str], seeds: list[int], epochs: int, minutes: Optional[float] = None) -> list[PlannedRun]:
    """Every config with every seed, seed by seed (so early results cover every config), not yet planned."""
    paths = [Path(c) for c in configs]
    for path in paths:
        if not path.is_file():
            raise IganError(f"config not found: {path}")
    if len({p.stem for p in paths}) != len(paths):
        raise IganError("two configs have the same file name; the study names runs after them")
    return [PlannedRun(p, f"{p.stem}-s{seed}", epochs, seed=seed, label=p.stem, minutes=minutes)
            for seed in seeds for p in paths]


def plan_study(configs: list[str], seeds: list[int], epochs: int, out: Path, minutes: Optional[float] = None
               ) -> list[PlannedRun]:
    """:func:`study_runs`, each planned from its folder (:func:`plan_run`): when none of its runs is training."""
    return [plan_run(r, run_dir(out, r)) for r in study_runs(configs, seeds, epochs, minutes)]


def training_args(run: PlannedRun, out: Path, group: str, overrides: list[str]) -> list[str]:
    """The arguments of ``igan train`` for one run: its config, seed, budget, folders and W&B group."""
    args = ["--config", str(run.config), f"--trainer.max_epochs={run.epochs}", f"--seed_everything={run.seed}",
            f"--run_name={run.name}", f"--wandb_group={group}",
            f"--trainer.default_root_dir={out / 'runs'}", f"--samples_root={out / 'samples'}",
            "--trainer.enable_progress_bar=false", *overrides]
    if run.minutes is not None:
        args.append(f"--trainer.max_time={max_time(run.minutes)}")
    return args + (["--ckpt_path=last"] if run.state == "resume" else [])


def progress_line(runs: list[PlannedRun], index: int, jobs: int, elapsed: float) -> str:
    """``[2/6 name] epoch 3/10 (fid ...) | study 4 min, about 12 min left``: one run's progress in the study's."""
    run = runs[index]
    m = run.metrics
    shown = ", ".join(f"{key} {m[key]}" for key in ("fid", "kid", "recall", "coverage", "diversity") if m.get(key))
    left = estimate_left(runs, jobs)
    eta = f", about {format_minutes(left)} left" if left is not None else ""
    return (f"[{index + 1}/{len(runs)} {run.name}] epoch {run.done}/{run.epochs}"
            f"{' (' + shown + ')' if shown else ''} | study {format_minutes(elapsed)}{eta}")
