"""Verdicts on continuous metrics: the relative drop's interval carries the baseline's noise,
no verdict below the minimum n, and identical outputs ship only from enough samples."""

from __future__ import annotations

import numpy as np

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
