"""Simulated studies for the statistics tests: FID curves like a short calligraphy study's, as in-memory runs.

A seed's curve falls geometrically from about 330 to a floor of about 40 with its own time scale
(log-normal spread between seeds) and multiplicative evaluation noise, evaluated every epoch from
epoch 0. A model "k times faster" has time scales divided by k. No files: :class:`Run` objects
are built directly, so hundreds of studies take a second or two.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from igan.report.runs import Run, RunGroup

START, FLOOR, SCALE = 330.0, 40.0, 3.0
SEED_SPREAD, EVAL_NOISE = 0.25, 0.06


def curve(rng: np.random.Generator, epochs: int, speed: float = 1.0) -> list[float]:
    scale = SCALE / speed * math.exp(rng.normal(0.0, SEED_SPREAD))
    return [float((FLOOR + (START - FLOOR) * math.exp(-e / scale)) * math.exp(rng.normal(0.0, EVAL_NOISE)))
            for e in range(epochs + 1)]


def make_run(label: str, seed: int, fids: list[Optional[float]], minutes_per_epoch: float = 1.0,
             budget: Optional[int] = None, nan_from: Optional[int] = None, extra: Optional[dict] = None) -> Run:
    rows = []
    for epoch, fid in enumerate(fids):
        row = {"epoch": epoch, "train_seconds": 60.0 * minutes_per_epoch * epoch, "grid": None,
               "fid": None if fid is None or (nan_from is not None and epoch >= nan_from) else float(fid)}
        for column, values in (extra or {}).items():
            row[column] = values[epoch]
        rows.append(row)
    config = {"trainer": {"max_epochs": len(fids) - 1 if budget is None else budget}}
    return Run(name=f"{label}-s{seed}", path=__import__("pathlib").Path(f"/nonexistent/{label}-s{seed}"), rows=rows,
               config=config, label=label, seed=seed, nan_epochs={} if nan_from is None else {"fid": nan_from})


def study(rng: np.random.Generator, speeds: dict[str, float], seeds: int | dict[str, int],
          epochs: int = 10) -> list[RunGroup]:
    """One group per label (the first is the baseline); ``seeds``: one count for all, or one per label."""
    counts = seeds if isinstance(seeds, dict) else {label: seeds for label in speeds}
    return [RunGroup(label, [make_run(label, s, curve(rng, epochs, speed)) for s in range(counts[label])])
            for label, speed in speeds.items()]
