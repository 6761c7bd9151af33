"""Every verdict branch on hand-made records, direction-aware drops, and Pareto fronts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.stats import blocks_to_settle, samples_to_settle
from runner.summarize import build_table
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
    assert f"{100 * abs(drop):.2f} relative % {'gain' if drop < 0 else 'drop'}" in v.reason


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
    assert "QAT run drops 0.40 relative %, better than this, which ships" in v.reason


def test_try_qat_says_when_the_sweep_has_no_usable_qat_run():
    ptq = make_record("int8", "ptq", drop=0.02)
    assert "add method=qat" in verdict(ptq, sweep=[ptq]).reason
    skipped = make_record("int8", "qat", status="skipped", reason="QAT needs a train split")
    assert "QAT run is skipped: QAT needs a train split" in verdict(ptq, sweep=[skipped]).reason


def test_a_ci_straddling_the_ship_threshold_is_inconclusive_without_a_count():
    v = verdict(make_record(drop=0.008, ci_drop=(0.002, 0.014)))
    assert v.label == "inconclusive"
    assert "straddles the 1 % threshold" in v.reason and "about" not in v.reason


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


# --- reasons that read naturally: pp for absolute points, relative % for relative drops ---


def test_reasons_say_pp_for_accuracy_points_and_relative_percent_for_drops():
    v = verdict(make_record(drop=-0.0019 / 0.9, baseline=0.9))  # +0.0019 accuracy
    assert v.reason.startswith("No loss: accuracy")
    assert "+0.19 pp (0.21 relative % gain), within the 1 % ship threshold" in v.reason
    small = verdict(make_record(drop=0.005)).reason
    assert small.startswith("A small loss:") and "-0.45 pp (0.50 relative % drop)" in small
    mae = verdict(make_record(drop=0.005, name="mae", higher_is_better=False, baseline=2.0))
    assert "+0.01 (0.50 relative % drop)" in mae.reason and "pp" not in mae.reason


# --- the speed interval decides "no gain" ---


@pytest.mark.parametrize(
    ("ci", "label", "words"),
    [((0.95, 1.04), "no gain", "below the 1.05x that counts as faster: no gain"),
     ((1.10, 1.30), "ship", "within the 1 % ship threshold"),
     ((1.00, 1.10), "inconclusive", "straddles the 1.05x bar")],
)  # fmt: skip
def test_no_gain_only_when_the_speed_interval_lies_below_the_bar(ci, label, words):
    rec = make_record("int8", drop=0.002, p50=0.06 / 1.05, speedup_ci=ci, session_runs=5)
    v = verdict(rec)
    assert v.label == label and words in v.reason


def test_unsettled_speed_counts_the_timing_rounds_and_keeps_the_metric_view():
    rec = make_record("int8", drop=0.002, p50=0.06 / 1.06, speedup_ci=(1.02, 1.10), session_runs=5)
    need = blocks_to_settle((1.02, 1.10), 5, 1.05)
    v = verdict(rec)
    assert v.label == "inconclusive"
    assert f"about {need - 5} more fresh-session timing runs (~{need} in all" in v.reason
    assert "on the metric alone: ship" in v.reason


def test_a_point_speedup_under_the_bar_is_no_gain_when_the_interval_overlaps_it():
    # the old rule called 1.03x "no gain" from one p50 ratio; with its interval it is unsettled
    rec = make_record("int8", drop=0.0, p50=0.0585)
    assert verdict(rec).label == "no gain"
    assert verdict({**rec, "speedup_ci": [0.99, 1.08]}).label == "inconclusive"


# --- verdicts that follow the objective ---


def test_under_objective_size_a_smaller_model_that_is_not_slower_is_judged_on_size():
    int4 = make_record("int4", drop=0.001, p50=0.06 / 1.02, size=350_000, speedup_ci=(0.97, 1.07))
    fp16 = make_record("fp16", drop=0.0, p50=0.06, size=700_000, speedup_ci=(0.96, 1.04))
    assert verdict(int4).label == "inconclusive"  # latency: speed not settled
    assert verdict(fp16).label == "no gain"
    size = Thresholds(objective="size")
    v = verdict(int4, size)
    assert v.label == "ship" and v.reason.startswith("4.00x smaller and not slower")
    assert verdict(fp16, size).label == "ship"


def test_under_objective_size_a_clearly_slower_model_is_still_no_gain():
    slow = make_record("fp16", drop=0.0, p50=0.08, size=700_000, speedup_ci=(0.70, 0.80))
    v = verdict(slow, Thresholds(objective="size"))
    assert v.label == "no gain" and "0.75x" in v.reason


def test_under_objective_memory_the_peak_memory_ratio_counts():
    rec = make_record("int8", drop=0.0, p50=0.06, peak=40_000_000, speedup_ci=(0.97, 1.03))
    rec["baseline_peak_rss_bytes"] = 90_000_000
    v = verdict(rec, Thresholds(objective="memory"))
    assert v.label == "ship" and "2.25x leaner in peak memory" in v.reason
    assert verdict(rec).label == "no gain"
    with pytest.raises(ValueError, match="objective"):
        Thresholds(objective="energy")


# --- samples to settle, in the metric's own units ---


def test_perplexity_counts_the_tokens_that_would_settle_it_in_nll_units():
    rng = np.random.default_rng(0)
    base = rng.gamma(2.0, 1.5, size=4000)  # per-token NLL, mean about 3
    cand = base + rng.normal(0.012, 0.3, size=4000)
    ppl_b, ppl_c = float(np.exp(base.mean())), float(np.exp(cand.mean()))
    drop = ppl_c / ppl_b - 1  # relative rise of perplexity, about 1.2 %
    kw = {"name": "perplexity", "higher_is_better": False, "task": "language_modeling"}
    rec = make_record(drop=drop, ci_drop=(drop - 0.01, drop + 0.01), baseline=ppl_b, **kw)
    rec["metric"]["value"] = ppl_c
    need = samples_to_settle(base, cand, np.log1p(0.01))  # 1 % relative = log(1.01) in NLL
    v = verdict(rec, outcomes=(base, cand))
    assert v.label == "inconclusive"
    assert f"about {need - 4000} more scored tokens (~{need} in all)" in v.reason


# --- the recommendation: ok ship rows only, the objective, and the tie rule ---


def _sweep_table(records, objective="latency"):
    """The summarizer's table of hand-made records (one group), as recommend() receives it."""
    paths = [(Path(f"{i}/result.json"), r) for i, r in enumerate(records)]
    return build_table(paths, Thresholds(objective=objective), objective)


def _run(int8_ptq_p50, int8_qat_p50, int4_p50):
    """One run of a sweep whose INT8 PTQ, INT8 QAT and INT4 speeds overlap in their intervals."""
    ci = (1.9, 2.6)  # all three candidates: not separated by speed
    return [
        baseline_record(speedup_ci=(0.97, 1.03)),
        make_record("int8", "qat", drop=0.001, p50=int8_qat_p50, speedup_ci=ci),
        make_record("int4", "ptq", drop=0.002, p50=int4_p50, size=200_000, speedup_ci=ci,
                    task="language_modeling"),
        make_record("int8", "ptq", drop=0.001, p50=int8_ptq_p50, speedup_ci=ci),
    ]  # fmt: skip


def test_the_tie_rule_recommends_the_same_config_whatever_the_timing_noise():
    # the two runs swap which candidate has the lowest p50: the recommendation must not move
    for p50s in [(0.030, 0.028, 0.026), (0.026, 0.030, 0.028), (0.028, 0.026, 0.030)]:
        table = _sweep_table(_run(*p50s))
        best, why = recommend(table, "latency")
        assert (table.precision[best], table.method[best]) == ("int8", "ptq"), p50s
        assert "PTQ before QAT, then the higher precision" in why


def test_a_clearly_faster_candidate_beats_the_tie_rule():
    records = _run(0.030, 0.030, 0.015)
    records[2] = {**records[2], "speedup_ci": [3.6, 4.4]}  # INT4 separated: clearly faster
    table = _sweep_table(records)
    assert table.precision[recommend(table, "latency")[0]] == "int4"


def test_the_recommendation_follows_the_objective():
    # size: a 4x smaller INT4 at 1.02x is no longer "no gain", and beats the 2x smaller INT8
    records = [
        baseline_record(speedup_ci=(0.97, 1.03)),
        make_record("int8", drop=0.001, p50=0.06 / 1.5, size=700_000, speedup_ci=(1.4, 1.6)),
        make_record("int4", drop=0.002, p50=0.06 / 1.02, size=350_000, speedup_ci=(0.96, 1.08),
                    task="language_modeling"),
    ]  # fmt: skip
    latency, size = _sweep_table(records, "latency"), _sweep_table(records, "size")
    assert latency.precision[recommend(latency, "latency")[0]] == "int8"
    assert size.verdict[2] == "ship"
    assert size.precision[recommend(size, "size")[0]] == "int4"


def test_fp16_alone_smaller_and_not_slower_is_recommended_for_size():
    records = [
        baseline_record(speedup_ci=(0.97, 1.03)),
        make_record("fp16", drop=0.0, p50=0.06, size=700_000, speedup_ci=(0.95, 1.05)),
    ]
    table = _sweep_table(records, "size")
    best, why = recommend(table, "size")
    assert table.precision[best] == "fp16" and "Pareto-optimal" in why
    assert recommend(_sweep_table(records), "latency")[0] == 0  # latency: keep FP32


def test_the_baseline_row_shows_a_speedup_of_one_and_keeps_its_interval():
    base = make_record("fp32", "ptq", drop=0.0, p50=0.061, size=1_400_000, speedup_ci=(0.97, 1.02))
    table = _sweep_table([base])
    assert table.speedup[0] == 1.0
    assert (table.speedup_ci_lo[0], table.speedup_ci_hi[0]) == (0.97, 1.02)


def test_failed_rows_are_never_recommended_and_no_ok_baseline_means_none():
    table = _table().assign(status=["failed", "failed", "failed", "failed", "ok"])
    best, why = recommend(table, "latency")  # rows 1-3 say "ship" but did not run cleanly
    assert best is None and "no ok FP32 PTQ baseline row" in why


def test_when_no_ship_row_is_on_the_front_the_reason_says_so():
    table = _table().assign(pareto_p50_ms=[True, False, False, False, True])
    best, why = recommend(table, "latency")
    assert best == 2 and "no ship candidate is on the latency Pareto front" in why
    assert "Pareto-optimal" not in why


def test_no_disagreement_on_a_small_split_says_how_many_samples_would_settle_it():
    import numpy as np

    outcomes = (np.ones(135), np.ones(135))
    rec = make_record(drop=0.0, baseline=1.0, ci_drop=(-0.0277, 0.0277))
    v = verdict(rec, outcomes=outcomes)
    assert v.label == "inconclusive"
    assert "about 246 more validation samples (~381 in all)" in v.reason  # z² / (n + z²) < 1 %
    assert "keeps agreeing with the baseline" in v.reason
