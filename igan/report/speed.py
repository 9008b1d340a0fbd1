"""Convergence speed from the whole FID curve: a fixed target, interpolated crossings, censoring, curve area.

- **The target** is fixed before any challenger is looked at: ``--target-fid``, or by default the
  level where the baseline's mean curve (the mean of log FID over its seeds, on the epochs they
  all evaluated) has come 90% of the way, in log FID, from its first evaluation down to its
  lowest point. Not the lowest point itself: a mean curve's minimum lies below about half of the
  seeds' curves near the end, so half of the baseline's own seeds would be censored and every
  speed-up a bound. It must lie below every run's first evaluated FID, so that no run "reaches"
  it untrained; where the baseline's level does not, it is lowered to 5% under the lowest first
  FID (a 1-epoch budget, a challenger that starts better).
- **A crossing** is where the curve first goes from above the target to at or below it,
  interpolated linearly in log FID between the two evaluations around it (FID falls roughly
  geometrically), both in epochs and in training minutes. It is never 0: every run starts above.
- **Censoring**: a seed that does not reach the target within the horizon (the budget every
  compared run had) is censored there: it counts as "not within the budget", and its restricted
  time is the horizon. The restricted times are what a speed-up is computed from, so a censored
  challenger seed makes the speed-up an upper bound, a censored baseline seed a lower bound.
- **Curve area**: the integral of log FID over [start, horizon] epochs (trapezoids), per seed:
  lower is better, sooner and lower at once, and nothing is censored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from igan.errors import IganError
from igan.report.runs import Run

#: How far under the lowest first FID a target is put when the baseline's level is not below it.
BELOW_FIRST = 0.95
#: The share of the baseline mean curve's fall in log FID, from its first evaluation to its lowest point, at the target.
SHARE_OF_FALL = 0.9


@dataclass(frozen=True)
class Point:
    epoch: int
    fid: float
    minutes: Optional[float]


def fid_curve(run: Run) -> list[Point]:
    """The run's finite FID evaluations in epoch order, up to (without) its first NaN FID."""
    stop = run.nan_epochs.get("fid")
    points = []
    for row, fid in run.values("fid"):
        if stop is not None and row["epoch"] >= stop:
            break
        if fid > 0 and math.isfinite(fid):
            seconds = row.get("train_seconds")
            points.append(Point(row["epoch"], fid, None if seconds is None else seconds / 60))
    return points


@dataclass(frozen=True)
class Target:
    """The FID level of the speed comparison: its value, where it came from, or why there is none."""

    value: Optional[float]
    source: str  # "given", "baseline mean curve", "lowered below the first evaluations", "none"
    how: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "how": self.how}


def mean_log_curve(runs: Sequence[Run]) -> list[tuple[int, float]]:
    """(epoch, mean log FID over the runs) on the epochs every run evaluated."""
    curves = [{p.epoch: math.log(p.fid) for p in fid_curve(run)} for run in runs]
    curves = [c for c in curves if c]
    if not curves:
        return []
    common = sorted(set(curves[0]).intersection(*curves[1:]))
    return [(e, sum(c[e] for c in curves) / len(curves)) for e in common]


def lowest_first_fid(runs: Sequence[Run]) -> Optional[float]:
    firsts = [curve[0].fid for curve in map(fid_curve, runs) if curve]
    return min(firsts) if firsts else None


def choose_target(baseline: Sequence[Run], runs: Sequence[Run], given: Optional[float] = None) -> Target:
    """The target (see the module docstring); ``baseline``: its analysed runs, ``runs``: every analysed run."""
    first = lowest_first_fid(runs)
    if given is not None:
        if first is not None and given >= first:
            raise IganError(f"--target-fid {given:g} is not below every run's first evaluated FID (lowest "
                            f"{first:.2f}): a run would reach it untrained; give a lower one")
        return Target(given, "given", "given with --target-fid")
    curve = mean_log_curve(baseline)
    if len(curve) < 2:
        return Target(None, "none", "the baseline has fewer than two evaluations common to its seeds")
    epoch, level = min(curve, key=lambda point: (point[1], point[0]))
    if epoch == curve[0][0]:
        return Target(None, "none", "the baseline's mean curve never goes below its first evaluation")
    value = math.exp(level + (1 - SHARE_OF_FALL) * (curve[0][1] - level))
    how = (f"{SHARE_OF_FALL:.0%} of the way in log FID from the baseline's mean curve's first evaluation "
           f"({math.exp(curve[0][1]):.2f}) to its lowest point ({math.exp(level):.2f}, epoch {epoch}), "
           f"the mean over its seeds of log FID")
    if first is not None and value >= first:
        lowered = first * BELOW_FIRST
        return Target(lowered, "lowered below the first evaluations",
                      f"the baseline's level ({value:.2f}) is not below every run's first evaluated FID "
                      f"(lowest {first:.2f}), so the target is {1 - BELOW_FIRST:.0%} under that")
    return Target(value, "baseline mean curve", how)


@dataclass(frozen=True)
class Crossing:
    """Where a run first reaches the target: epoch and minutes (interpolated), or censored at the horizon."""

    epoch: Optional[float]
    minutes: Optional[float]
    censored: bool

    def restricted(self, horizon: float) -> float:
        """Epochs to the target with a censored seed counted at the horizon."""
        return horizon if self.censored or self.epoch is None else min(self.epoch, horizon)

    def restricted_minutes(self, horizon: Optional[float]) -> Optional[float]:
        if horizon is None:
            return None
        return horizon if self.censored or self.minutes is None else min(self.minutes, horizon)


def log_fraction(before: float, after: float, target: float) -> float:
    """Where between two evaluations log FID passes log target (0 at ``before``, 1 at ``after``)."""
    return (math.log(before) - math.log(target)) / (math.log(before) - math.log(after))


def crossing(run: Run, target: float, horizon: float) -> Crossing:
    """The run's first crossing of ``target`` (interpolated on log FID), censored when not within ``horizon`` epochs."""
    points = fid_curve(run)
    for before, after in zip(points, points[1:]):
        if before.fid > target >= after.fid:
            share = log_fraction(before.fid, after.fid, target)
            epoch = before.epoch + share * (after.epoch - before.epoch)
            if epoch > horizon:
                break
            minutes = None
            if before.minutes is not None and after.minutes is not None:
                minutes = before.minutes + share * (after.minutes - before.minutes)
            return Crossing(epoch, minutes, False)
    return Crossing(None, None, True)


def curve_area(run: Run, start: int, horizon: int) -> Optional[float]:
    """The integral of log FID over [start, horizon] epochs by trapezoids; None when the curve does not span it."""
    points = [p for p in fid_curve(run)]
    if not points or points[0].epoch > start or points[-1].epoch < horizon or horizon <= start:
        return None
    area = 0.0
    for before, after in zip(points, points[1:]):
        low, high = max(before.epoch, start), min(after.epoch, horizon)
        if high <= low:
            continue

        def at(epoch: float) -> float:
            share = (epoch - before.epoch) / (after.epoch - before.epoch)
            return math.log(before.fid) + share * (math.log(after.fid) - math.log(before.fid))

        area += (at(low) + at(high)) / 2 * (high - low)
    return area
