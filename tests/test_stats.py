"""Paired confidence intervals and the samples-to-settle estimate, checked against formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.stats import (
    blocks_to_settle,
    n_to_settle,
    paired_delta_ci,
    samples_to_settle,
    speedup_interval,
    t_quantile,
    tango_delta_ci,
)
from tests.records import flips

Z95 = 1.959963984540054  # two-sided 95 % standard-normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval, written out independently of runner.stats."""
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_identical_continuous_outcomes_give_exactly_zero():
    outcomes = np.array([0.3, 2.5, -1.0, 7.25] * 10)
    assert paired_delta_ci(outcomes, outcomes.copy()) == (0.0, 0.0)


def restricted_mle_p10(delta: float, n10: int, n01: int, n: int) -> float:
    """The loss-cell probability maximising the multinomial likelihood under p01 - p10 = delta,
    found by a dense grid search: independent of the closed form in runner.stats."""
    lo, hi = max(0.0, -delta) + 1e-12, (1.0 - delta) / 2 - 1e-12
    p = np.linspace(lo, hi, 200_001)
    rest = n - n10 - n01
    ll = n10 * np.log(p) + n01 * np.log(p + delta) + rest * np.log(1 - 2 * p - delta)
    return float(p[np.argmax(ll)])


def score(delta: float, n10: int, n01: int, n: int) -> float:
    """Tango's score statistic written out from the paper's definition."""
    p10 = restricted_mle_p10(delta, n10, n01, n)
    return (n01 - n10 - n * delta) / math.sqrt(n * (2 * p10 + delta - delta**2))


def test_tango_matches_the_published_worked_example():
    # Fagerland, Lydersen & Laake 2014, Stat Med 33:2850-2875, Table II (Bentur et al. 2009,
    # airway hyper-responsiveness before/after transplant: 1 yes/yes, 1 yes/no, 7 no/yes,
    # 12 no/no) and Table V: Tango's asymptotic score CI of p(before) - p(after) is
    # (-0.517, -0.026). Before = baseline, after = candidate: the delta is mirrored.
    lo, hi = tango_delta_ci(n10=1, n01=7, n=21)
    assert (round(lo, 3), round(hi, 3)) == (0.026, 0.517)
    base, cand = flips(21, base_right=2, n10=1, n01=7)  # the same table as outcomes
    assert paired_delta_ci(base, cand) == pytest.approx((lo, hi))


@pytest.mark.parametrize(("n10", "n01", "n"), [(5, 0, 540), (6, 2, 200), (1, 4, 200), (3, 3, 50)])
def test_tango_limits_are_where_the_score_statistic_reaches_z(n10, n01, n):
    lo, hi = tango_delta_ci(n10, n01, n)
    assert lo < (n01 - n10) / n < hi
    assert score(lo, n10, n01, n) == pytest.approx(Z95, abs=2e-3)
    assert score(hi, n10, n01, n) == pytest.approx(-Z95, abs=2e-3)


@pytest.mark.parametrize("n", [100, 540])
def test_zero_disagreements_give_an_interval_of_non_zero_width(n):
    # n10 = n01 = 0: the score equation solves to delta = z^2 / (n + z^2) in closed form
    # (+-3.70 pp at n = 100, +-0.71 pp at n = 540).
    base = np.r_[np.ones(n - 7), np.zeros(7)]
    lo, hi = paired_delta_ci(base, base.copy())
    half = Z95**2 / (n + Z95**2)
    assert (lo, hi) == pytest.approx((-half, half), abs=1e-9)


def test_all_losses_one_way_leave_room_on_both_sides_of_the_estimate():
    base, cand = flips(540, base_right=535, n10=5, n01=0)  # the audit's case: 5 losses, no gain
    lo, hi = paired_delta_ci(base, cand)
    assert (round(100 * lo, 2), round(100 * hi, 2)) == (-2.15, -0.21)
    assert lo < -5 / 540 < hi < 0


def test_t_quantile_matches_the_table():
    # Student t table, two-sided 95 %: df 1, 9, 29, 100; 99 % at df 9
    for df, q in [(1, 12.7062), (9, 2.2622), (29, 2.0452), (100, 1.9840)]:
        assert t_quantile(0.95, df) == pytest.approx(q, abs=1e-4)
    assert t_quantile(0.99, 9) == pytest.approx(3.2498, abs=1e-4)


def test_few_continuous_samples_use_the_paired_t_interval():
    rng = np.random.default_rng(5)
    base = rng.exponential(size=10)
    cand = base + rng.normal(0.2, 0.5, size=10)
    diff = cand - base
    half = 2.2621571628 * diff.std(ddof=1) / math.sqrt(10)  # t(0.975, 9)
    assert paired_delta_ci(base, cand) == pytest.approx((diff.mean() - half, diff.mean() + half))


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


def test_samples_to_settle_follows_the_80_percent_power_formula():
    base = np.zeros(100)
    cand = np.tile([0.0, 1.0], 50)  # mean 0.5
    sd = np.std(cand, ddof=1)
    z_power = 0.8416212335729143  # standard-normal quantile at 0.80
    expected = math.ceil(((Z95 + z_power) * sd / (0.5 - 0.4)) ** 2)  # 199, not 98 at 50 %
    assert samples_to_settle(base, cand, 0.4) == expected == 199
    assert samples_to_settle(base, cand, 0.6) == expected  # symmetric around the delta
    half_power = math.ceil((Z95 * sd / 0.1) ** 2)
    assert samples_to_settle(base, cand, 0.4, power=0.5) == half_power


def test_samples_to_settle_is_none_without_variance_or_on_the_threshold():
    base = np.zeros(10)
    assert samples_to_settle(base, base + 0.2, 0.1) is None  # no spread
    assert samples_to_settle(base, np.tile([0.0, 1.0], 5), 0.5) is None  # delta == threshold
    with pytest.raises(ValueError, match="length"):
        samples_to_settle(base, np.zeros(3), 0.1)


def rounds(ratio: float, n_rounds: int, seed: int) -> tuple[list, list]:
    """Interleaved timing blocks: a drift common to both models in each round, own noise per
    call, the candidate `ratio` times faster."""
    rng = np.random.default_rng(seed)
    drift = np.exp(rng.normal(0, 0.2, n_rounds))
    base = [list(1e-3 * d * np.exp(rng.normal(0, 0.05, 20))) for d in drift]
    cand = [list(1e-3 / ratio * d * np.exp(rng.normal(0, 0.05, 20))) for d in drift]
    return base, cand


def test_the_speed_interval_pairs_away_drift_and_finds_the_ratio():
    lo, hi = speedup_interval(*rounds(2.0, 40, seed=1))
    assert lo < 2.0 < hi and hi / lo < 1.1  # the common drift (20 %) is paired away
    lo, hi = speedup_interval(*rounds(1.0, 40, seed=2))
    assert lo < 1.0 < hi
    assert speedup_interval([[1e-3]], [[1e-3]]) is None  # one round: no spread to measure


def test_the_speed_interval_is_a_t_interval_over_round_log_ratios():
    base, cand = rounds(1.5, 12, seed=3)
    r = np.log([np.median(b) / np.median(c) for b, c in zip(base, cand, strict=True)])
    half = t_quantile(0.95, 11) * r.std(ddof=1) / math.sqrt(12)
    assert speedup_interval(base, cand) == pytest.approx(
        (math.exp(r.mean() - half), math.exp(r.mean() + half))
    )


def test_blocks_to_settle_recovers_the_spread_from_the_interval():
    base, cand = rounds(1.04, 30, seed=4)
    r = np.log([np.median(b) / np.median(c) for b, c in zip(base, cand, strict=True)])
    ci = speedup_interval(base, cand)
    expected = n_to_settle(float(r.std(ddof=1)), float(r.mean()) - math.log(1.05))
    assert blocks_to_settle(ci, 30, 1.05) == expected
    z = Z95 + 0.8416212335729143
    assert expected == math.ceil((z * r.std(ddof=1) / (r.mean() - math.log(1.05))) ** 2)


def test_a_candidate_that_always_agrees_needs_the_samples_tangos_interval_needs():
    from runner.stats import agreeing_samples_to_settle, tango_delta_ci

    need = agreeing_samples_to_settle(135, -0.0099)
    lo, _ = tango_delta_ci(0, 0, need)
    assert lo > -0.0099 > tango_delta_ci(0, 0, need - 1)[0]  # the smallest such count
    assert 380 <= need <= 390  # z^2 / (n + z^2) < 0.0099: n > 384
    assert agreeing_samples_to_settle(540, -0.0099) == 540  # already settled
    assert agreeing_samples_to_settle(135, 0.0) is None
