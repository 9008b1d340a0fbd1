"""metrics.csv writes are all or nothing: a failed write names the path and keeps the previous file."""

from __future__ import annotations

import errno
import os
from types import SimpleNamespace

import pytest

from igan.errors import IganError
from igan.training.history import COLUMNS, RunHistory, read_history


def write(history: RunHistory, epoch: int) -> None:
    history.write_row(SimpleNamespace(global_step=10 * epoch), SimpleNamespace(d_updates=10 * epoch), epoch)


def test_rows_append_under_one_header(tmp_path):
    history = RunHistory(tmp_path)
    for epoch in range(3):
        write(history, epoch)
    rows = read_history(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0]) == COLUMNS
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("failing", ["write", "replace"])
def test_a_failed_write_names_the_path_and_keeps_the_previous_file(tmp_path, monkeypatch, failing):
    history = RunHistory(tmp_path)
    write(history, 0)
    before = (tmp_path / "metrics.csv").read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync" if failing == "write" else "replace", no_space)
    with pytest.raises(IganError) as err:
        write(history, 1)
    assert str(tmp_path / "metrics.csv") in str(err.value)
    assert "No space left on device" in str(err.value)
    assert (tmp_path / "metrics.csv").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_resume_truncates_rows_after_the_checkpoint(tmp_path):
    history = RunHistory(tmp_path)
    for epoch in range(4):
        write(history, epoch)
    history._truncate_after(2)
    assert [r["epoch"] for r in read_history(tmp_path / "metrics.csv")] == ["0", "1", "2"]
