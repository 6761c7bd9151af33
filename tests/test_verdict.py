"""Every verdict branch on hand-made records, direction-aware drops, and Pareto fronts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from runner.stats import samples_to_settle
from runner.verdict import (
    Thresholds,
    drop_interval,
    pareto_front,
    recommend,
    relative_drop,
    verdict,
)
from tests.records import baseline_record, flips, make_record


@pytest.mark.parametrize("status", ["skipped", "failed"])
def test_skipped_and_failed_records_keep_their_reason(status):
    rec = make_record("int4", "qat", status=status, reason="no INT4 kernels on this runtime")
    v = verdict(rec)
    assert (v.label, v.reason) == (status, "no INT4 kernels on this runtime")


def test_fp32_ptq_is_the_baseline_row():
    v = verdict(baseline_record())
    assert v.label == "baseline" and "0.9" in v.reason


@pytest.mark.parametrize(
    ("budget", "words"),
    [({"max_latency_ms": 0.02, "max_memory_mb": None}, "0.02 ms budget"),
     ({"max_latency_ms": None, "max_memory_mb": 50}, "50 MB budget")],
)  # fmt: skip
def test_over_the_target_budget_does_not_fit(budget, words):
    v = verdict(make_record(p50=0.03, peak=90_000_000, target_budget=budget))
    assert v.label == "does not fit" and words in v.reason


def test_within_budget_is_judged_on_the_metric():
    budget = {"max_latency_ms": 0.05, "max_memory_mb": 100}
    assert verdict(make_record(p50=0.03, peak=90_000_000, target_budget=budget)).label == "ship"


def test_slower_than_the_baseline_is_no_gain_even_when_accurate():
    v = verdict(make_record("fp16", drop=0.0, p50=0.08))
    assert v.label == "no gain" and "0.75x" in v.reason


def test_a_speedup_inside_timing_noise_is_no_gain_unless_the_threshold_says_so():
    rec = make_record("int8", drop=0.0, p50=0.0585)  # baseline p50 0.06: 1.03x
    assert verdict(rec).label == "no gain"
    assert verdict(rec, Thresholds(min_speedup=1.0)).label == "ship"


@pytest.mark.parametrize(
    ("drop", "label"), [(-0.01, "ship"), (0.005, "ship"), (0.02, "try QAT"), (0.05, "stay FP16")]
)
def test_the_drop_decides_between_ship_qat_and_fp16(drop, label):
    v = verdict(make_record(drop=drop))
    assert v.label == label
    assert f"{100 * abs(drop):.2f}% {'gain' if drop < 0 else 'drop'}" in v.reason


def test_a_partly_quantized_model_says_so():
    assert "only 38% of the weights" in verdict(make_record(quantized_fraction=0.38)).reason
    assert "only" not in verdict(make_record(quantized_fraction=0.99)).reason


def test_thresholds_are_configurable():
    rec = make_record(drop=0.015)
    assert verdict(rec).label == "try QAT"
    assert verdict(rec, Thresholds(ship_below=0.02, qat_below=0.04)).label == "ship"
    assert verdict(make_record(drop=0.035), Thresholds(0.01, 0.04)).label == "try QAT"
    with pytest.raises(ValueError, match="ship_below"):
        Thresholds(ship_below=0.05, qat_below=0.03)


def test_try_qat_compares_the_sweeps_qat_run():
    ptq = make_record("int8", "ptq", drop=0.02)
    qat = make_record("int8", "qat", drop=0.004)
    other_target = make_record("int8", "qat", drop=0.0, target="cpu_arm")
    v = verdict(ptq, sweep=[other_target, ptq, qat])
    assert v.label == "try QAT"
    assert "QAT run drops 0.40%, better than this, which ships" in v.reason


def test_try_qat_says_when_the_sweep_has_no_usable_qat_run():
    ptq = make_record("int8", "ptq", drop=0.02)
    assert "add method=qat" in verdict(ptq, sweep=[ptq]).reason
    skipped = make_record("int8", "qat", status="skipped", reason="QAT needs a train split")
    assert "QAT run is skipped: QAT needs a train split" in verdict(ptq, sweep=[skipped]).reason


def test_a_ci_straddling_the_ship_threshold_is_inconclusive_without_a_count():
    v = verdict(make_record(drop=0.008, ci_drop=(0.002, 0.014)))
    assert v.label == "inconclusive"
    assert "straddles the 1.00% threshold" in v.reason and "about" not in v.reason


def test_inconclusive_counts_the_samples_that_would_settle_it():
    base, cand = flips(500, base_right=450, n10=6, n01=2)  # accuracy 0.9 -> 0.892
    rec = make_record(drop=(base.mean() - cand.mean()) / 0.9, ci_drop=(0.002, 0.016))
    need = samples_to_settle(base, cand, -0.01 * 0.9)
    v = verdict(rec, outcomes=(base, cand))
    assert v.label == "inconclusive"
    assert f"about {need - 500} more validation samples" in v.reason


def test_a_ci_straddling_the_qat_threshold_is_inconclusive_too():
    assert verdict(make_record(drop=0.035, ci_drop=(0.025, 0.045))).label == "inconclusive"


def test_lower_is_better_metrics_count_a_rise_as_the_drop():
    kw = {"name": "perplexity", "higher_is_better": False, "baseline": 20.16}
    kw["task"] = "language_modeling"
    assert relative_drop(21.08, 20.16, higher_is_better=False) == pytest.approx(0.92 / 20.16)
    assert verdict(make_record(drop=0.045, **kw)).label == "stay FP16"
    assert verdict(make_record(drop=-0.02, **kw)).label == "ship"  # perplexity fell
    rec = make_record(drop=0.008, ci_drop=(0.002, 0.014), **kw)
    assert drop_interval(rec["metric"]) == pytest.approx((0.002, 0.014))
    assert verdict(rec).label == "inconclusive"


def test_int4_outside_language_modelling_is_flagged_risky():
    v = verdict(make_record("int4", drop=0.001))
    assert v.risky_int4 and "prefer INT8 + pruning" in v.reason and v.label == "ship"
    lm = make_record("int4", drop=0.001, task="language_modeling", name="perplexity",
                     higher_is_better=False)  # fmt: skip
    assert not verdict(lm).risky_int4
    assert not verdict(make_record("int8")).risky_int4


def _df(metric, cost):
    return pd.DataFrame({"m": metric, "c": cost})


def test_pareto_front_keeps_ties_and_drops_the_dominated():
    df = _df([0.90, 0.90, 0.95, 0.85, 0.95, 0.80], [1.0, 1.0, 2.0, 2.0, 2.0, 3.0])
    front = pareto_front(df, "m", "c", higher_is_better=True)
    # duplicates (0, 1) and (2, 4) all stay; 3 and 5 are beaten by cheaper, better rows
    assert front.tolist() == [True, True, True, False, True, False]


def test_pareto_front_ignores_nan_rows():
    df = _df([0.99, np.nan, 0.90, 0.80], [np.nan, 0.5, 1.0, 2.0])
    assert pareto_front(df, "m", "c", True).tolist() == [False, False, True, False]


def test_pareto_front_is_direction_aware():
    df = _df([20.0, 22.0, 21.0], [3.0, 1.0, 4.0])  # perplexity: lower is better
    assert pareto_front(df, "m", "c", higher_is_better=False).tolist() == [True, True, False]
    assert pareto_front(df, "m", "c", higher_is_better=True).tolist() == [False, True, False]


def _table():
    return pd.DataFrame({
        "verdict": ["baseline", "ship", "ship", "ship", "try QAT"],
        "metric": [0.90, 0.899, 0.897, 0.899, 0.88], "higher_is_better": True,
        "p50_ms": [0.06, 0.03, 0.025, 0.04, 0.01], "size_mb": [1.4, 0.4, 0.5, 0.3, 0.2],
        "reason": ["r0", "r1", "r2", "r3", "r4"],
        "pareto_p50_ms": [True, True, True, False, True],
        "pareto_size_mb": [True, True, False, True, True],
    })  # fmt: skip


@pytest.mark.parametrize(("objective", "row"), [("latency", 2), ("size", 3)])
def test_recommend_picks_the_objectives_best_ship_row_on_the_front(objective, row):
    best, why = recommend(_table(), objective)
    assert best == row and f"r{row}" in why


def test_recommend_falls_back_to_the_baseline_when_nothing_ships():
    table = _table().assign(verdict=["baseline", "no gain", "stay FP16", "try QAT", "try QAT"])
    best, why = recommend(table, "latency")
    assert best == 0 and "nothing ships" in why and "2 try QAT" in why


def test_recommend_prefers_ship_rows_on_the_front():
    table = _table().assign(pareto_p50_ms=[True, True, False, False, True])
    assert recommend(table, "latency")[0] == 1  # row 2 is faster but off the front
    assert recommend(table.assign(pareto_p50_ms=False), "latency")[0] == 2  # none on it
