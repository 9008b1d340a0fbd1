"""Statistics over a handful of seeds: Student-t intervals, Welch's t test, an exact permutation test.

A comparison has 2 to 10 seeds per model. At that size a percentile bootstrap interval of a mean
is about the range of the seeds and covers the true mean far less often than it claims (about 75%
for a nominal 95% at 3 seeds), so intervals here are Student-t intervals, whose coverage is exact
for normal seeds and close to nominal for the skewed ones FID gives. A model is told apart from
the baseline by Welch's t test (unequal variances), checked by an exact permutation test over the
seeds, which assumes nothing about their distribution but cannot go below a floor: at 3 against 3
seeds its smallest possible p is 2/20 = 0.1, so there it cannot confirm anything at 5% and the
table says so.

The t distribution is computed here (the regularized incomplete beta function by its continued
fraction), since scipy is not a runtime dependency; tests check it against scipy.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

CONFIDENCE = 0.95
#: Significance level of the tests; each comparison is tested on its own, without a correction for their number.
ALPHA = 0.05
#: Above this many splits the permutation test samples splits (from a fixed seed) instead of listing them all.
EXACT_SPLITS = 200_000
SAMPLED_SPLITS = 100_000
RNG_SEED = 0
T_INTERVAL = "Student-t"


@dataclass(frozen=True)
class Interval:
    """An interval [low, high] and the method that produced it (named in the table's notes and the JSON)."""

    low: float
    high: float
    method: str = T_INTERVAL

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "method": self.method}


def mean(values: Sequence[float]) -> Optional[float]:
    return float(np.mean(values)) if len(values) else None


def sd(values: Sequence[float]) -> Optional[float]:
    """Sample standard deviation (n - 1), None below two values."""
    if len(values) < 2:
        return None
    return float(np.std(values, ddof=1))


# --------------------------------------------------------------------------- the t distribution

def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= c * d
        if abs(c * d - 1.0) < eps:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom (df may be fractional, as Welch's is)."""
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2, 0.5, df / (df + t * t))


def t_density(t: float, df: float) -> float:
    return math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
                    - (df + 1) / 2 * math.log1p(t * t / df))


@functools.lru_cache(maxsize=4096)
def t_quantile(confidence: float, df: float) -> float:
    """The t such that P(|T| <= t) = ``confidence`` (e.g. 4.303 for 0.95 at df 2).

    Newton's method on the two-sided tail, kept inside a bracket that bisection narrows whenever a
    step would leave it (the tails of small df make plain Newton overshoot).
    """
    tail = 1.0 - confidence
    low, high = 0.0, 1.0
    while t_two_sided_p(high, df) > tail:
        low, high = high, high * 2
    t = (low + high) / 2
    for _ in range(200):
        gap = t_two_sided_p(t, df) - tail
        if abs(gap) < 1e-15 or high - low < 1e-13 * high:
            return t
        if gap > 0:
            low = t
        else:
            high = t
        step = t + gap / (2 * t_density(t, df))
        t = step if low < step < high else (low + high) / 2
    return t


# --------------------------------------------------------------------------- intervals and tests

def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Optional[Interval]:
    """Student-t interval of the mean over seeds; None with fewer than two values (nothing to estimate spread from)."""
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return None
    centre, spread = float(np.mean(values)), float(np.std(values, ddof=1))
    half = t_quantile(confidence, len(values) - 1) * spread / math.sqrt(len(values))
    return Interval(centre - half, centre + half)


@dataclass(frozen=True)
class Welch:
    """Welch's t test of mean(b) - mean(a): the difference, its interval, the p-value (None when undefined)."""

    difference: float
    interval: Optional[Interval]
    p: Optional[float]
    df: Optional[float]


def welch(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Optional[Welch]:
    """Welch's two-sided t test of mean(b) - mean(a); None unless both have a value.

    With fewer than two seeds on a side, or no spread on either, the test is undefined: the
    difference is given without interval or p. (No spread at all with equal means is p = 1.)
    """
    if not len(a) or not len(b):
        return None
    difference = float(np.mean(b) - np.mean(a))
    if len(a) < 2 or len(b) < 2:
        return Welch(difference, None, None, None)
    va, vb = float(np.var(a, ddof=1)) / len(a), float(np.var(b, ddof=1)) / len(b)
    se2 = va + vb
    if se2 == 0:
        return Welch(difference, None, 1.0 if difference == 0 else None, None)
    df = se2 ** 2 / ((va ** 2 / (len(a) - 1) if va else 0.0) + (vb ** 2 / (len(b) - 1) if vb else 0.0))
    se = math.sqrt(se2)
    half = t_quantile(confidence, df) * se
    method = "Welch t"
    return Welch(difference, Interval(difference - half, difference + half, method), t_two_sided_p(difference / se, df),
                 df)


@dataclass(frozen=True)
class Permutation:
    """A permutation test of the difference of means: its p, the smallest p it could give, exact or sampled."""

    p: float
    min_p: float
    exact: bool

    @property
    def can_reach(self) -> bool:
        """Whether the test could give p < ALPHA at these seed counts at all."""
        return self.min_p < ALPHA


def permutation_test(a: Sequence[float], b: Sequence[float], seed: int = RNG_SEED) -> Optional[Permutation]:
    """Two-sided test of |mean(b) - mean(a)| over every split of the pooled seeds into groups of their sizes.

    The p-value counts the splits at least as extreme as the observed one (itself included). The
    smallest possible p is 2 / C(n + m, n) for equal groups (a split and its mirror tie) and
    1 / C(n + m, n) otherwise. None unless both groups have a value.
    """
    n, m = len(a), len(b)
    if not n or not m:
        return None
    pooled = np.asarray(list(a) + list(b), dtype=np.float64)
    total = pooled.sum()
    splits = math.comb(n + m, n)

    def gaps(sums: np.ndarray) -> np.ndarray:
        return np.abs((total - sums) / m - sums / n)

    observed = gaps(np.asarray([pooled[:n].sum()]))[0]
    tolerance = 1e-9 * max(1.0, float(np.abs(pooled).max()))
    exact = splits <= EXACT_SPLITS
    if exact:
        picks = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n + m), n)), dtype=np.int64,
                            count=splits * n).reshape(splits, n)
        count = int(np.sum(gaps(pooled[picks].sum(axis=1)) >= observed - tolerance))
        p = count / splits
    else:
        rng = np.random.default_rng(seed)
        picks = np.argsort(rng.random((SAMPLED_SPLITS, n + m)), axis=1)[:, :n]
        p = (1 + int(np.sum(gaps(pooled[picks].sum(axis=1)) >= observed - tolerance))) / (SAMPLED_SPLITS + 1)
    return Permutation(p=p, min_p=(2 if n == m else 1) / splits, exact=exact)


def distinguishable(test: Optional[Welch], permutation: Optional[Permutation], alpha: float = ALPHA) -> bool:
    """A difference is claimed when Welch's p < alpha and, where the permutation test can reach alpha, its p too."""
    if test is None or test.p is None or test.p >= alpha:
        return False
    return permutation is None or not permutation.can_reach or permutation.p < alpha
