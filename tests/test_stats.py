"""Paired confidence intervals and the samples-to-settle estimate, checked against formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.stats import paired_delta_ci, samples_to_settle
from tests.records import flips

Z95 = 1.959963984540054  # two-sided 95 % standard-normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval, written out independently of runner.stats."""
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@pytest.mark.parametrize(
    "outcomes",
    [np.array([1, 0, 1, 1, 0]), np.array([0.3, 2.5, -1.0, 7.25])],
    ids=["binary", "continuous"],
)
def test_identical_outcomes_give_exactly_zero(outcomes):
    assert paired_delta_ci(outcomes, outcomes.copy()) == (0.0, 0.0)


@pytest.mark.parametrize(("n10", "n01"), [(6, 2), (1, 4), (3, 3)])
def test_binary_outcomes_use_the_wilson_interval_on_discordant_pairs(n10, n01):
    n = 200
    base, cand = flips(n, base_right=150, n10=n10, n01=n01)
    d = n10 + n01
    p_lo, p_hi = wilson(n01, d)
    lo, hi = paired_delta_ci(base, cand)
    assert lo == pytest.approx((2 * p_lo - 1) * d / n, abs=1e-12)
    assert hi == pytest.approx((2 * p_hi - 1) * d / n, abs=1e-12)
    assert lo < (n01 - n10) / n < hi


def test_all_flips_one_way_reaches_the_observed_delta_at_the_edge():
    base, cand = flips(100, base_right=80, n10=0, n01=5)
    lo, hi = paired_delta_ci(base, cand)
    assert hi == pytest.approx(5 / 100)
    assert lo == pytest.approx((2 * wilson(5, 5)[0] - 1) * 5 / 100)
    assert lo > 0  # five gains and no loss: the improvement is significant


def test_higher_confidence_gives_a_wider_interval():
    base, cand = flips(300, base_right=200, n10=12, n01=4)
    lo90, hi90 = paired_delta_ci(base, cand, confidence=0.90)
    lo99, hi99 = paired_delta_ci(base, cand, confidence=0.99)
    assert lo99 < lo90 and hi90 < hi99


def test_a_constant_shift_has_a_degenerate_bootstrap_interval():
    base = np.linspace(0.0, 3.0, 50)
    assert paired_delta_ci(base, base + 0.5) == pytest.approx((0.5, 0.5))


def test_bootstrap_is_seeded_and_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    base = rng.normal(size=2000)
    cand = base + 0.1 + rng.normal(size=2000)
    ci = paired_delta_ci(base, cand, seed=3)
    assert ci == paired_delta_ci(base, cand, seed=3)
    assert ci != paired_delta_ci(base, cand, seed=4)
    diff = cand - base
    half = Z95 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert ci[0] == pytest.approx(diff.mean() - half, abs=0.15 * half)
    assert ci[1] == pytest.approx(diff.mean() + half, abs=0.15 * half)


@pytest.mark.parametrize(
    ("base", "cand", "message"),
    [(np.ones(3), np.ones(4), "length"), (np.array([]), np.array([]), "empty")],
)
def test_bad_inputs_raise_a_clear_value_error(base, cand, message):
    with pytest.raises(ValueError, match=message):
        paired_delta_ci(base, cand)


def test_samples_to_settle_follows_the_normal_formula():
    base = np.zeros(100)
    cand = np.tile([0.0, 1.0], 50)  # mean 0.5
    sd = np.std(cand, ddof=1)
    expected = math.ceil((Z95 * sd / (0.5 - 0.4)) ** 2)
    assert samples_to_settle(base, cand, 0.4) == expected
    assert samples_to_settle(base, cand, 0.6) == expected  # symmetric around the delta


def test_samples_to_settle_is_none_without_variance_or_on_the_threshold():
    base = np.zeros(10)
    assert samples_to_settle(base, base + 0.2, 0.1) is None  # no spread
    assert samples_to_settle(base, np.tile([0.0, 1.0], 5), 0.5) is None  # delta == threshold
    with pytest.raises(ValueError, match="length"):
        samples_to_settle(base, np.zeros(3), 0.1)
