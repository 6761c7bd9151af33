"""runner.core.sequential: alpha-spending boundaries against published values and against an
independent simulation of repeated looks under the null hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.core.sequential import boundaries, confidence_of, spent, widen, widen_ratio
from runner.core.stats import t_quantile


def test_boundaries_match_published_obrien_fleming_type_values():
    """Lan-DeMets O'Brien-Fleming-type spending, one-sided 0.025, equally spaced looks, as
    tabulated (e.g. gsDesign's sfLDOF): 2 looks 2.9626, 1.9686; 3 looks 3.7103, 2.5114,
    1.9930; one look is the fixed-size 1.95996."""
    assert boundaries([1], 1) == pytest.approx([1.959964], abs=1e-5)
    assert boundaries([1, 2], 2) == pytest.approx([2.9626, 1.9686], abs=2e-4)
    assert boundaries([1, 2, 3], 3) == pytest.approx([3.7103, 2.5114, 1.9930], abs=2e-4)


def simulate(ns: list[float], cs: list[float], reps: int = 400_000, seed: int = 1) -> np.ndarray:
    """Share of null paths (cumulative sums of N(0, 1) increments) first crossing at each look."""
    rng = np.random.default_rng(seed)
    sizes = np.diff([0.0, *ns])
    s = np.cumsum(rng.standard_normal((reps, len(ns))) * np.sqrt(sizes), axis=1)
    z = s / np.sqrt(ns)
    crossed = z >= np.array(cs)
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    return np.array([np.mean(first == k) for k in range(len(ns))])


@pytest.mark.parametrize(
    "ns,n_max,kind",
    [
        ([2047, 4094, 8188], 8188, "obrien_fleming"),  # a language model's token looks
        ([5, 10, 20], 20, "pocock"),  # timing runs
        ([100, 200, 300], 400, "obrien_fleming"),  # the data ran out at the third look
    ],
)
def test_alpha_spent_over_the_looks_adds_up_to_alpha(ns, n_max, kind):
    cs = boundaries(ns, n_max, 0.025, kind)
    got = simulate(ns, cs)
    want = np.diff([0.0, *(spent(n / n_max, 0.025, kind) for n in ns[:-1]), 0.025])
    se = math.sqrt(0.025 * 0.975 / 400_000)
    assert got == pytest.approx(want, abs=4 * se + 2e-4)
    assert got.sum() == pytest.approx(0.025, abs=4 * se + 2e-4)
    # the naive rule, 1.96 at every look, errs far more often: what the design prevents
    assert simulate(ns, [1.96] * len(ns)).sum() > 0.035


def test_spending_functions_and_their_ends():
    assert spent(0, 0.025) == 0 and spent(1, 0.025) == 0.025 == spent(1, 0.025, "pocock")
    assert spent(0.5, 0.025) == pytest.approx(2 - 2 * 0.5 * (1 + math.erf(3.1698 / 2**0.5)), 1e-3)
    assert spent(0.5, 0.025, "pocock") == pytest.approx(0.025 * math.log(1 + (math.e - 1) / 2))
    with pytest.raises(ValueError, match="spending kind"):
        spent(0.5, 0.025, "linear")
    with pytest.raises(ValueError, match="increasing"):
        boundaries([10, 10], 20)


def test_intervals_are_widened_to_a_boundary():
    assert confidence_of(1.959964) == pytest.approx(0.95, abs=1e-6)
    lo, hi = widen(1.0, (0.0, 3.0), 2 * 1.959964, 1.959964)  # twice as many standard errors
    assert (lo, hi) == pytest.approx((-1.0, 5.0))
    # a t interval over 5 runs: log half-width scaled by the ratio of t quantiles
    wide = widen_ratio((1.0, 1.21), 5, 2.5)
    r = t_quantile(confidence_of(2.5), 4) / t_quantile(0.95, 4)
    mid, half = math.log(1.1), math.log(1.1)  # log(1.21) / 2 each
    assert wide == pytest.approx((math.exp(mid - half * r), math.exp(mid + half * r)))


def test_a_t_interval_is_widened_by_its_own_quantiles():
    """15 blocks (14 degrees of freedom) at a first look's z 4.33: the t quantile with that
    tail is about 6.46, not 4.33 x 2.145 / 1.96 = 4.74; widening by z alone would be too narrow."""
    lo, hi = widen(0.0, (-2.144787, 2.144787), 4.33, 1.959964, df=14)  # t_14, 97.5 %: tables
    assert hi == pytest.approx(t_quantile(confidence_of(4.33), 14), rel=1e-4)
    assert 6.4 < hi < 6.5 and lo == -hi


def test_more_to_settle_is_the_fixed_size_sample_for_80_percent_power():
    """((z_0.975 + z_0.8) sd / gap)^2 with the table's normal quantiles (1.959964, 0.841621)
    and sd recovered from the interval: half = z sd / sqrt(n)."""
    from runner.core.sequential import more_to_settle

    n, half, z, gap = 100, 0.3, 2.5, 0.07
    sd = half * math.sqrt(n) / z  # 1.2
    want = math.ceil(((1.959964 + 0.841621) * sd / gap) ** 2)
    assert more_to_settle(n, half, z, gap) == want
    assert more_to_settle(n, half, z, -gap) == want  # the gap's side does not matter
    want90 = math.ceil(((1.959964 + 1.281552) * sd / gap) ** 2)  # z_0.9 = 1.281552
    assert more_to_settle(n, half, z, gap, power=0.9) == want90 > want
    # a gap the current interval already clears: still one more than it has
    assert more_to_settle(n, half, z, 10.0) == n + 1
    assert more_to_settle(1, half, z, 10.0) == 2  # one observation is enough to ask


@pytest.mark.parametrize(
    ("n", "half", "z", "gap"),
    [(0, 0.3, 2.0, 0.1), (10, 0.0, 2.0, 0.1), (10, -0.1, 2.0, 0.1), (10, 0.3, 2.0, 0.0),
     (10, 0.3, math.inf, 0.1), (10, 0.3, math.nan, 0.1)],
)  # fmt: skip
def test_more_to_settle_has_no_answer_without_an_interval_or_a_gap(n, half, z, gap):
    from runner.core.sequential import more_to_settle

    assert more_to_settle(n, half, z, gap) is None


def test_a_speed_interval_from_two_runs_is_widened_on_the_log_scale():
    # log ends -0.105 and 0.470: their centre and half-width differ (unlike a (1, x^2) interval)
    r = t_quantile(confidence_of(2.5), 1) / t_quantile(0.95, 1)  # 1 degree of freedom
    lo, hi = math.log(0.9), math.log(1.6)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    want = (math.exp(mid - half * r), math.exp(mid + half * r))
    assert widen_ratio((0.9, 1.6), 2, 2.5) == pytest.approx(want) and want[0] < 0.9
    assert widen_ratio((0.9, 1.6), 2, math.inf) == (0.0, math.inf)  # no boundary: no bound
    slower = widen_ratio((0.5, 0.9), 5, 2.5)  # wholly below 1: widened too
    assert slower is not None and slower[0] < 0.5 and slower[1] > 0.9
    for ci, runs in (((0.9, 1.6), 1), ((0.0, 1.6), 5), ((0.9, 0.0), 5), ((-1.0, 0.5), 5)):
        assert widen_ratio(ci, runs, 2.5) is None
    assert widen(1.0, (0.5, 2.0), math.inf, 1.96) == (-math.inf, math.inf)
    assert confidence_of(math.inf) == 1.0


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, -0.1])
def test_alpha_outside_0_1_is_refused(alpha):
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        spent(0.5, alpha)


def test_a_later_look_with_nothing_to_spend_gets_an_infinite_boundary():
    # O'Brien-Fleming-type spending by 1 and 2 in a million is below the smallest float: no
    # share at either look, so no z can pass there (not the z where the tail underflows)
    assert spent(2e-6, 0.025) == 0.0
    assert boundaries([1, 2], 1e6, final=False) == [math.inf, math.inf]
    assert boundaries([1, 2, 1e6], 1e6) == pytest.approx([math.inf, math.inf, 1.959964], abs=1e-5)


@pytest.mark.parametrize("need,given", [(10**9, 10**9), (10**9 + 1, None)])
def test_a_count_up_to_a_billion_is_given_and_none_past_it(need, given):
    """At a gap that asks exactly `need` observations (sd 1 from n 1 at z 1.96), the count is
    given up to 10^9; past it the point sits within rounding of its bar: None."""
    from statistics import NormalDist

    from runner.core.sequential import more_to_settle

    z = NormalDist().inv_cdf(0.975)
    k = z + NormalDist().inv_cdf(0.8)
    gap = k / math.sqrt(need - 0.5)  # ceil((k / gap)^2) == need
    assert more_to_settle(1, z, z, gap) == given
