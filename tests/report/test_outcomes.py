"""Verdicts on continuous metrics: the relative drop's interval carries the baseline's noise,
no verdict below the minimum n, and identical outputs ship only from enough samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.core.continuous import relative_change_ci
from runner.report.verdict import drop_interval, verdict
from tests.records import make_record


def _mae_record(b: np.ndarray, c: np.ndarray, **metric) -> dict:
    """A regression record whose metric is the mean of the outcomes (lower is better)."""
    drop = c.mean() / b.mean() - 1
    rec = make_record(drop=drop, baseline=float(b.mean()), name="mae", higher_is_better=False,
                      task="regression")  # fmt: skip
    rec["metric"].update(value=float(c.mean()), n_samples=int(b.size), **metric)
    return rec


def _mae_pair(n: int, rise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = np.abs(rng.standard_normal(n))
    return b, b + rng.normal(rise * b.mean(), 0.25 * rise * b.mean(), n)


def test_the_record_s_fieller_interval_decides_not_the_delta_over_the_baseline():
    # the delta's interval over the observed baseline says "clear of 1 %"; the interval that
    # carries the baseline's noise straddles it: inconclusive, not ship
    rec = _mae_record(*_mae_pair(134, 0.009), ci95=[0.001, 0.002], drop_ci95=[0.002, 0.02],
                      min_n=30)  # fmt: skip
    assert drop_interval(rec["metric"]) == (0.002, 0.02)
    v = verdict(rec)
    assert v.label == "inconclusive" and "[0.20, 2.00] relative %" in v.reason
    del rec["metric"]["drop_ci95"]
    assert drop_interval(rec["metric"])[1] < 0.01  # the old reading: ci95 / baseline


def test_older_records_get_the_interval_from_their_outcomes():
    b, c = _mae_pair(200, 0.004, seed=3)
    rec = _mae_record(b, c)  # no drop_ci95 or min_n: written before they existed
    lo, hi = relative_change_ci(b, c)
    v = verdict(rec, outcomes=(b, c))
    assert hi < 0.01 and v.label == "ship"
    rec["metric"]["ci95"] = [0.0, 0.02 * b.mean()]  # a record interval that would straddle
    assert verdict(rec, outcomes=(b, c)).label == "ship"  # the outcomes' own interval decides
    assert verdict(rec).label == "inconclusive"  # without them, the record's


def test_no_continuous_verdict_below_the_minimum_n_and_the_reason_says_why():
    b, c = _mae_pair(20, 0.0, seed=1)
    v = verdict(_mae_record(b, c), outcomes=(b, c))
    assert v.label == "inconclusive"
    assert "from 20 paired samples: it needs at least 30" in v.reason
    assert "Cochran" in v.reason and "about 10 more validation samples" in v.reason
    v = verdict(_mae_record(*_mae_pair(100, 0.0), min_n=400))  # skewed changes: a higher n
    assert v.label == "inconclusive" and "at least 400" in v.reason


def test_identical_continuous_outputs_ship_only_from_enough_samples():
    b = np.abs(np.random.default_rng(4).standard_normal(60))
    assert verdict(_mae_record(b, b.copy()), outcomes=(b, b.copy())).label == "ship"
    few = b[:12]
    v = verdict(_mae_record(few, few.copy()), outcomes=(few, few.copy()))
    assert v.label == "inconclusive" and "at least 30" in v.reason


def test_an_unbounded_relative_interval_is_inconclusive():
    rec = _mae_record(*_mae_pair(100, 0.0), drop_ci95=None, min_n=30)
    v = verdict(rec)
    assert v.label == "inconclusive" and "not clear of 0" in v.reason


def test_accuracy_and_perplexity_keep_their_own_intervals():
    base = np.r_[np.ones(90), np.zeros(10)]
    rec = make_record(drop=0.0)  # accuracy 0.9: 0/1 outcomes, Tango's interval from ci95
    assert verdict(rec, outcomes=(base, base.copy())).label == "ship"
    lm = make_record(drop=0.002, name="perplexity", higher_is_better=False, baseline=20.0,
                     task="language_modeling")  # fmt: skip
    lm["metric"]["n_samples"] = 10  # tokens: no continuous minimum for perplexity here
    assert verdict(lm).label == "ship"


def _flips(n: int, ones: int, n10: int, n01: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes: `ones` baseline successes; n10 of them lost, n01 of the failures won."""
    b = np.r_[np.ones(ones), np.zeros(n - ones)]
    c = b.copy()
    c[:n10] = 0.0
    c[ones : ones + n01] = 1.0
    return b, c


def test_drop_interval_at_divides_tango_s_delta_by_the_baseline_at_the_level_asked():
    from runner.core.stats import tango_delta_ci
    from runner.report.outcomes import drop_interval_at

    b, c = _flips(200, 180, 9, 2)  # accuracy 0.9 -> 0.865; the key higher_is_better left out
    acc = {"name": "accuracy", "baseline": 0.9, "value": 0.865}
    for level in (0.8, 0.99):
        lo, hi = tango_delta_ci(9, 2, 200, level)  # candidate - baseline, from the counts
        got = drop_interval_at(acc, (b, c), level)
        assert got == pytest.approx((-hi / 0.9, -lo / 0.9), rel=1e-9)
    assert drop_interval_at(acc, (b, c), 0.8)[1] < drop_interval_at(acc, (b, c), 0.99)[1]
    err = {"name": "error", "baseline": 0.1, "value": 0.135, "higher_is_better": False}
    lo, hi = tango_delta_ci(2, 9, 200, 0.9)  # error outcomes: the counts swap roles
    got = drop_interval_at(err, (1 - b, 1 - c), 0.9)
    assert got == pytest.approx((lo / 0.1, hi / 0.1), rel=1e-9) and got[0] > 0


def test_drop_interval_at_for_perplexity_is_exp_of_the_nll_t_interval():
    from scipy import stats

    from runner.report.outcomes import drop_interval_at

    rng = np.random.default_rng(7)
    b = rng.gamma(2.0, 1.5, 20)  # per-token NLLs; under 30: a paired t interval
    c = b + rng.normal(0.05, 0.1, 20)
    ppl = {"name": "perplexity", "baseline": math.exp(b.mean()), "value": math.exp(c.mean()),
           "higher_is_better": False}  # fmt: skip
    d = c - b
    half = stats.t.ppf(0.95, 19) * d.std(ddof=1) / math.sqrt(20)  # 90 %
    want = (math.expm1(d.mean() - half), math.expm1(d.mean() + half))
    assert drop_interval_at(ppl, (b, c), 0.9) == pytest.approx(want, rel=1e-6)


def test_drop_interval_at_for_continuous_outcomes_is_the_relative_change_s():
    from runner.report.outcomes import drop_interval_at

    b, c = _mae_pair(120, 0.05, seed=5)
    mae = {"name": "mae", "baseline": float(b.mean()), "value": float(c.mean()),
           "higher_is_better": False}  # fmt: skip
    want = relative_change_ci(b, c, 0.9)  # mean(c) / mean(b) - 1: a rise in error is worse
    assert drop_interval_at(mae, (b, c), 0.9) == pytest.approx(want, rel=1e-9)
    cos = dict(mae, name="cosine", higher_is_better=True)  # a rise is better: sides flip
    assert drop_interval_at(cos, (b, c), 0.9) == pytest.approx((-want[1], -want[0]), rel=1e-9)
    assert drop_interval_at(mae, None, 0.9) is None
    assert drop_interval_at(dict(mae, value=2 * mae["value"]), (b, c), 0.9) is None  # not its


def test_continuous_evidence_from_outcomes_turns_the_ratio_s_interval_to_a_drop():
    from runner.report.outcomes import UNBOUNDED, continuous_evidence

    b, c = _mae_pair(90, 0.05, seed=8)
    cos = {"name": "cosine", "baseline": float(b.mean()), "value": float(c.mean())}
    lo, hi = relative_change_ci(b, c)  # a rise; the key left out: higher is better
    ci, min_n, n = continuous_evidence(cos, (b, c))
    assert ci == pytest.approx((-hi, -lo), rel=1e-9) and n == 90
    assert min_n == max(30, math.floor(25 * skew(c - b) ** 2) + 1)
    mae = dict(cos, name="mae", higher_is_better=False)
    assert continuous_evidence(mae, (b, c))[0] == pytest.approx((lo, hi), rel=1e-9)
    z = np.random.default_rng(2).normal(0.0, 1.0, 60)  # baseline mean not clear of 0
    near0 = {"name": "score", "baseline": float(z.mean()), "value": float(z.mean() + 0.1)}
    assert continuous_evidence(near0, (z, z + 0.1))[0] == UNBOUNDED
    # what the record wrote wins; a written null interval is unbounded, a missing one unknown
    assert continuous_evidence(dict(mae, drop_ci95=[0.1, 0.2]), (b, c))[:2] == ([0.1, 0.2], None)
    assert continuous_evidence(dict(mae, drop_ci95=None), (b, c))[0] == UNBOUNDED
    assert continuous_evidence(dict(mae, min_n=40, n_samples=90), (b, c)) == (None, 40, 90)


def skew(x: np.ndarray) -> float:
    """Adjusted Fisher-Pearson skewness G1, written out."""
    n, d = x.size, x - x.mean()
    return float((d**3).mean() / (d**2).mean() ** 1.5 * math.sqrt(n * (n - 1)) / (n - 2))


def test_too_few_only_below_the_minimum_and_only_with_both_counts():
    from runner.report.outcomes import too_few

    assert too_few(30, 30) is None and too_few(30, 31) is None
    assert too_few(None, 5) is None and too_few(30, None) is None and too_few(30.0, 5) is None
    assert too_few(30, 29) == (
        "no verdict on a continuous metric from 29 paired samples: it needs at least 30 "
        "(30, or 25 x the squared skewness of the per-sample changes when more, Cochran's "
        "rule: below that a bootstrap interval of the mean does not hold its 95 % when the "
        "changes are skewed); about 1 more validation samples would allow one"
    )


def test_outcomes_belong_to_a_metric_whose_means_were_rounded():
    from runner.report.outcomes import belonging

    b, c = _mae_pair(50, 0.05, seed=9)
    mae = {"name": "mae", "baseline": round(float(b.mean()), 4), "value": round(c.mean(), 4),
           "higher_is_better": False}  # fmt: skip
    got = belonging(mae, (list(b), c))  # means within 1e-3 relative of the rounded ones
    assert got is not None and got[0].dtype == np.float64 and np.array_equal(got[0], b)
    assert belonging(mae, (b[:10], c)) is None and belonging(mae, ([], [])) is None
