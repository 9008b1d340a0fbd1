"""What every benchmark prints first: the machine its numbers come from, and a device sync.

Machines of one kind differ up to 3x in speed, so a number is only meaningful beside the CPU/GPU,
thread count and library versions that produced it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def describe(device: torch.device) -> str:
    """CPU model, cores (and how many this process may use), torch threads, GPU, library versions."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [f"CPU: {cpu}, {os.cpu_count()} logical cores ({usable} usable), {torch.get_num_threads()} torch threads"]
    if device.type == "cuda":
        lines.append(f"GPU: {torch.cuda.get_device_name(device)}")
    versions = f"torch {torch.__version__}"
    try:
        import lightning

        versions += f", lightning {lightning.__version__}"
    except ImportError:
        pass
    lines.append(f"{versions}, Python {platform.python_version()}, device {device.type}")
    return "\n".join(lines)


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work, so a timer measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
