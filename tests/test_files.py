"""``igan.io.files.atomic_write``: all or nothing, one error naming the path, no temporary file left behind."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from igan.errors import IganError
from igan.io.files import atomic_torch_save, atomic_write


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("content, expected", [(b"\x00bytes\n", b"\x00bytes\n"),
                                               ("text, é\r\n", "text, é\r\n".encode()),
                                               (lambda tmp: tmp.write_bytes(b"by path"), b"by path")])
def test_writes_the_content_into_a_new_folder(content, expected, tmp_path):
    path = tmp_path / "new" / "file.txt"
    assert atomic_write(path, content) == path
    assert path.read_bytes() == expected
    assert leftovers(path.parent) == []


def test_the_file_is_on_disk_before_it_is_renamed(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append("replace") or real_replace(a, b))
    atomic_write(tmp_path / "a", "x")
    atomic_write(tmp_path / "b", lambda tmp: tmp.write_text("y"))
    assert calls == ["fsync", "replace"] * 2


def test_a_failed_write_keeps_the_old_file_and_names_the_path(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("old, complete\n")

    def full_disk(tmp):
        tmp.write_text("half a fi")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    with pytest.raises(IganError) as caught:
        atomic_write(path, full_disk)
    assert str(caught.value) == f"cannot write {path} (No space left on device)"  # the path, not the temporary file
    assert path.read_text() == "old, complete\n"
    assert leftovers(tmp_path) == []


def test_a_rename_that_fails_leaves_no_temporary_file(tmp_path):
    (tmp_path / "config.yaml").mkdir()  # a folder in the way
    with pytest.raises(IganError, match=f"^cannot write {tmp_path / 'config.yaml'} \\(Is a directory\\)$"):
        atomic_write(tmp_path / "config.yaml", "a: 1\n")
    assert leftovers(tmp_path) == []


def test_the_message_and_the_errors_that_count_as_a_failed_write(tmp_path):
    def torch_like(tmp):  # torch's zip writer: a RuntimeError with the OSError as its context
        tmp.write_bytes(b"half")
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos 704 vs 598")

    with pytest.raises(IganError, match=r"^could not write checkpoint .*x\.ckpt \(No space left on device\); kept$"):
        atomic_write(tmp_path / "x.ckpt", torch_like, errors=(OSError, RuntimeError),
                     message="could not write checkpoint {path} ({cause}); kept")
    with pytest.raises(RuntimeError, match="unexpected pos"):  # not a write failure for this writer: unchanged
        atomic_write(tmp_path / "x.ckpt", torch_like)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_mid_write_leaves_nothing(tmp_path):
    def interrupted(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "x.ckpt", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_torch_save_round_trips_and_reports_a_full_disk(tmp_path, monkeypatch):
    state = {"w": torch.arange(6.0).view(2, 3), "step": 3}
    path = atomic_torch_save(state, tmp_path / "state.pt")
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 3

    def full_disk(obj, f, *args, **kwargs):
        f.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(IganError, match=f"^cannot write the cache {path} \\(No space left on device\\)$"):
        atomic_torch_save({}, path, message="cannot write the cache {path} ({cause})")
    assert torch.equal(torch.load(path, weights_only=True)["w"], state["w"])
    assert leftovers(tmp_path) == []
