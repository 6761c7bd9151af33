"""Paired confidence intervals and the samples-to-settle estimate, checked against formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.core.stats import (
    SMALL_N,
    agreeing_samples_to_settle,
    blocks_to_settle,
    mean_ci,
    n_to_settle,
    n_to_settle_t,
    paired_delta_ci,
    paired_speedup,
    paired_t_ci,
    samples_to_settle,
    speedup_interval,
    t_quantile,
    tango_delta_ci,
    wilson_interval,
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


@pytest.mark.parametrize(
    ("n10", "n01", "n"), [(5, 0, 540), (6, 2, 200), (1, 4, 200), (3, 3, 50), (8, 0, 135)]
)
def test_tango_limits_are_where_the_score_statistic_reaches_z(n10, n01, n):
    lo, hi = tango_delta_ci(n10, n01, n)
    assert lo < (n01 - n10) / n < hi
    assert score(lo, n10, n01, n) == pytest.approx(Z95, abs=2e-3)
    assert score(hi, n10, n01, n) == pytest.approx(-Z95, abs=2e-3)


@pytest.mark.parametrize("n", [3, 100, 540])
def test_zero_disagreements_give_an_interval_of_non_zero_width(n):
    # n10 = n01 = 0: the score equation solves to delta = z^2 / (n + z^2) in closed form
    # (+-3.70 pp at n = 100, +-0.71 pp at n = 540).
    base = np.r_[np.ones(n - 7), np.zeros(7)] if n > 7 else np.ones(n)
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
    half = 3.2498355416 * diff.std(ddof=1) / math.sqrt(10)  # t(0.995, 9): the level is used
    ci = paired_delta_ci(base, cand, confidence=0.99)
    assert ci == pytest.approx((diff.mean() - half, diff.mean() + half))


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
    [
        (np.ones(3), np.ones(4), "length"),
        (np.array([]), np.array([]), "empty"),
        (np.ones(3), np.array([]), "empty"),
        (np.array([]), np.ones(3), "empty"),
        (np.ones(3), np.array([1.0, np.nan, 0.5]), "NaN or infinite"),
        (np.array([np.inf, 1.0, 0.5]), np.ones(3), "NaN or infinite"),
    ],
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


def test_the_paired_speedup_is_the_geometric_mean_of_per_run_median_ratios():
    """Each run's ratio is median baseline / median candidate of that run's own calls; the
    speedup is their geometric mean: drift between runs (the machine 3x slower in one run)
    cancels, where the medians pooled over all runs would give a ratio of neither."""
    base = [[1.0, 1.2, 0.9, 50.0], [3.0, 3.3, 2.7], [0.5, 0.6, 0.55]]  # 50: one slow call
    cand = [[0.5, 0.45, 0.55], [3.0, 0.75, 0.7, 0.8], [0.25, 0.3, 0.2]]
    per_run = [np.median(b) / np.median(c) for b, c in zip(base, cand, strict=True)]
    assert per_run == pytest.approx([2.2, 3.0 / 0.775, 2.2])  # medians, not means
    expected = math.prod(per_run) ** (1 / 3)
    assert paired_speedup(base, cand) == pytest.approx(expected)
    assert paired_speedup(cand, base) == pytest.approx(1 / expected)  # baseline over candidate
    pooled = np.median(sum(base, [])) / np.median(sum(cand, []))
    assert abs(pooled - expected) > 0.1


def test_the_paired_speedup_is_the_centre_of_its_interval_and_skips_empty_runs():
    base, cand = rounds(1.3, 5, seed=9)  # 5 fresh-session runs, with 20 % drift between them
    lo, hi = speedup_interval(base, cand)
    assert paired_speedup(base, cand) == pytest.approx(math.sqrt(lo * hi))
    assert lo < paired_speedup(base, cand) < hi
    # a run where one model made no call, or whose clock read 0, has no ratio: it is left out
    assert paired_speedup(base + [[]], cand + [[1e-3]]) == paired_speedup(base, cand)
    assert paired_speedup(base + [[0.0]], cand + [[1e-3]]) == paired_speedup(base, cand)
    with pytest.raises(ValueError, match="no timing unit"):
        paired_speedup([[], [1e-3]], [[1e-3], []])
    with pytest.raises(ValueError, match="same number"):
        paired_speedup(base, cand[:-1])


def test_blocks_to_settle_recovers_the_spread_from_the_interval():
    base, cand = rounds(1.04, 30, seed=4)
    r = np.log([np.median(b) / np.median(c) for b, c in zip(base, cand, strict=True)])
    ci = speedup_interval(base, cand)
    expected = n_to_settle_t(float(r.std(ddof=1)), float(r.mean()) - math.log(1.05))
    assert blocks_to_settle(ci, 30, 1.05) == expected
    df = expected - 1  # t quantiles at the answer's own degrees of freedom
    t = t_quantile(0.95, df) + t_quantile(0.6, df)
    assert expected == math.ceil((t * r.std(ddof=1) / (r.mean() - math.log(1.05))) ** 2)


def test_a_candidate_that_always_agrees_needs_the_samples_tangos_interval_needs():
    need = agreeing_samples_to_settle(135, -0.0099)
    lo, _ = tango_delta_ci(0, 0, need)
    assert lo > -0.0099 > tango_delta_ci(0, 0, need - 1)[0]  # the smallest such count
    assert 380 <= need <= 390  # z^2 / (n + z^2) < 0.0099: n > 384
    assert agreeing_samples_to_settle(540, -0.0099) == 540  # already settled
    assert agreeing_samples_to_settle(135, 0.0) is None


# --- edges: levels, sample counts, degenerate tables, and the bootstrap's own properties ---


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_a_confidence_or_power_outside_0_1_is_refused(level):
    base, cand = np.zeros(5), np.linspace(0.0, 1.0, 5)
    with pytest.raises(ValueError, match="confidence"):
        paired_delta_ci(base, cand, confidence=level)
    with pytest.raises(ValueError, match="power"):
        n_to_settle(1.0, 0.1, power=level)


def test_one_and_two_continuous_samples():
    assert paired_delta_ci(np.array([1.0]), np.array([1.75])) == (0.75, 0.75)  # no spread
    # two samples: a t interval on 1 degree of freedom (t = 12.7062), not the one-sample case
    base, cand = np.zeros(2), np.array([1.0, 2.0])
    half = 12.7062047362 * math.sqrt(0.5) / math.sqrt(2)
    assert paired_delta_ci(base, cand) == pytest.approx((1.5 - half, 1.5 + half))
    assert paired_t_ci(cand) == pytest.approx((1.5 - half, 1.5 + half))
    with pytest.raises(ValueError, match="two samples"):
        paired_t_ci(np.array([1.0]))
    assert samples_to_settle(base, cand, 0.5) == n_to_settle(math.sqrt(0.5), 1.0)


def test_the_seed_counts_from_small_n_samples_on_where_the_bootstrap_starts():
    rng = np.random.default_rng(7)
    base = rng.normal(size=SMALL_N)
    cand = base + rng.normal(0.1, 1.0, size=SMALL_N)
    below = (base[:-1], cand[:-1])  # SMALL_N - 1 samples: the t interval, whatever the seed
    assert paired_delta_ci(*below, seed=1) == paired_delta_ci(*below, seed=2)
    assert paired_delta_ci(*below) == pytest.approx(paired_t_ci(below[1] - below[0]))
    assert paired_delta_ci(base, cand, seed=1) != paired_delta_ci(base, cand, seed=2)


def test_a_binary_baseline_against_a_continuous_candidate_is_no_tango_case():
    base = np.array([1.0, 0.0] * 5)  # 0/1 outcomes, but the candidate's are not
    cand = base + np.linspace(-0.2, 0.4, 10)
    assert paired_delta_ci(base, cand) == pytest.approx(paired_t_ci(cand - base))


def test_the_default_bootstrap_draws_2000_resamples():
    rng = np.random.default_rng(2)
    base = rng.normal(size=60)
    cand = base + rng.normal(0.2, 1.0, size=60)
    assert paired_delta_ci(base, cand) == paired_delta_ci(base, cand, n_boot=2000)  # README
    assert paired_delta_ci(base, cand) != paired_delta_ci(base, cand, n_boot=2001)


def test_the_studentized_bootstrap_at_small_n_is_about_as_wide_as_the_t_interval():
    """The bootstrap-t resamples the t statistic: on normal differences at SMALL_N samples its
    width is close to the t interval's (within a few %), where the plain percentile interval
    is about 6 % narrower."""
    ratios = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        base = rng.normal(size=SMALL_N)
        cand = base + rng.normal(0.3, 1.0, size=SMALL_N)
        lo, hi = paired_delta_ci(base, cand, n_boot=50_000)
        t_lo, t_hi = paired_t_ci(cand - base)
        ratios.append((hi - lo) / (t_hi - t_lo))
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.025), ratios


def test_the_bootstrap_interval_holds_its_estimate_when_one_sample_carries_the_change():
    base, cand = np.zeros(40), np.zeros(40)
    cand[0] = 2.5  # every resample that misses sample 0 has a mean of 0
    lo, hi = paired_delta_ci(base, cand)
    assert lo <= 2.5 / 40 <= hi and hi > 0


@pytest.mark.parametrize("n_boot", [1, 2, 3, 2000])
def test_every_bootstrap_mean_lies_between_the_extreme_differences(n_boot):
    rng = np.random.default_rng(3)
    base = rng.normal(size=40)
    cand = base + 100 + rng.uniform(0.0, 50.0, size=40)  # differences in [100, 150]
    lo, hi = paired_delta_ci(base, cand, n_boot=n_boot)
    diff = cand - base
    assert diff.min() <= lo <= hi <= diff.max()
    with pytest.raises(ValueError, match="n_boot"):
        paired_delta_ci(base, cand, n_boot=0)


@pytest.mark.parametrize(("n10", "n01", "n"), [(5, 0, 5), (0, 4, 4), (1, 0, 1)])
def test_a_table_all_one_way_reaches_the_end_of_the_range(n10, n01, n):
    lo, hi = tango_delta_ci(n10, n01, n)
    assert -1.0 <= lo < hi <= 1.0
    end = lo if n10 else hi  # the estimate is -1 (all lost) or +1 (all gained)
    assert end == pytest.approx(-1.0 if n10 else 1.0, abs=1e-9)


def test_tango_refuses_impossible_tables_and_takes_every_possible_one():
    for bad in [(-1, 0, 5), (0, -1, 5), (0, 0, 0), (3, 3, 5), (6, 0, 5)]:
        with pytest.raises(ValueError, match="n10"):
            tango_delta_ci(*bad)
    for ok in [(0, 0, 1), (2, 3, 5), (0, 0, 5)]:  # up to every pair discordant
        lo, hi = tango_delta_ci(*ok)
        assert -1.0 <= lo < (ok[1] - ok[0]) / ok[2] < hi <= 1.0


def test_a_huge_gap_still_needs_two_samples():
    assert n_to_settle(0.01, 1.0) == 2  # the formula says 1: no interval from one sample


def test_a_candidate_that_always_agrees_gets_the_smallest_count_at_any_split_size():
    for thr in (-0.002, -0.0099, -0.02, -0.05, 0.03):
        need = agreeing_samples_to_settle(1, thr)
        lo, hi = tango_delta_ci(0, 0, need)
        lo1, hi1 = tango_delta_ci(0, 0, need - 1)
        assert not lo < thr < hi and lo1 < thr < hi1, thr  # the smallest count that clears
        assert agreeing_samples_to_settle(need // 3, thr) == need  # whatever n we have now
    assert agreeing_samples_to_settle(0, -0.01) is None  # no samples: nothing to go on
    at_95 = agreeing_samples_to_settle(135, -0.0099)
    assert agreeing_samples_to_settle(135, -0.0099, confidence=0.99) > at_95


def test_rounds_with_a_zero_median_are_skipped_not_a_crash():
    base, cand = rounds(1.5, 12, seed=5)
    without_3 = speedup_interval(base[:3] + base[4:], cand[:3] + cand[4:])
    assert without_3 != pytest.approx(speedup_interval(base, cand))
    zero = [[0.0] * 20]  # a clock too coarse for the round: its median is 0
    assert speedup_interval(base[:3] + zero + base[4:], cand) == pytest.approx(without_3)
    assert speedup_interval(base, cand[:3] + zero + cand[4:]) == pytest.approx(without_3)


def test_two_timing_runs_give_an_interval_and_its_level_counts():
    base, cand = rounds(1.5, 2, seed=6)
    assert speedup_interval(base, cand) is not None
    base, cand = rounds(1.5, 8, seed=6)
    lo90, hi90 = speedup_interval(base, cand, confidence=0.90)
    lo95, hi95 = speedup_interval(base, cand)
    assert lo95 < lo90 < hi90 < hi95


def test_blocks_to_settle_at_the_pipelines_five_runs_and_its_guards():
    base, cand = rounds(1.04, 5, seed=8)  # 5 fresh-session runs, as the pipeline times
    r = np.log([np.median(b) / np.median(c) for b, c in zip(base, cand, strict=True)])
    ci = speedup_interval(base, cand)
    gap = float(r.mean()) - math.log(1.05)
    assert blocks_to_settle(ci, 5, 1.05) == n_to_settle_t(float(r.std(ddof=1)), gap)
    assert blocks_to_settle(ci, 5, 1.05) > n_to_settle(float(r.std(ddof=1)), gap)  # t > z
    assert blocks_to_settle(ci, 5, 1.05, power=0.5) == n_to_settle_t(
        float(r.std(ddof=1)), gap, power=0.5
    )
    assert blocks_to_settle((0.85, 0.95), 5, 0.9) is not None  # any positive interval and bar
    assert blocks_to_settle((0.85, 0.95), 2, 0.9) is not None
    for ci_, blocks, bar in [((0.9, 1.2), 1, 1.05), ((0.0, 1.2), 5, 1.05), ((0.9, 1.2), 5, 0.0)]:
        assert blocks_to_settle(ci_, blocks, bar) is None


# --- one metric's own interval (runner.validate's value CI) ---


def test_mean_ci_of_0_1_outcomes_is_the_wilson_interval():
    x = np.r_[np.ones(88), np.zeros(12)]
    assert mean_ci(x) == pytest.approx(wilson(88, 100))
    assert mean_ci(np.ones(20)) == pytest.approx(wilson(20, 20))  # all right: not [1, 1]
    assert wilson_interval(0, 10, Z95) == pytest.approx(wilson(0, 10))
    assert wilson_interval(1, 1, Z95) == pytest.approx(wilson(1, 1))  # one trial is enough
    for n in range(1, 60):  # rounding never pushes an end past 0 or 1 (it would at n = 16)
        assert wilson_interval(0, n, Z95)[0] >= 0.0 and wilson_interval(n, n, Z95)[1] <= 1.0
    with pytest.raises(ValueError, match="trial"):
        wilson_interval(0, 0, Z95)


def test_mean_ci_of_other_outcomes_is_a_plain_seeded_percentile_bootstrap():
    big = np.random.default_rng(0).normal(2.0, 1.0, size=2000)
    lo, hi = mean_ci(big)
    half = Z95 * big.std() / math.sqrt(big.size)
    assert (lo, hi) == pytest.approx((big.mean() - half, big.mean() + half), abs=0.05 * half)
    assert mean_ci(big) == mean_ci(big, seed=0) != mean_ci(big, seed=1)
    small = np.random.default_rng(0).normal(2.0, 1.0, size=10)  # plain: not widened like t
    lo, hi = mean_ci(small)
    assert (hi - lo) / (2 * Z95 * small.std() / math.sqrt(10)) == pytest.approx(1.0, abs=0.08)
    for bad in (np.array([]), np.array([1.0, np.nan])):
        with pytest.raises(ValueError, match="finite and non-empty"):
            mean_ci(bad)


def test_an_end_the_bootstrap_t_cannot_bound_is_the_expanded_percentile_written_out():
    """One of 40 samples carries the whole change: the bootstrap-t leaves the upper end
    unbounded, so it is Hesterberg's expanded percentile end: the bootstrap means' quantile at
    alpha = 1 - Phi(sqrt(n / (n - 1)) t_{n-1, 97.5 %}), from the same seeded resamples."""
    from statistics import NormalDist

    from scipy import stats as sps

    d = np.r_[np.zeros(39), 0.5]
    b = np.full(40, 0.25)  # not 0/1 outcomes (Tango's case)
    for seed in (0, 5):
        idx = np.random.default_rng(seed).integers(0, 40, size=(2000, 40))
        means = d[idx].mean(axis=1)
        alpha = 1 - NormalDist().cdf(math.sqrt(40 / 39) * sps.t.ppf(0.975, 39))
        lo, hi = paired_delta_ci(b, b + d, seed=seed)
        assert hi == pytest.approx(float(np.quantile(means, 1 - alpha)), rel=1e-6)
        assert math.isfinite(lo) and lo < d.mean() < hi


def test_mean_ci_is_the_percentile_interval_of_2000_seeded_resample_means():
    x = np.random.default_rng(4).gamma(2.0, 1.0, 50)  # skewed, not 0/1: the bootstrap's case
    for seed in (0, 7):
        means = x[np.random.default_rng(seed).integers(0, 50, size=(2000, 50))].mean(axis=1)
        expected = tuple(float(q) for q in np.quantile(means, [0.025, 0.975]))
        assert mean_ci(x, seed=seed) == pytest.approx(expected, rel=1e-12)
