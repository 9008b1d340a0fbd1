"""igan.report.stats: the t distribution, Welch's test and the permutation test against scipy and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as reference

from igan.report import stats


@pytest.mark.parametrize("df", [1, 2, 2.7, 4, 9, 30, 1000])
def test_t_distribution_matches_scipy(df):
    for confidence in (0.5, 0.9, 0.95, 0.99):
        assert stats.t_quantile(confidence, df) == pytest.approx(reference.t.ppf(0.5 + confidence / 2, df), rel=1e-9)
    for t in (0.0, 0.3, 1.3, 4.0, 25.0):
        assert stats.t_two_sided_p(t, df) == pytest.approx(2 * reference.t.sf(t, df), rel=1e-9, abs=1e-15)


def test_t_interval_by_hand():
    interval = stats.t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.303
    assert (interval.low, interval.high) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)))
    assert interval.method == "Student-t"
    assert stats.t_interval([3.0]) is None and stats.sd([3.0]) is None  # one seed: no spread to estimate


def test_welch_matches_scipy():
    a, b = [50.0, 54.0, 52.0], [40.0, 45.0, 41.0, 47.0, 39.0]
    test = stats.welch(a, b)
    expected = reference.ttest_ind(b, a, equal_var=False)
    assert test.p == pytest.approx(expected.pvalue, rel=1e-9) and test.df == pytest.approx(expected.df)
    assert test.difference == pytest.approx(np.mean(b) - np.mean(a))
    assert test.interval.contains(test.difference) and test.interval.high < 0
    assert stats.welch([1.0], [2.0, 3.0]).p is None  # one seed: no test
    assert stats.welch([2.0, 2.0], [2.0, 2.0]).p == 1.0 and stats.welch([2.0, 2.0], [3.0, 3.0]).p is None


def test_permutation_test_is_exact_and_says_its_floor():
    a, b = [1.0, 2.0, 3.5], [2.0, 4.0, 6.1]
    test = stats.permutation_test(a, b)
    expected = reference.permutation_test((b, a), lambda x, y: np.mean(x) - np.mean(y),
                                          permutation_type="independent", n_resamples=np.inf).pvalue
    assert test.exact and test.p == pytest.approx(expected)
    separated = stats.permutation_test([1.0, 2.0, 3.0], [10.0, 11.0, 12.0])
    assert separated.p == pytest.approx(0.1) and separated.min_p == pytest.approx(0.1) and not separated.can_reach
    assert stats.permutation_test([1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0, 14.0]).min_p == pytest.approx(1 / 56)


def test_a_difference_needs_welch_and_a_permutation_test_that_can_speak():
    far = ([1.0, 2.0, 3.0], [10.0, 11.0, 12.0])
    assert stats.distinguishable(stats.welch(*far), stats.permutation_test(*far))  # 3 vs 3: Welch decides alone
    # 4 vs 4 seeds: the permutation test can reach 0.05 (2/70) and must agree
    a, b = [1.0, 2.0, 3.0, 9.0], [4.0, 5.0, 6.0, 7.5]
    welch, perm = stats.welch(a, b), stats.permutation_test(a, b)
    assert perm.can_reach and perm.p >= 0.05 and not stats.distinguishable(welch, perm)
    assert not stats.distinguishable(stats.welch([1.0], [5.0]), stats.permutation_test([1.0], [5.0]))
