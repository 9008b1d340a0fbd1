"""Writing a file all or nothing: every file igan writes (grids, metrics.csv, config.yaml,
checkpoints, caches, the compiled CPU loops) goes through :func:`atomic_write`.

The content is written to a temporary file beside the target, flushed to disk, and renamed over
the target (``os.replace`` is atomic on POSIX). A kill at any instant or a full disk leaves the
previous complete file, never half of one; a failed write leaves no temporary file behind and
ends in one :class:`~igan.errors.IganError` naming the path and the cause.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable, Union

from igan.errors import IganError

#: What :func:`atomic_write` writes: the bytes or text themselves, or a function that writes the
#: temporary file at the path it is given (a library that wants a path or its own file object).
Content = Union[bytes, str, Callable[[Path], object]]


def failure_cause(err: BaseException, folder: Path) -> str:
    """The cause of a failed write in words ("No space left on device"), for one error line.

    torch's zip writer reports a full disk as a RuntimeError ("unexpected pos", "file write
    failed") whose context holds the OSError; without one, a nearly full disk is the likely cause.
    """
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    try:
        if shutil.disk_usage(folder).free < 1 << 20:
            return os.strerror(errno.ENOSPC)
    except OSError:
        pass
    return str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__


def atomic_write(
    path: str | Path,
    content: Content,
    *,
    message: str = "cannot write {path} ({cause})",
    errors: tuple[type[BaseException], ...] = (OSError,),
) -> Path:
    """Write ``content`` to ``path`` all or nothing; returns the path.

    Args:
        path: the file to write; its folder is created when missing.
        content: bytes, text (written as UTF-8, newlines as given), or a function called with the
            temporary file's path that writes it.
        message: the error line, formatted with ``path`` and ``cause`` (:func:`failure_cause`).
        errors: the exceptions that mean "the write failed" and become that :class:`IganError`
            (a writer whose library reports a full disk as RuntimeError adds it). Any other
            exception, a failed compile say, propagates unchanged; the temporary file goes either way.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # secrets: no RNG a run draws from
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Flushed to disk before the rename: after a crash the name holds the old file or the new one, whole.
        if callable(content):
            content(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        else:
            with open(tmp, "xb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except errors as err:
        _remove(tmp)
        raise IganError(message.format(path=path, cause=failure_cause(err, path.parent))) from err
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(tmp: Path) -> None:
    """Remove a temporary file, quietly: the error that led here is the one worth reporting."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def atomic_torch_save(obj: Any, path: str | Path, *, message: str = "cannot write {path} ({cause})") -> Path:
    """``torch.save(obj)`` to ``path`` through :func:`atomic_write`.

    Through a file object, so that a full disk surfaces as its OSError; torch's zip writer then
    reports it as a RuntimeError with that OSError as its context, so both count as a failed write.
    """
    import torch  # here: readers of run folders (reports) import this module without torch

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    return atomic_write(path, save, message=message, errors=(OSError, RuntimeError))
