"""Continuous outcomes: the studentized interval, the relative change's interval with the
baseline's noise carried (Fieller), and the fewest samples a verdict may rest on; checked
against textbook formulas written out here and by simulating the ship rate at the bar."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.core.continuous import (
    MIN_N,
    continuous_fields,
    min_samples,
    relative_change_ci,
    skewness,
    studentized_ci,
)
from runner.core.stats import paired_delta_ci

Z95 = 1.959963984540054


def fieller_z(b: np.ndarray, c: np.ndarray, z: float = Z95) -> tuple[float, float]:
    """Textbook Fieller interval of mean(c) / mean(b) with normal quantiles, written out."""
    n = b.size
    mb, mc = b.mean(), c.mean()
    vb, vc, cbc = b.var(ddof=1) / n, c.var(ddof=1) / n, np.cov(b, c)[0, 1] / n
    g = z * z * vb / mb**2
    centre = (mc / mb - g * cbc / vb) / (1 - g)
    half = (
        z
        / (mb * (1 - g))
        * math.sqrt(vc - 2 * (mc / mb) * cbc + (mc / mb) ** 2 * vb - g * (vc - cbc**2 / vb))
    )
    return centre - half, centre + half


def mae_pair(n: int, rng: np.random.Generator, rise: float = 0.01):
    """Absolute errors of a regressor and of its copy whose error rises by `rise` on average,
    the change not proportional to the error (the case dividing by the baseline gets wrong)."""
    b = np.abs(rng.standard_normal(n))
    mu = rise * math.sqrt(2 / math.pi)  # E|N(0, 1)| * rise
    return b, b + rng.normal(mu, 0.25 * mu, n)


def test_the_relative_change_interval_matches_fieller_on_large_normal_samples():
    rng = np.random.default_rng(5)
    b = rng.normal(10.0, 2.0, 4000)
    c = 1.03 * b + rng.normal(0.0, 1.0, 4000)
    lo, hi = relative_change_ci(b, c)
    f_lo, f_hi = fieller_z(b, c)
    assert lo == pytest.approx(f_lo - 1, abs=0.002) and hi == pytest.approx(f_hi - 1, abs=0.002)
    assert lo < c.mean() / b.mean() - 1 < hi


def test_a_true_1_percent_rise_of_mae_ships_at_most_2_5_percent_of_the_time():
    # the bar is "ship when the drop's upper end is below 1 %": at a true 1 % rise, a 95 %
    # interval may clear it in at most 2.5 % of sweeps; dividing the delta's interval by the
    # observed baseline does so in about a quarter of them
    rng = np.random.default_rng(134)
    reps, ship, ship_divided = 300, 0, 0
    for r in range(reps):
        b, c = mae_pair(134, rng)
        ci = relative_change_ci(b, c, seed=r)
        ship += ci is not None and ci[1] < 0.01
        ship_divided += paired_delta_ci(b, c, seed=r)[1] / b.mean() < 0.01
    assert ship / reps <= 0.04  # 2.5 % plus the simulation's own noise (300 sweeps)
    assert ship_divided / reps > 0.15


def test_the_relative_change_needs_a_baseline_clear_of_zero():
    rng = np.random.default_rng(1)
    b = rng.normal(0.0, 1.0, 50)  # mean near 0: no ratio to bound
    assert relative_change_ci(b, b + 0.1) is None
    assert relative_change_ci(np.zeros(5), np.ones(5)) is None
    b = np.linspace(1.0, 2.0, 40)
    assert relative_change_ci(b, 1.02 * b) == pytest.approx((0.02, 0.02))  # exactly 2 % worse


def test_the_studentized_interval_reaches_further_toward_a_long_tail():
    rng = np.random.default_rng(3)
    harm = -0.01 * np.exp(1.5 * rng.standard_normal(134) - 1.125)  # cosine loss, skewed
    lo, hi = studentized_ci(harm)
    m = harm.mean()
    assert m - lo > 1.3 * (hi - m)  # the tail of harm is below: the lower side is longer
    se = harm.std(ddof=1) / math.sqrt(harm.size)
    assert lo < m - Z95 * se  # further than the normal interval on the tail's side
    assert paired_delta_ci(np.zeros(134), harm) == (lo, hi)  # what the records get
    assert studentized_ci(np.full(40, 0.5)) == (0.5, 0.5)
    with pytest.raises(ValueError, match="two samples"):
        studentized_ci(np.ones(1))


def sample_skewness(x: np.ndarray) -> float:
    """Adjusted Fisher-Pearson skewness G1, written out."""
    n, m = x.size, x.mean()
    m2, m3 = ((x - m) ** 2).mean(), ((x - m) ** 3).mean()
    return m3 / m2**1.5 * math.sqrt(n * (n - 1)) / (n - 2)


def test_the_minimum_n_is_30_or_cochrans_25_skewness_squared():
    rng = np.random.default_rng(2)
    normal = rng.normal(size=200)
    assert min_samples(normal) == MIN_N == 30
    skewed = np.exp(1.5 * rng.standard_normal(200))
    g1 = sample_skewness(skewed)
    assert skewness(skewed) == pytest.approx(g1)
    assert min_samples(skewed) == math.floor(25 * g1**2) + 1 > 200
    assert min_samples(np.zeros(100)) == 30  # identical outcomes: no spread, no skew


def test_a_record_gets_the_drop_interval_in_its_direction_and_the_minimum_n():
    b = np.linspace(1.0, 2.0, 60)
    mae = continuous_fields(b, 1.02 * b, higher_is_better=False)  # MAE 2 % higher: a 2 % drop
    assert mae["drop_ci95"] == pytest.approx([0.02, 0.02]) and mae["min_n"] == 30
    cos = continuous_fields(b, 0.97 * b, higher_is_better=True)  # 3 % lower cosine: 3 % drop
    assert cos["drop_ci95"] == pytest.approx([0.03, 0.03])
    assert continuous_fields(np.ones(10), np.zeros(10), True) == {}  # 0/1: Tango's case


def bootstrap_t_quantiles(d: np.ndarray, confidence: float, n_boot: int, seed: int):
    """The t statistics' tail quantiles, written out (one draw of n_boot x n indices)."""
    n = d.size
    x = d[np.random.default_rng(seed).integers(0, n, size=(n_boot, n))]
    t = (x.mean(axis=1) - d.mean()) / (x.std(axis=1, ddof=1) / math.sqrt(n))
    a = (1 - confidence) / 2
    return np.quantile(t, [a, 1 - a])


def inverted_interval(b, c, confidence, n_boot=2000, seed=0):
    """The ratios u whose paired quantity c - u b has a mean its bootstrap-t interval cannot
    tell from 0, found by bisecting on "is u inside" (no quadratic), minus 1."""
    u0 = c.mean() / b.mean()
    q_lo, q_hi = bootstrap_t_quantiles(c - u0 * b, confidence, n_boot, seed)

    def inside(u):
        d = c - u * b
        return q_lo <= d.mean() / (d.std(ddof=1) / math.sqrt(d.size)) <= q_hi

    def edge(near, far):
        for _ in range(200):
            mid = (near + far) / 2
            near, far = (mid, far) if inside(mid) else (near, mid)
        return near

    return edge(u0, u0 - 1.0) - 1, edge(u0, u0 + 1.0) - 1


@pytest.mark.parametrize(
    ("level", "sign"), [(0.95, 1.0), (0.8, 1.0), (0.9, -1.0), (0.95, 0.2), (0.95, -0.2)]
)
def test_the_relative_change_interval_inverts_the_bootstrap_t_exactly(level, sign):
    rng = np.random.default_rng(11)
    b = sign * np.abs(rng.normal(2.0, 1.0, 60))  # < 0: the sides flip; 0.2: a mean of 0.4
    c = b * 1.04 + sign * rng.gamma(1.0, 0.1, 60)  # skewed changes: unequal sides
    want = inverted_interval(b, c, level)
    got = relative_change_ci(b, c, level)
    assert got == pytest.approx(want, abs=1e-9)
    assert got[0] < c.mean() / b.mean() - 1 < got[1]
    assert relative_change_ci(b, c, level, seed=3) == pytest.approx(
        inverted_interval(b, c, level, seed=3), abs=1e-9
    )
    assert relative_change_ci(b, c, level, n_boot=500) == pytest.approx(
        inverted_interval(b, c, level, n_boot=500), abs=1e-9
    )


def test_a_record_s_drop_interval_is_the_inverted_interval_turned_to_a_drop():
    rng = np.random.default_rng(11)
    b = np.abs(rng.normal(2.0, 1.0, 60))
    c = b * 1.04 + rng.gamma(1.0, 0.1, 60)
    lo, hi = inverted_interval(b, c, 0.9)  # a rise of ~9 %
    f = continuous_fields(b, c, higher_is_better=False, confidence=0.9)  # a rise is worse
    assert f["drop_ci95"] == pytest.approx([lo, hi], abs=1e-9)
    assert f["min_n"] == max(30, math.floor(25 * sample_skewness(c - b) ** 2) + 1)
    f = continuous_fields(b, c, higher_is_better=True, confidence=0.9)  # a rise is better
    assert f["drop_ci95"] == pytest.approx([-hi, -lo], abs=1e-9)
    # a negative baseline (a log-likelihood): c / b - 1 > 0 is c further below 0, a change
    # relative to |b| of the opposite sign
    lo, hi = inverted_interval(-b, -c, 0.95)
    f = continuous_fields(-b, -c, higher_is_better=True)
    assert f["drop_ci95"] == pytest.approx([lo, hi], abs=1e-9) and lo > 0
    assert continuous_fields(b, 0.0 * b + 1.0, False)["drop_ci95"] is not None  # 1s, not 0/1
    assert continuous_fields(np.ones(10), np.full(10, 0.5), False)["min_n"] == 30


def test_the_relative_change_is_unbounded_when_either_end_is():
    # 8 noisy samples: the lower end's quantile leaves the baseline's mean not clear of 0,
    # the upper one's does; one missing end is no interval
    b = [
        2.0841642179821704,
        1.1128147573130496,
        0.10780090077542992,
        -0.10607045151010319,
        0.450729009199193,
        1.2642341481640593,
        -0.21154182024648294,
        0.7489893101539443,
    ]
    c = [
        2.310831705449658,
        1.5007930182168354,
        0.3546169867441862,
        0.21647482791784192,
        0.8612186556284038,
        1.5440230045551413,
        -0.18109542997125508,
        0.830946819126605,
    ]
    assert relative_change_ci(np.array(b), np.array(c)) is None  # fmt: skip
    assert relative_change_ci(np.ones(1), np.ones(1)) is None  # one sample: no interval
    assert relative_change_ci(np.ones(5), np.ones(6)) is None  # not paired


def test_only_an_exactly_proportional_candidate_gets_a_zero_width_interval():
    b = np.linspace(1.0, 2.0, 40) * 1000
    u = (1.02 * b).mean() / b.mean()
    assert relative_change_ci(b, 1.02 * b) == (u - 1, u - 1)  # exactly, no bootstrap
    assert relative_change_ci(b, np.zeros(40)) == (-1.0, -1.0)  # all lost: -100 %
    z = np.arange(20.0)  # a baseline outcome of 0 among others: no special case
    lo, hi = relative_change_ci(z, z + np.random.default_rng(0).normal(0, 0.5, 20))
    assert hi - lo > 0.01 and lo < 0 < hi


def test_resamples_without_spread_leave_that_side_unbounded():
    # one sample carries the change: 35 % of resamples miss it, have no spread and another
    # mean (t = -inf), so nothing bounds the upper end; the lower end stays finite
    lo, hi = studentized_ci(np.r_[np.zeros(9), 1.0])
    assert hi == math.inf and -0.2 < lo < 0.1


def test_small_and_degenerate_inputs():
    # three samples are enough for a skewness: G1 of (0, 0, 1) is 2/27 / (2/9)^1.5 * sqrt(6)
    assert skewness(np.array([0.0, 0.0, 1.0])) == pytest.approx(sample_skewness(np.r_[0, 0, 1.0]))
    assert skewness(np.array([0.0, 0.0, 1.0])) == pytest.approx(math.sqrt(3))
    assert skewness(np.ones(5)) == 0.0 and skewness(np.array([1.0, 2.0])) == 0.0
    lo, hi = studentized_ci(np.array([0.0, 1.0]))  # two samples: an interval, not a refusal
    assert lo <= 0.5 <= hi
    # 0/1 outcomes on both sides (both with 0s and 1s): Tango's case, no fields
    assert continuous_fields(np.r_[0.0, 1, 1, 0], np.r_[1.0, 1, 0, 0], True) == {}
    # one sample carries a loss: the lower end is unbounded (the mirror of the gain above)
    lo, hi = studentized_ci(np.r_[np.zeros(9), -1.0])
    assert lo == -math.inf and -0.1 < hi < 0.2


def test_a_baseline_mean_below_1_keeps_the_drop_s_direction():
    rng = np.random.default_rng(11)
    b = 0.2 * np.abs(rng.normal(2.0, 1.0, 60))  # mean about 0.4
    c = b * 1.04 + 0.2 * rng.gamma(1.0, 0.1, 60)
    lo, hi = inverted_interval(b, c, 0.95)
    assert continuous_fields(b, c, higher_is_better=False)["drop_ci95"] == pytest.approx(
        [lo, hi], abs=1e-9
    )


def bootstrap_t(d: np.ndarray, seed: int, n_boot: int = 2000) -> tuple[float, float]:
    """The bootstrap-t interval written out: t* = (mean* - mean) / se*; a resample without
    spread has t* = 0 at the observed mean (to 1e-12), else -inf or +inf."""
    n, m = d.size, float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    x = d[np.random.default_rng(seed).integers(0, n, size=(n_boot, n))]
    ts = []
    for dm, s in zip(x.mean(axis=1) - m, x.std(axis=1, ddof=1) / math.sqrt(n), strict=True):
        dm = 0.0 if abs(dm) <= 1e-12 * (1 + abs(m)) else dm  # rounding, not a move
        ts.append(dm / s if s > 0 else (0.0 if dm == 0 else math.copysign(math.inf, dm)))
    with np.errstate(invalid="ignore"):  # inf - inf where a quantile lands among the infs
        q_lo, q_hi = (float(q) for q in np.quantile(ts, [0.025, 0.975]))
    q_lo, q_hi = (-math.inf if math.isnan(q_lo) else q_lo), (math.inf if math.isnan(q_hi) else q_hi)
    return m - q_hi * se, m - q_lo * se


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_end_the_bootstrap_t_bounds_is_kept_beside_the_expanded_percentile_end(sign):
    """One of 40 samples carries the whole change: one end of the bootstrap-t is unbounded and
    becomes the expanded percentile's (Hesterberg); the other stays the bootstrap-t's own."""
    from statistics import NormalDist

    from scipy import stats as sps

    d = sign * np.r_[np.zeros(39), 0.5]
    b = np.full(40, 0.25)  # not 0/1 outcomes (Tango's case)
    means = d[np.random.default_rng(3).integers(0, 40, size=(2000, 40))].mean(axis=1)
    alpha = 1 - NormalDist().cdf(math.sqrt(40 / 39) * sps.t.ppf(0.975, 39))
    p_lo, p_hi = np.quantile(means, [alpha, 1 - alpha])
    t_lo, t_hi = bootstrap_t(d, seed=3)
    lo, hi = paired_delta_ci(b, b + d, seed=3)
    if sign > 0:  # the resamples that miss the gain bound nothing above
        assert not math.isfinite(t_hi) and lo == pytest.approx(t_lo, rel=1e-9)
        assert hi == pytest.approx(float(p_hi), rel=1e-9)
    else:
        assert not math.isfinite(t_lo) and hi == pytest.approx(t_hi, rel=1e-9)
        assert lo == pytest.approx(float(p_lo), rel=1e-9)


@pytest.mark.parametrize("shift", [0.0, 0.1, 1000.1])
def test_resamples_without_spread_at_the_observed_mean_count_as_t_0(shift):
    """28 of 30 changes are 0 and two cancel: 13 % of resamples hold only the 0s, with no spread
    and the observed mean, so t* = 0 (not an unbounded end); shifting every change by a
    constant shifts the interval by it (rounding of the shifted mean is not a move)."""
    e = np.r_[np.zeros(28), -0.05, 0.05]
    lo, hi = studentized_ci(e + shift)
    t_lo, t_hi = bootstrap_t(e, seed=0)
    assert math.isfinite(t_lo) and math.isfinite(t_hi)
    assert (lo - shift, hi - shift) == pytest.approx((t_lo, t_hi), abs=1e-9)


def test_two_exactly_proportional_samples_give_their_ratio():
    assert relative_change_ci(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == (1.0, 1.0)
