"""Where FID and the collapse-aware metrics disagree, and where those metrics say nothing.

FID improving while recall, coverage or distinct_nn (the share of distinct nearest real neighbours
among the generated samples) falls is a collapse (sharp but few samples) that FID alone reports as
progress. distinct_nn is also read against its real-vs-real value: well below it, the samples crowd
onto a few real ones (:func:`distinct_state`). A metric that sits at its floor in every run (recall 0 everywhere, as early
64 px training gives) cannot fall, so it can neither confirm nor contradict FID: it is reported as
uninformative instead of "agreeing".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from igan.report.runs import Run

#: A fall of recall, coverage or distinct_nn (all in [0, 1]) this large while FID improves counts as a collapse.
COLLAPSE_DROP = 0.1
COLLAPSE_METRICS = ("recall", "coverage", "distinct_nn")
#: distinct_nn below this fraction of its real-vs-real value: the samples crowd onto few real ones.
DISTINCT_COLLAPSED = 0.5
#: Precision, recall and coverage at or below this in every run's last evaluation are at their floor.
FLOOR = 0.01


@dataclass
class Collapse:
    """One run's FID improving from ``start`` to ``end`` while ``metric`` falls by ``drop``."""

    run: Run
    metric: str
    start: dict[str, Any]
    end: dict[str, Any]

    @property
    def drop(self) -> float:
        return self.start[self.metric] - self.end[self.metric]

    def as_dict(self) -> dict[str, Any]:
        return {"run": self.run.name, "metric": self.metric, "from_epoch": self.start["epoch"],
                "to_epoch": self.end["epoch"], "fid_from": self.start["fid"], "fid_to": self.end["fid"],
                "metric_from": self.start[self.metric], "metric_to": self.end[self.metric]}


def find_collapse(run: Run, metric: str, min_drop: float = COLLAPSE_DROP) -> Optional[Collapse]:
    """From the epoch of the run's highest ``metric`` to its last evaluation: FID lower, metric lower by ``min_drop``."""
    rows = [row for row in run.rows if isinstance(row.get("fid"), float) and isinstance(row.get(metric), float)]
    if len(rows) < 2:
        return None
    peak = max(rows, key=lambda row: (row[metric], -row["epoch"]))
    last = rows[-1]
    if last["epoch"] > peak["epoch"] and last["fid"] < peak["fid"] and peak[metric] - last[metric] >= min_drop:
        return Collapse(run, metric, peak, last)
    return None


def collapses(runs: Sequence[Run], metrics: Sequence[str] = COLLAPSE_METRICS) -> list[Collapse]:
    """Each run's largest collapse signal over ``metrics``."""
    found = []
    for run in runs:
        signals = [c for c in (find_collapse(run, m) for m in metrics) if c is not None]
        if signals:
            found.append(max(signals, key=lambda c: c.drop))
    return found


def distinct_state(final: Optional[float], reference: Optional[float]) -> Optional[float]:
    """Final distinct_nn as a fraction of its real-vs-real value; None without either."""
    if final is None or not reference:
        return None
    return final / reference


def floor_state(finals: Sequence[float]) -> Optional[str]:
    """"zero" when every final value is 0, "floor" when every one is at most FLOOR, else None (informative)."""
    if not finals:
        return None
    if all(v == 0 for v in finals):
        return "zero"
    return "floor" if all(v <= FLOOR for v in finals) else None
