"""``python -m igan.app``: a checkpoint that cannot be served stops the command with one line, before
any server starts."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import REPO

from igan.app.cli import main


def fails_with(capsys, argv, *expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in errors[0], errors[0]


def test_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    fails_with(capsys, ["--ckpt", str(tmp_path / "gone.ckpt")], f"--ckpt {tmp_path / 'gone.ckpt'}: no such file")


def test_a_file_that_is_not_an_igan_checkpoint_is_one_line(tmp_path, capsys):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.ckpt")
    fails_with(capsys, ["--ckpt", str(tmp_path / "other.ckpt")], "not an igan training checkpoint")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    fails_with(capsys, ["--ckpt", str(tmp_path / "text.ckpt")], str(tmp_path / "text.ckpt"))


def test_usage_mistakes_are_one_line(capsys):
    fails_with(capsys, [], "--ckpt")
    fails_with(capsys, ["--ckpt", "x.ckpt", "--port", "high"], "--port")


def test_help_names_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith("usage: igan app ")


def test_python_dash_m_runs_the_same_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "igan.app", "--ckpt", str(tmp_path / "gone.ckpt")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: --ckpt") and "Traceback" not in done.stderr
