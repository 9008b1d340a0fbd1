"""Statistics over seeds: mean, sample standard deviation and percentile bootstrap intervals.

The comparison has a handful of seeds per model, so an interval is a percentile bootstrap over
seeds (resample the seeds with replacement, recompute the statistic, take the 2.5th and 97.5th
percentiles), from a fixed RNG seed so that a table is reproducible. With one seed there is
nothing to resample and no interval is given (None), rather than a zero-width one.

Values may be ``math.inf``: a seed that never reached a target takes "infinitely many epochs",
so a resample containing it has an infinite mean and pushes the interval's upper end to inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
RNG_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval [low, high] of ``confidence`` from ``resamples`` resamples."""

    low: float
    high: float

    def overlaps(self, other: "Interval") -> bool:
        return self.low <= other.high and other.low <= self.high

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def mean(values: Sequence[float]) -> Optional[float]:
    return float(np.mean(values)) if len(values) else None


def sd(values: Sequence[float]) -> Optional[float]:
    """Sample standard deviation (n - 1), None below two values or with an infinite one."""
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return None
    return float(np.std(values, ddof=1))


def percentile(sorted_values: np.ndarray, q: float) -> float:
    """Linear-interpolation percentile (numpy's default) that keeps inf instead of inf - inf = nan."""
    position = q / 100 * (len(sorted_values) - 1)
    below, above = math.floor(position), math.ceil(position)
    low, high = float(sorted_values[below]), float(sorted_values[above])
    if math.isinf(high) or math.isinf(low) or below == above:
        return high if position - below > 0 else low
    return low + (high - low) * (position - below)


def percentile_interval(replicates: np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    tail = (1 - confidence) / 2 * 100
    ordered = np.sort(replicates)
    return Interval(percentile(ordered, tail), percentile(ordered, 100 - tail))


def resampled_means(values: Sequence[float], rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Means of ``resamples`` resamples of ``values`` with replacement (inf where one holds inf)."""
    data = np.asarray(values, dtype=np.float64)
    picks = rng.integers(0, len(data), size=(resamples, len(data)))
    with np.errstate(invalid="ignore"):
        return data[picks].mean(axis=1)


def bootstrap_mean(values: Sequence[float], resamples: int = RESAMPLES, seed: int = RNG_SEED,
                   confidence: float = CONFIDENCE) -> Optional[Interval]:
    """Percentile bootstrap interval of the mean over seeds; None with fewer than two values."""
    if len(values) < 2:
        return None
    rng = np.random.default_rng(seed)
    return percentile_interval(resampled_means(values, rng, resamples), confidence)


def bootstrap_ratio(numerator: Sequence[float], denominator: Sequence[float], resamples: int = RESAMPLES,
                    seed: int = RNG_SEED, confidence: float = CONFIDENCE) -> Optional[Interval]:
    """Interval of mean(numerator) / mean(denominator), the two groups' seeds resampled independently.

    None unless both groups have at least two seeds. A denominator mean of inf (the model never
    got there in that resample) gives a ratio of 0.
    """
    if len(numerator) < 2 or len(denominator) < 2:
        return None
    rng = np.random.default_rng(seed)
    top = resampled_means(numerator, rng, resamples)
    bottom = resampled_means(denominator, rng, resamples)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(np.isinf(bottom), 0.0, top / bottom)
    return percentile_interval(ratios, confidence)


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Optional[float]:
    """mean(numerator) / mean(denominator): 0 when the denominator is inf, None when undefined."""
    top, bottom = mean(numerator), mean(denominator)
    if top is None or bottom is None or bottom == 0 or math.isinf(top):
        return None
    return 0.0 if math.isinf(bottom) else top / bottom
