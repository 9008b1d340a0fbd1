"""One run per run folder: a lock while a run trains there, and no new run started over a finished one.

- :class:`RunFolderLock`: ``fcntl.flock`` on ``<run_dir>/.lock`` for the whole training process. The
  OS releases it when the process dies (kill -9 too); the file names the holder (pid, host, start
  time) for the message a second process prints. A clean release deletes the file, so a file
  found with a name in it was left by a process that died: it is taken over with one warning.
- :func:`guard_run_folder`: a folder that holds a run (a checkpoint, or metrics.csv rows past
  epoch 0) is not reused by a new run; ``--overwrite`` moves it (and its grid folder) aside.
"""

from __future__ import annotations

import csv
import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from typing import Optional

from igan.errors import IganError

LOCK_NAME = ".lock"


def launched_as_rank_zero() -> bool:
    """False in the processes DDP launchers start for the other ranks (they re-run the CLI)."""
    if os.environ.get("RANK") is not None:
        return int(os.environ["RANK"]) == 0
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _holder(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _describe(holder: dict[str, str]) -> str:
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"


class RunFolderLock:
    """An exclusive lock on a run folder, held from :meth:`acquire` to :meth:`release` (or process death)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`IganError` naming the process that holds it."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for _ in range(5):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
                    os.close(fd)
                    raise IganError(
                        f"run folder {self.run_dir} is in use by another training ({_describe(holder)}); "
                        "wait for it to end, or start this one with another --run_name") from None
                # The holder may have released (deleted the file) between our open and flock: then we
                # locked a file no longer at the path, and a third process could lock the new one.
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                self._take(fd)
                return
        except OSError as err:
            raise IganError(f"cannot lock run folder {self.run_dir} ({err.strerror or err})") from err
        raise IganError(f"cannot lock run folder {self.run_dir}: other processes keep replacing {self.path}")

    def _take(self, fd: int) -> None:
        left = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"pid={os.getpid()}\nhost={socket.gethostname()}\n"
                       f"started={time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
        self._fd = fd
        if left:  # a clean release deletes the file: its holder died (kill -9, power loss)
            print(f"warning: taking over the lock of run folder {self.run_dir} from a process that ended without "
                  f"releasing it ({_describe(left)})", file=sys.stderr, flush=True)

    def moved_to(self, run_dir: Path) -> None:
        """The locked folder was renamed to ``run_dir`` (the lock file went with it)."""
        self.run_dir, self.path = Path(run_dir), Path(run_dir) / LOCK_NAME

    def release(self) -> None:
        """Delete the lock file (a clean end) and unlock; safe to call more than once."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                os.unlink(self.path)
        except OSError:
            pass  # gone already, or an unwritable folder: the OS lock still ends with the close
        finally:
            os.close(fd)


def last_epoch(run_dir: Path) -> Optional[int]:
    """The highest epoch in ``run_dir/metrics.csv``; None without rows. A study plans its runs by it too."""
    try:
        with open(run_dir / "metrics.csv", newline="") as f:
            epochs = [int(r["epoch"]) for r in csv.DictReader(f) if (r.get("epoch") or "").isdigit()]
    except (OSError, KeyError, csv.Error):
        return None
    return max(epochs) if epochs else None


def holds_run(run_dir: Path, checkpoint_dir: Path) -> Optional[str]:
    """Why ``run_dir`` holds a run ("last epoch 3"), or None when a new run may start there."""
    checkpoints = sorted(checkpoint_dir.glob("*.ckpt")) if checkpoint_dir.is_dir() else []
    epoch = last_epoch(run_dir)
    if not checkpoints and not epoch:
        return None
    if epoch is not None:
        return f"last epoch {epoch}"
    return f"checkpoints {', '.join(p.name for p in checkpoints[:3])}, no metrics.csv"


def aside_path(path: Path, stamp: str) -> Path:
    """Where a replaced run (or grid) folder goes: ``.<name>.replaced-<stamp>`` beside it, a free name.

    Hidden, so ``runs/*`` globs (compare, wandb sync) never take the old run for another seed.
    """
    target, n = path.with_name(f".{path.name}.replaced-{stamp}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f".{path.name}.replaced-{stamp}-{n}")
    return target


def guard_run_folder(lock: RunFolderLock, checkpoint_dir: Path, samples_dir: Optional[Path], overwrite: bool) -> None:
    """Stop a new run over a run folder that holds one; with ``overwrite``, move that run aside first.

    ``lock`` holds the folder, so no live run is moved; it holds the new, empty folder afterwards.
    """
    run_dir = lock.run_dir
    held = holds_run(run_dir, checkpoint_dir)
    if held is None:
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if not overwrite:
        raise IganError(
            f"{run_dir} already holds a run ({held}); continue it with --ckpt_path=last, start another with "
            f"--run_name=<new name>, or pass --overwrite to move it aside to .{run_dir.name}.replaced-{stamp}")
    moved = [(run_dir, aside_path(run_dir, stamp))]
    if samples_dir is not None and samples_dir.is_dir() and not samples_dir.resolve().is_relative_to(run_dir.resolve()):
        moved.append((samples_dir, aside_path(samples_dir, stamp)))
    try:
        for old, new in moved:
            os.rename(old, new)
    except OSError as err:
        raise IganError(f"--overwrite: cannot move {err.filename} aside ({err.strerror or err})") from err
    old_lock = RunFolderLock(moved[0][1])
    old_lock._fd, lock._fd = lock._fd, None  # our lock moved with the old folder
    try:
        lock.acquire()  # the new, empty folder
    finally:
        old_lock.release()
    print("--overwrite: moved the earlier run aside: " + "; ".join(f"{old} -> {new}" for old, new in moved),
          file=sys.stderr, flush=True)
