"""``<run>/machine.json``: where a run trained and how much CPU it actually got, so its minutes can be compared.

Training minutes say something about a model only when the runs compared had the same machine:
the same host, the same thread count, and the same share of those threads. Runs trained side by
side (``igan study --jobs N``) or beside another program may get unequal shares even with equal
thread counts, and one run's minutes then measure its neighbours as much as itself.

The study's executor writes the file when a child training ends (:mod:`igan.study.pool`)::

    {"host": "node-3", "threads": 8, "cpu_share": 0.93,
     "cpu_seconds": 1234.5, "wall_seconds": 166.0, "thread_seconds": 1328.0}

``cpu_share`` is the child's CPU seconds (user + system, its own waited-for children included)
over its wall seconds times the threads it was given: near 1 when every thread it was given was
busy the whole time, lower when it waited for the CPU (or for a GPU, which is the same on every
run of one config). A run continued over several sessions accumulates the seconds; a session on
another host or with another thread count joins the values with "+" ("node-3+node-4"), so the run
no longer compares with runs trained wholly on one of them. :mod:`igan.report.comparison` reads
``host``, ``threads`` and ``cpu_share`` (:data:`KEYS`) to decide whether minutes compare.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Optional

#: The file's name in a run folder.
MACHINE_FILE = "machine.json"
#: What a reader needs to compare runs' minutes.
KEYS = ("host", "threads", "cpu_share")


def read_machine(run_folder: str | Path) -> Optional[dict[str, Any]]:
    """The run's record with at least :data:`KEYS`; None when absent, unreadable or incomplete."""
    try:
        record = json.loads((Path(run_folder) / MACHINE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and all(k in record for k in KEYS) else None


def _joined(previous: Any, current: Any) -> Any:
    """``current`` when it equals ``previous`` (or there was none), else both joined with "+" (each once)."""
    if previous is None or str(previous) == str(current):
        return current
    parts = str(previous).split("+")
    return "+".join(parts if str(current) in parts else parts + [str(current)])


def record_machine(run_folder: str | Path, threads: int, cpu_seconds: float, wall_seconds: float,
                   host: Optional[str] = None) -> dict[str, Any]:
    """Add one training session (``threads`` given, CPU and wall seconds measured) to the run's ``machine.json``.

    Returns the record written. Sessions of one run add up; see the module docstring for a run
    continued elsewhere.
    """
    from igan.io.files import atomic_write

    host = host or socket.gethostname()
    previous = read_machine(run_folder) or {}
    if not all(isinstance(previous.get(k), (int, float)) for k in ("cpu_seconds", "wall_seconds", "thread_seconds")):
        previous = {}
    cpu = previous.get("cpu_seconds", 0.0) + max(0.0, cpu_seconds)
    wall = previous.get("wall_seconds", 0.0) + max(0.0, wall_seconds)
    thread_seconds = previous.get("thread_seconds", 0.0) + max(0.0, wall_seconds) * max(1, threads)
    record = {
        "host": _joined(previous.get("host"), host),
        "threads": _joined(previous.get("threads"), threads),
        "cpu_share": round(cpu / thread_seconds, 4) if thread_seconds > 0 else 0.0,
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 3),
        "thread_seconds": round(thread_seconds, 3),
    }
    atomic_write(Path(run_folder) / MACHINE_FILE, json.dumps(record, indent=2) + "\n")
    return record
