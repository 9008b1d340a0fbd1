"""igan.study.pool: runs trained at once share the CPU threads and take the GPUs in turn, and each ended
run records the machine share it got (machine.json) for the comparison."""

import json
import os
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from igan.report.comparison import machine_record, timing
from igan.study import pool
from igan.study.machine import MACHINE_FILE, read_machine, record_machine
from igan.study.plan import PlannedRun
from igan.study.pool import LocalPool, child_env, thread_count


def test_parallel_runs_split_the_threads_and_take_the_gpus_in_turn():
    run = PlannedRun(Path("configs/x_dcgan.yaml"), "x_dcgan-s1", 3, seed=1, label="x_dcgan")
    assert thread_count(2, {"OMP_NUM_THREADS": "16"}) == 8
    assert thread_count(32, {"OMP_NUM_THREADS": "16"}) == 1
    assert thread_count(1, {}) == len(os.sched_getaffinity(0))
    env = child_env(run, slot=3, jobs=2, threads=8, gpus=["0", "1"], environ={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "WANDB_JOB_TYPE": "x_dcgan", "OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "8",
                   "CUDA_VISIBLE_DEVICES": "1"}
    # One at a time: the run keeps the whole machine, threads and GPUs as the user set them.
    assert child_env(run, 0, 1, 8, ["0", "1"], {"CUDA_VISIBLE_DEVICES": "0,1"}) == {
        "CUDA_VISIBLE_DEVICES": "0,1", "WANDB_JOB_TYPE": "x_dcgan"}


BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end:\n    pass\n"


class BusyPool(LocalPool):
    """The local pool with a child that burns 0.3 s of CPU (or fails) instead of training."""

    def command(self, run):
        return [sys.executable, "-c", BUSY + ("raise SystemExit(3)\n" if run.seed else "")]


def test_each_ended_run_records_its_host_threads_and_the_cpu_share_it_got(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pool, "POLL_S", 0.05)
    runs = [PlannedRun(Path("x.yaml"), f"x-s{seed}", 1, seed=seed, label="x") for seed in (0, 1)]
    busy = BusyPool(runs, tmp_path, "g", [], jobs=1)
    busy.train()
    assert [(r.name, code) for r, code in busy.failed] == [("x-s1", 3)]
    for run in runs:  # a failed run's session is recorded too: its folder is in the comparison
        record = read_machine(tmp_path / "runs" / run.name)
        assert record["host"] == socket.gethostname() and record["threads"] == busy.threads
        assert record["cpu_seconds"] >= 0.3 and record["wall_seconds"] >= record["cpu_seconds"] / busy.threads
        assert record["cpu_share"] == pytest.approx(record["cpu_seconds"] / (record["wall_seconds"] * busy.threads),
                                                    abs=1e-3)
        assert 0 < record["cpu_share"] <= 1
    reports = [SimpleNamespace(path=tmp_path / "runs" / run.name) for run in runs]
    assert all(machine_record(r) for r in reports) and "missing" not in timing(reports)["reason"]


def test_a_continued_run_adds_its_sessions_and_a_session_elsewhere_is_marked(tmp_path):
    record_machine(tmp_path, threads=4, cpu_seconds=30.0, wall_seconds=10.0, host="a")
    both = record_machine(tmp_path, threads=4, cpu_seconds=10.0, wall_seconds=10.0, host="a")
    assert both == {"host": "a", "threads": 4, "cpu_share": 0.5, "cpu_seconds": 40.0, "wall_seconds": 20.0,
                    "thread_seconds": 80.0}
    moved = record_machine(tmp_path, threads=8, cpu_seconds=80.0, wall_seconds=10.0, host="b")
    assert moved["host"] == "a+b" and moved["threads"] == "4+8" and moved["cpu_share"] == pytest.approx(120 / 160)
    assert json.loads((tmp_path / MACHINE_FILE).read_text()) == moved == read_machine(tmp_path)
    (tmp_path / MACHINE_FILE).write_text("{half")
    assert read_machine(tmp_path) is None
    assert record_machine(tmp_path, 2, 1.0, 1.0, host="c")["cpu_share"] == 0.5  # an unreadable file starts anew


def test_runs_with_unequal_hosts_threads_or_shares_have_no_comparable_minutes(tmp_path):
    def run(name, host, threads, share):
        folder = tmp_path / name
        folder.mkdir()
        (folder / MACHINE_FILE).write_text(json.dumps({"host": host, "threads": threads, "cpu_share": share}))
        return SimpleNamespace(path=folder, name=name)

    alike = [run("a", "h", 8, 0.90), run("b", "h", 8, 0.95)]
    assert timing(alike)["comparable"]
    assert not timing([*alike, run("c", "h", 8, 0.45)])["comparable"]
    assert "different hosts or thread counts" in timing([*alike, run("d", "h+k", 8, 0.9)])["reason"]
    missing = SimpleNamespace(path=tmp_path / "none", name="none")
    assert "machine.json missing in 1 of 3" in timing([*alike, missing])["reason"]
