"""The ``igan`` command: every command listed, each with its own help, a mistyped one refused in one line."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from igan.__main__ import COMMANDS, command, main

EVERY = ["train", "sample", "study", "compare", "metrics", "summary", "dashboard"]


def test_help_lists_every_command_with_its_line(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: igan COMMAND")
    listed = [line.split()[0] for line in out.split("commands:\n")[1].split("\n\n")[0].splitlines()]
    assert listed == list(COMMANDS) and set(EVERY) <= set(listed)
    for name, (_, about) in COMMANDS.items():
        assert about in out


@pytest.mark.parametrize("name", EVERY)
def test_every_command_runs_a_function_that_exists(name):
    assert callable(command(name))


def test_an_unknown_command_is_one_line_and_exit_2(capsys):
    assert main(["compre", "--out", "x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("error: unknown command 'compre'; did you mean 'compare'?")
    assert all(name in captured.err for name in EVERY)
    assert main(["nonsense"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_no_command_shows_the_usage_and_exits_2(capsys):
    assert main([]) == 2
    assert capsys.readouterr().err.startswith("usage: igan COMMAND")


@pytest.mark.parametrize("name", ["sample", "study", "compare", "metrics", "summary", "dashboard"])
def test_each_argparse_command_shows_its_own_help_under_its_igan_name(name, capsys):
    try:
        code = main([name, "--help"])  # igan study returns its status, argparse's others exit
    except SystemExit as stop:
        code = stop.code
    assert code in (0, None)
    assert capsys.readouterr().out.startswith(f"usage: igan {name} ")


def test_a_mistake_in_a_command_is_that_commands_one_line(capsys):
    assert main(["compare", "--cell-size", "big"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--cell-size" in err and err.count("\n") == 1


def test_python_m_igan_runs_the_same_commands(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "igan", "compare", "--help"], cwd=tmp_path, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("usage: igan compare "), ok.stderr
    bad = subprocess.run([sys.executable, "-m", "igan", "comapre"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown command 'comapre'")


def test_the_igan_console_script_is_installed():
    try:
        dist = importlib.metadata.distribution("igan")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("igan is imported from the checkout, not installed")
    scripts = [s for s in dist.entry_points if s.group == "console_scripts" and s.name == "igan"]
    assert scripts, "no `igan` console script: reinstall the package (pip install -e . or make install)"
    assert scripts[0].value == "igan.__main__:main"
    found = shutil.which("igan", path=str(Path(sys.executable).parent))
    assert found, f"igan is not beside {sys.executable}"
    result = subprocess.run([found, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and all(name in result.stdout for name in EVERY)
