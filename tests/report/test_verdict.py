"""Every verdict branch on hand-made records, direction-aware drops, and Pareto fronts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.core.stats import (
    agreeing_samples_to_settle,
    blocks_to_settle,
    discordant_samples_to_settle,
    samples_to_settle,
    tango_delta_ci,
)
from runner.report.recommend import pareto_front, recommend
from runner.report.summary import build_table
from runner.report.verdict import Thresholds, drop_interval, relative_drop, verdict
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
        "speedup": [1.0, 2.0, 2.4, 1.5, 6.0],
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


def test_the_point_front_never_keeps_out_a_clearly_faster_ship_row():
    table = _table().assign(pareto_p50_ms=[True, True, False, False, True])
    assert recommend(table, "latency")[0] == 2  # off the (point) front, but clearly faster
    assert recommend(table.assign(pareto_p50_ms=False), "latency")[0] == 2  # none on it
    # p50s from different jobs decide nothing: only the paired speedup does
    assert recommend(table.assign(p50_ms=[0.06, 0.01, 0.09, 0.01, 0.01]), "latency")[0] == 2


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


def test_under_objective_size_a_smaller_model_is_judged_on_size_not_on_its_speed():
    int4 = make_record("int4", drop=0.001, p50=0.06 / 1.02, size=350_000, speedup_ci=(0.97, 1.07))
    fp16 = make_record("fp16", drop=0.0, p50=0.06, size=700_000, speedup_ci=(0.96, 1.04))
    assert verdict(int4).label == "inconclusive"  # latency: speed not settled
    assert verdict(fp16).label == "no gain"
    size = Thresholds(objective="size")
    v = verdict(int4, size)
    assert v.label == "ship" and v.reason.startswith("4.00x smaller (speed 1.02x [0.97, 1.07]")
    assert verdict(fp16, size).label == "ship"


def test_under_objective_size_speed_decides_nothing():
    # issue 22: a 4x smaller, lossless model 0.9x as fast ships, and is never "inconclusive"
    # on a speed interval that straddles the bar
    slow = make_record("int4", drop=0.0, size=350_000, speedup=0.9, speedup_ci=(0.85, 0.95),
                       task="language_modeling")  # fmt: skip
    v = verdict(slow, Thresholds(objective="size"))
    assert v.label == "ship" and "4.00x smaller (speed 0.90x [0.85, 0.95]" in v.reason
    assert verdict(slow).label == "no gain"  # latency: clearly slower
    unsettled = {**slow, "speedup": 1.05, "speedup_ci": [0.9, 1.2]}
    assert verdict(unsettled).label == "inconclusive"
    assert verdict(unsettled, Thresholds(objective="size")).label == "ship"
    not_smaller = {**slow, "compression": 1.01}
    v = verdict(not_smaller, Thresholds(objective="size"))
    assert v.label == "no gain" and "1.01x smaller" in v.reason and "objective=size" in v.reason


def test_under_objective_memory_the_peak_memory_ratio_counts():
    rec = make_record("int8", drop=0.0, p50=0.06, peak=40_000_000, speedup_ci=(0.97, 1.03))
    rec["baseline_peak_rss_bytes"] = 90_000_000
    v = verdict(rec, Thresholds(objective="memory"))
    assert v.label == "ship" and "2.25x leaner in peak memory" in v.reason
    assert verdict(rec).label == "no gain"
    v = verdict({**rec, "baseline_peak_rss_bytes": None}, Thresholds(objective="memory"))
    assert v.label == "inconclusive" and "latency.memory_probe=true" in v.reason
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


# --- boundaries as the README states them, and what each reason must carry ---

EXACT = Thresholds(ship_below=0.25, qat_below=0.5)  # thresholds a binary float hits exactly


def _exact(drop: float, ci_drop: tuple[float, float], **kw) -> dict:
    """A record with baseline 1.0, so that drop and its interval are exact binary floats."""
    return make_record(drop=drop, ci_drop=ci_drop, baseline=1.0, **kw)


def test_the_drop_thresholds_ship_below_and_try_qat_up_to_and_including():
    # README: ship < 1 %, try QAT 1-3 %, stay FP16 > 3 %; an interval ending on a threshold
    # does not straddle it
    assert verdict(_exact(0.25, (0.25, 0.375)), EXACT).label == "try QAT"
    assert verdict(_exact(0.5, (0.375, 0.5)), EXACT).label == "try QAT"
    assert verdict(_exact(0.125, (0.0, 0.25)), EXACT).label == "ship"
    Thresholds(ship_below=0.0, qat_below=0.0)  # both may be 0, and equal
    Thresholds(ship_below=0.02, qat_below=0.02)
    with pytest.raises(ValueError, match="ship_below"):
        Thresholds(ship_below=-0.01)


def test_the_speed_bar_no_gain_strictly_below_a_gain_strictly_above():
    on_hi = make_record("int8", drop=0.0, speedup_ci=(0.95, 1.05))  # hi on the 1.05x bar
    on_lo = make_record("int8", drop=0.0, speedup_ci=(1.05, 1.2))  # lo on it
    assert verdict(on_hi).label == verdict(on_lo).label == "inconclusive"
    assert "straddles the 1.05x bar" in verdict(on_lo).reason
    at_bar = make_record("int8", drop=0.0, p50=0.06 / 1.05)  # no interval: the point decides
    assert verdict({**at_bar, "speedup": 1.05}).label == "ship"
    assert verdict({**at_bar, "speedup": 1.04}).label == "no gain"


def test_at_the_target_budget_a_candidate_still_fits():
    budget = {"max_latency_ms": 0.03, "max_memory_mb": 90, "max_size_mb": 0.36}
    fits = make_record(p50=0.03, peak=90_000_000, size=360_000, target_budget=budget)
    assert verdict(fits).label == "ship"


def test_each_budget_says_what_exceeds_it_in_its_own_unit():
    v = verdict(make_record(peak=90_000_000, target_budget={"max_memory_mb": 50}))
    assert v.label == "does not fit"
    assert "Peak memory 90.0 MB exceeds the target's 50 MB budget" in v.reason
    v = verdict(make_record(size=360_000, target_budget={"max_size_mb": 0.3}))
    assert v.label == "does not fit"
    assert "Model size 0.4 MB exceeds the target's 0.3 MB budget" in v.reason
    assert verdict(make_record(size=360_000, target_budget={"max_size_mb": 1})).label == "ship"


def test_a_zero_drop_is_no_loss_and_a_change_and_big_drops_read_in_points():
    v = verdict(make_record(drop=0.0))
    assert v.reason.startswith("No loss: accuracy 0.9 vs 0.9 baseline, +0.00 pp")
    assert "(0.00 relative % change)" in v.reason
    v = verdict(make_record(drop=0.05 / 0.9, ci_drop=(0.05, 0.06)))  # 0.85 vs 0.9
    assert "-5.00 pp" in v.reason and v.label == "stay FP16"


def test_an_inconclusive_reason_shows_the_interval_and_the_nearest_threshold():
    v = verdict(make_record(drop=0.008, ci_drop=(0.002, 0.014)))
    assert "95% CI of the drop [0.20, 1.40] relative % straddles the 1 % threshold" in v.reason
    wide = verdict(make_record(drop=0.025, ci_drop=(0.008, 0.035)))  # straddles 1 % and 3 %
    assert wide.label == "inconclusive"
    assert "[0.80, 3.50] relative % straddles the 3 % threshold" in wide.reason


def test_try_qat_names_its_band_and_how_the_qat_run_compares():
    ptq = make_record("int8", "ptq", drop=0.02)
    v = verdict(ptq, sweep=[ptq, make_record("int8", "qat", drop=0.025)])
    assert "between the 1 % and 3 % thresholds" in v.reason
    assert "QAT run drops 2.50 relative %, no better than this" in v.reason
    same = verdict(ptq, sweep=[make_record("int8", "qat", drop=0.02)])
    assert "no better than this." in same.reason  # and no "which ships"
    qat = make_record("int8", "qat", drop=0.02)
    assert "this already is QAT" in verdict(qat, sweep=[qat]).reason


def test_a_qat_run_exactly_at_the_ship_threshold_does_not_ship():
    ptq = _exact(0.375, (0.3125, 0.4375), precision="int8", method="ptq")
    at = _exact(0.25, (0.25, 0.3125), precision="int8", method="qat")
    assert "which ships" not in verdict(ptq, EXACT, sweep=[at]).reason
    below = _exact(0.125, (0.0625, 0.1875), precision="int8", method="qat")
    assert "which ships" in verdict(ptq, EXACT, sweep=[below]).reason


def test_only_the_qat_run_of_the_same_model_data_precision_and_target_is_compared():
    ptq = make_record("int8", "ptq", drop=0.02)
    others = []
    for i, axis in enumerate(("model", "dataset", "precision", "target")):
        other = make_record("int8", "qat", drop=0.001 * (i + 1))
        other["axes"] = {**other["axes"], axis: "other"}
        others.append(other)
    v = verdict(ptq, sweep=[*others, make_record("int8", "qat", drop=0.015)])
    assert "QAT run drops 1.50 relative %" in v.reason


def test_a_qat_run_that_did_not_finish_cleanly_is_never_compared_on_its_numbers():
    ptq = make_record("int8", "ptq", drop=0.02)
    failed = make_record("int8", "qat", status="failed", reason="OOM")
    failed["metric"] = make_record("int8", "qat", drop=0.001)["metric"]  # numbers left behind
    assert "QAT run is failed: OOM" in verdict(ptq, sweep=[failed]).reason
    no_value = make_record("int8", "qat", drop=0.001)
    no_value["metric"] = {**no_value["metric"], "value": None}
    v = verdict(ptq, sweep=[no_value])
    assert v.label == "try QAT" and "drops" not in v.reason


def test_a_metric_that_does_not_say_its_name_or_direction_reads_as_higher_is_better():
    """Hand-written records may leave out name and higher_is_better: every part of the
    verdict then reads the metric alike, as a higher-is-better one called 'metric'."""

    def bare(rec):
        m = {k: v for k, v in rec["metric"].items() if k not in ("name", "higher_is_better")}
        return {**rec, "metric": m}

    def spelled_out(rec):
        return {**rec, "metric": {**rec["metric"], "name": "metric", "higher_is_better": True}}

    base, cand = flips(500, base_right=450, n10=6, n01=2)
    qat = make_record("int8", "qat", drop=0.004)
    cases = [
        (make_record(drop=0.002), [], None),
        (make_record(drop=0.02), [qat], None),
        (make_record(drop=(base.mean() - cand.mean()) / 0.9, ci_drop=(0.002, 0.016)), [],
         (base, cand)),
        (baseline_record(), [], None),
        (make_record() | {"metric": make_record()["metric"] | {"baseline": 0.0}}, [], None),
    ]  # fmt: skip
    for rec, sweep, outcomes in cases:
        plain = verdict(bare(rec), sweep=[bare(r) for r in sweep], outcomes=outcomes)
        said = verdict(spelled_out(rec), sweep=[spelled_out(r) for r in sweep], outcomes=outcomes)
        assert plain == said
    assert "QAT run drops 0.40 relative %" in verdict(bare(cases[1][0]), sweep=[bare(qat)]).reason
    assert drop_interval({"ci95": [-0.02, -0.01], "baseline": 1.0}) == pytest.approx((0.01, 0.02))


def test_a_drop_interval_needs_a_baseline_to_divide_by():
    assert drop_interval({"ci95": [-0.02, -0.01], "baseline": 0.0}) is None
    assert drop_interval({"ci95": [-0.02, -0.01], "baseline": None}) is None
    rec = make_record()
    v = verdict({**rec, "metric": {**rec["metric"], "baseline": 0.0, "ci95": [0.0, 0.1]}})
    assert (v.label, v.reason) == (
        "inconclusive",
        "The baseline accuracy is 0, so a relative drop is undefined.",
    )


def test_a_record_without_a_metric_value_is_inconclusive():
    rec = make_record()
    rec["metric"] = {**rec["metric"], "value": None}
    v = verdict(rec)
    assert v.label == "inconclusive" and "no metric value" in v.reason


def test_the_baseline_row_shows_its_own_value_else_the_baseline():
    rec = baseline_record()
    assert verdict(rec).reason == "FP32 PTQ reference: accuracy 0.9."
    rec["metric"] = {**rec["metric"], "value": 0.91}
    assert verdict(rec).reason == "FP32 PTQ reference: accuracy 0.91."
    rec["metric"] = {**rec["metric"], "value": None}
    assert verdict(rec).reason == "FP32 PTQ reference: accuracy 0.9."
    rec["metric"] = {**rec["metric"], "baseline": None}
    assert verdict(rec).reason == "FP32 PTQ reference: accuracy n/a."


def test_every_reason_is_one_sentence_and_keeps_its_parts():
    v = verdict(make_record("int4", drop=0.005, quantized_fraction=0.38))
    assert v.reason.startswith("A small loss: accuracy")
    assert "only 38% of the weights are actually stored in int4" in v.reason
    assert "INT4 on a classification task is risky" in v.reason
    assert v.reason.endswith("prefer INT8 + pruning.") and not v.reason.endswith("..")
    assert "only" not in verdict(make_record(quantized_fraction=0.9)).reason  # 0.9 is enough


def test_int4_risk_follows_the_task_or_else_the_metric_name():
    def int4(task, name):
        rec = make_record("int4", drop=0.001, name=name, higher_is_better=name == "accuracy")
        if task is None:
            return {k: v for k, v in rec.items() if k != "task"}
        return {**rec, "task": task}

    assert not verdict(int4("language_modeling", "loss")).risky_int4  # the task says so
    assert verdict(int4("classification", "perplexity")).risky_int4
    for name in ("perplexity", "ppl", "Perplexity"):  # no task: the metric tells
        assert not verdict(int4(None, name)).risky_int4, name
    assert verdict(int4(None, "accuracy")).risky_int4


def test_samples_to_settle_use_the_thresholds_confidence():
    base, cand = flips(500, base_right=450, n10=6, n01=2)
    rec = make_record(drop=(base.mean() - cand.mean()) / 0.9, ci_drop=(0.002, 0.016))
    need = samples_to_settle(base, cand, -0.01 * 0.9, confidence=0.9)
    v = verdict(rec, Thresholds(confidence=0.9), outcomes=(base, cand))
    assert f"about {need - 500} more validation samples (~{need} in all)" in v.reason
    agree = (np.r_[np.ones(120), np.zeros(15)],) * 2  # no disagreement, some wrong
    rec = make_record(drop=0.0, baseline=120 / 135, ci_drop=(-0.0277, 0.0277))
    for conf in (0.95, 0.9):
        need = agreeing_samples_to_settle(135, -0.01 * 120 / 135, conf)
        v = verdict(rec, Thresholds(confidence=conf), outcomes=agree)
        assert f"about {need - 135} more validation samples (~{need} in all)" in v.reason


def test_no_count_from_outcomes_that_do_not_belong_or_have_no_spread():
    base, cand = flips(500, base_right=450, n10=6, n01=2)
    rec = make_record(drop=(base.mean() - cand.mean()) / 0.9, ci_drop=(0.002, 0.016))
    wrong = [
        (base, np.r_[cand, cand]),  # another split size, the same mean
        (np.r_[np.zeros(100), base[100:]], cand),  # another baseline (mean 0.7)
        (base, np.r_[np.zeros(100), cand[100:]]),  # another candidate
    ]
    for outcomes in wrong:
        v = verdict(rec, outcomes=outcomes)
        assert v.label == "inconclusive" and "more validation samples would settle it" in v.reason
        assert "about" not in v.reason
    # the same (exact) shift on every sample: continuous outcomes of this metric, so the
    # record's interval gives way to theirs (Fieller's, a 0.87 % drop clear of 1 %)
    v = verdict(rec, outcomes=(base, base - 2**-7))
    assert v.label == "ship" and "about" not in v.reason


def test_a_count_already_reached_still_asks_for_at_least_one_more():
    # the record's interval straddles, but the power formula (or Tango's interval with no
    # disagreement) says the split is already big enough: "about 1 more", never 0 or less.
    # (Timing runs cannot get there: an interval straddling the bar needs > 2x its runs.)
    base, cand = flips(500, base_right=450, n10=100, n01=0)  # 0.7 vs 0.9
    rec = make_record(drop=(base.mean() - cand.mean()) / 0.9, ci_drop=(0.02, 0.3))
    assert samples_to_settle(base, cand, -0.03 * 0.9) < 500  # the normal formula's count
    v = verdict(rec, outcomes=(base, cand))  # 0/1 outcomes: Tango's count, never below 500
    assert "about 1 more validation samples (~500 in all)" in v.reason
    ones = (np.ones(600), np.ones(600))
    rec = make_record(drop=0.0, baseline=1.0, ci_drop=(-0.011, 0.011))
    assert "about 1 more validation samples (~600 in all)" in verdict(rec, outcomes=ones).reason
    need = agreeing_samples_to_settle(1, -0.01)  # one sample is a split too
    v = verdict(rec, outcomes=(np.ones(1), np.ones(1)))
    assert f"about {need - 1} more validation samples (~{need} in all)" in v.reason


# --- objective size / memory: when is a candidate leaner ---


def test_at_least_1_05x_smaller_counts_as_smaller():
    at = make_record("fp16", drop=0.0, p50=0.06, size=1_000_000, speedup_ci=(0.97, 1.03))
    at["compression"] = 1.05
    v = verdict(at, Thresholds(objective="size"))
    assert v.label == "ship" and v.reason.startswith("1.05x smaller (speed 1.00x [0.97, 1.03]")


@pytest.mark.parametrize(
    ("speedup", "ci", "label"),
    [(0.97, (0.9, 1.0), "ship"), (0.97, (0.9, 0.99), "ship"), (0.8, None, "ship"),
     (1.0, None, "ship"), (1.5, None, "ship")],
)  # fmt: skip
def test_a_smaller_model_ships_on_size_whatever_its_speed(speedup, ci, label):
    rec = make_record("fp16", drop=0.0, p50=0.06 / speedup, size=700_000)
    rec = {**rec, "speedup": speedup, **({"speedup_ci": list(ci)} if ci else {})}
    assert verdict(rec, Thresholds(objective="size", min_speedup=1.05)).label == label


def test_a_smaller_model_without_a_speed_says_so():
    rec = {**make_record("fp16", drop=0.0, size=700_000), "speedup": None}
    v = verdict(rec, Thresholds(objective="size"))
    assert v.label == "ship" and "2.00x smaller (speed unmeasured)" in v.reason


def test_under_objective_size_the_metric_verdict_keeps_its_sweep_and_outcomes():
    size = Thresholds(objective="size")
    ptq = make_record("int8", "ptq", drop=0.02, size=350_000, speedup_ci=(0.97, 1.03))
    v = verdict(ptq, size, sweep=[make_record("int8", "qat", drop=0.004)])
    assert v.label == "try QAT" and "QAT run drops 0.40 relative %" in v.reason
    base, cand = flips(500, base_right=450, n10=6, n01=2)
    rec = make_record(drop=(base.mean() - cand.mean()) / 0.9, ci_drop=(0.002, 0.016),
                      size=350_000, speedup_ci=(0.97, 1.03))  # fmt: skip
    assert "about" in verdict(rec, size, outcomes=(base, cand)).reason


def test_a_lower_is_better_metric_counts_samples_in_its_own_direction():
    rng = np.random.default_rng(4)
    base = rng.gamma(2.0, 0.5, size=800)  # per-sample absolute errors, MAE about 1.0
    cand = base + rng.normal(0.012, 0.3, size=800)
    b_mae, c_mae = float(base.mean()), float(cand.mean())
    drop = c_mae / b_mae - 1
    kw = {"name": "mae", "higher_is_better": False, "baseline": b_mae}
    rec = make_record(drop=drop, ci_drop=(drop - 0.01, drop + 0.01), **kw)
    rec["metric"]["value"] = c_mae
    need = samples_to_settle(base, cand, 0.01 * b_mae)  # a 1 % rise of the error
    v = verdict(rec, outcomes=(base, cand))
    assert f"about {need - 800} more validation samples (~{need} in all)" in v.reason


# --- the recommendation's intervals, order of keys and tie rule, on summary-table rows ---


def _ships(*rows: dict) -> pd.DataFrame:
    """Ship rows as the summary table has them; each row gives method, precision, metric and
    its absolute interval, p50 and speedup interval, size; on every front unless it says."""
    base = {
        "verdict": "ship", "status": "ok", "higher_is_better": True, "baseline_metric": 0.9,
        "ci_lo_abs": -0.005, "ci_hi_abs": 0.005, "metric": 0.9, "p50_ms": 0.03, "speedup": 2.0,
        "speedup_ci_lo": 1.8, "speedup_ci_hi": 2.2, "size_mb": 0.4, "peak_mem_mb": 90.0,
    }  # fmt: skip
    front = {f"pareto_{cost}": True for cost in ("p50_ms", "size_mb", "peak_mem_mb")}
    return pd.DataFrame(
        [
            {**base, **front, "run_key": f"k{i}", "reason": f"r{i}", **row}
            for i, row in enumerate(rows)
        ]
    )


def _pick(table: pd.DataFrame, objective: str = "latency") -> str:
    best, _ = recommend(table, objective)
    return f"{table.precision[best]}/{table.method[best]}"


def _metric(value: float, lo: float | None = None, hi: float | None = None) -> dict:
    """A metric point and its interval as absolute deltas from the 0.9 baseline (+-0.005)."""
    lo = value - 0.9 - 0.005 if lo is None else lo
    hi = value - 0.9 + 0.005 if hi is None else hi
    return {"metric": value, "ci_lo_abs": lo, "ci_hi_abs": hi}


INT8_QAT = {"precision": "int8", "method": "qat"}
INT8_PTQ = {"precision": "int8", "method": "ptq"}
FP16_PTQ = {"precision": "fp16", "method": "ptq"}


def test_cost_comes_first_a_clearly_faster_row_beats_a_clearly_better_metric():
    fast = {**INT8_QAT, "speedup_ci_lo": 3.0, "speedup_ci_hi": 3.5, **_metric(0.85)}
    better = {**FP16_PTQ, "speedup_ci_lo": 1.5, "speedup_ci_hi": 1.8, **_metric(0.95)}
    assert _pick(_ships(fast, better)) == "int8/qat"  # not a tie left to the tie rule


def test_a_row_clearly_slower_than_another_ship_row_never_enters_the_tie():
    # B's speed interval lies wholly above A's and C's: A and C are out however good their
    # metric; D's overlaps B's and D is clearly better on the metric, so D alone remains
    a = {**FP16_PTQ, "speedup_ci_lo": 2.40, "speedup_ci_hi": 2.62, "p50_ms": 0.024,
         **_metric(0.88, -0.031, -0.009)}  # fmt: skip
    b = {"precision": "int4", "method": "ptq", "speedup_ci_lo": 2.72, "speedup_ci_hi": 2.87,
         "p50_ms": 0.0215, **_metric(0.83, -0.074, -0.068), "pareto_p50_ms": False}  # fmt: skip
    c = {"precision": "int4", "method": "ptq", "speedup_ci_lo": 1.43, "speedup_ci_hi": 1.55,
         "p50_ms": 0.040, **_metric(0.906, -0.031, 0.044)}  # fmt: skip
    d = {**INT8_PTQ, "speedup_ci_lo": 2.30, "speedup_ci_hi": 3.66, "p50_ms": 0.0207,
         **_metric(0.874, -0.050, -0.0025)}  # fmt: skip
    best, why = recommend(_ships(a, b, c, d))
    assert best == 3 and "not separated" not in why


def test_intervals_that_only_touch_do_not_separate_two_rows():
    # speed: 1/hi .. 1/lo = [0.25, 0.5] and [0.5, 1.0]: they meet at 0.5
    qat = {**INT8_QAT, "speedup_ci_lo": 2.0, "speedup_ci_hi": 4.0}
    ptq = {**INT8_PTQ, "speedup_ci_lo": 1.0, "speedup_ci_hi": 2.0}
    assert _pick(_ships(qat, ptq)) == "int8/ptq"  # a tie: PTQ before QAT
    # metric: [0.5, 0.75] and [0.25, 0.5], same speed
    qat = {**INT8_QAT, "baseline_metric": 0.5, "ci_lo_abs": 0.0, "ci_hi_abs": 0.25}
    ptq = {**INT8_PTQ, "baseline_metric": 0.5, "ci_lo_abs": -0.25, "ci_hi_abs": 0.0}
    assert _pick(_ships(qat, ptq)) == "int8/ptq"


def test_a_clearly_better_metric_wins_among_rows_of_one_cost_in_its_direction():
    good = {**INT8_QAT, "metric": 0.95, "ci_lo_abs": 0.045, "ci_hi_abs": 0.055}
    poor = {**INT8_PTQ, "metric": 0.85, "ci_lo_abs": -0.055, "ci_hi_abs": -0.045}
    assert _pick(_ships(good, poor), "size") == "int8/qat"
    ppl = {"higher_is_better": False, "baseline_metric": 22.0}
    low = {**INT8_QAT, **ppl, "metric": 20.0, "ci_lo_abs": -2.1, "ci_hi_abs": -1.9}
    high = {**INT8_PTQ, **ppl, "metric": 25.0, "ci_lo_abs": 2.9, "ci_hi_abs": 3.1}
    assert _pick(_ships(low, high), "size") == "int8/qat"  # lower perplexity is better
    assert _pick(_ships(high, low), "size") == "int8/qat"


def test_overlapping_metric_intervals_tie_even_when_the_points_differ():
    a = {**INT8_PTQ, "metric": 0.905, "ci_lo_abs": -0.02, "ci_hi_abs": 0.03}
    b = {**FP16_PTQ, "metric": 0.895, "ci_lo_abs": -0.03, "ci_hi_abs": 0.02}
    no_ci = {**INT8_QAT, "metric": 0.6, "ci_lo_abs": np.nan, "ci_hi_abs": np.nan}  # its point
    assert _pick(_ships(a, b, no_ci), "size") == "fp16/ptq"  # a tie: the higher precision
    # asymmetric intervals (Tango's are): the low end of the better point reaches the other
    a = {**INT8_PTQ, **_metric(0.95, -0.02, 0.06)}
    b = {**FP16_PTQ, **_metric(0.87, -0.04, -0.01)}
    assert _pick(_ships(a, b), "size") == "fp16/ptq"


def test_sizes_within_the_band_tie_and_sizes_beyond_it_do_not():
    assert _pick(_ships({**INT8_QAT, "size_mb": 0.400}, {**INT8_PTQ, "size_mb": 0.402}),
                 "size") == "int8/ptq"  # fmt: skip
    assert _pick(_ships({**INT8_QAT, "size_mb": 0.40}, {**INT8_PTQ, "size_mb": 0.45}),
                 "size") == "int8/qat"  # fmt: skip


def test_speed_intervals_decide_even_when_they_reach_below_1():
    # a ship row judged with min_speedup below 1 may have lo <= 1: its interval still counts
    qat = {**INT8_QAT, "p50_ms": 0.02, "speedup_ci_lo": 0.95, "speedup_ci_hi": 1.3}
    ptq = {**INT8_PTQ, "p50_ms": 0.03, "speedup_ci_lo": 0.98, "speedup_ci_hi": 1.35}
    assert _pick(_ships(qat, ptq)) == "int8/ptq"


def test_a_cycle_of_wide_intervals_is_broken_speed_first():
    # A beats B on metric (same speed band), B beats C on speed, C beats A on metric: C is
    # out (B is clearly faster), then A beats B on the metric within one speed band
    a = {**INT8_QAT, "speedup_ci_lo": 1 / 3.5, "speedup_ci_hi": 1 / 1.5, "metric": 0.81,
         "ci_lo_abs": -0.1, "ci_hi_abs": -0.08}  # fmt: skip
    b = {**INT8_PTQ, "speedup_ci_lo": 0.5, "speedup_ci_hi": 1.0, "metric": 0.71,
         "ci_lo_abs": -0.2, "ci_hi_abs": -0.18}  # fmt: skip
    c = {**FP16_PTQ, "speedup_ci_lo": 0.25, "speedup_ci_hi": 1 / 3, "metric": 0.91,
         "ci_lo_abs": 0.0, "ci_hi_abs": 0.02}  # fmt: skip
    table = _ships(a, b, c)
    best, why = recommend(table)
    assert _pick(table) == "int8/qat" and "not separated" not in why


def test_the_tie_rule_then_takes_cost_then_metric_then_run_key():
    table = _ships({**INT8_PTQ, "speedup": 1.9, "p50_ms": 0.029},
                   {**INT8_PTQ, "speedup": 2.1, "p50_ms": 0.031})  # fmt: skip
    assert recommend(table)[0] == 1  # speed intervals tie: the higher paired speedup
    lower = {**INT8_PTQ, "metric": 0.899, "run_key": "a"}
    higher = {**INT8_PTQ, "metric": 0.901, "run_key": "b"}
    table = _ships(lower, higher)
    assert recommend(table)[0] == 1  # same cost: the better metric point
    ppl = {"higher_is_better": False, "baseline_metric": 20.0, "ci_lo_abs": -0.5,
           "ci_hi_abs": 0.5}  # fmt: skip
    table = _ships({**INT8_PTQ, **ppl, "metric": 20.1}, {**INT8_PTQ, **ppl, "metric": 19.9})
    assert recommend(table)[0] == 1  # lower perplexity
    table = _ships({**INT8_PTQ, "run_key": "b"}, {**INT8_PTQ, "run_key": "a"})
    assert recommend(table)[0] == 1  # all else equal: the run key, not the row order


def test_the_reason_counts_the_rows_a_winner_ties_with():
    best, why = recommend(_ships({**INT8_QAT}, {**INT8_PTQ}))
    assert why.startswith("the latency-best Pareto-optimal ship candidate (1 other(s) not")
    best, why = recommend(_ships({**INT8_PTQ}))
    assert why == (
        "the latency-best Pareto-optimal ship candidate, 2.00x FP32's speed in its own job "
        "([1.80, 2.20]). r0"
    )
    assert recommend(_table()) == recommend(_table(), "latency")  # latency is the default


def test_the_front_keeps_the_tables_index_and_refuses_equal_or_worse_rows():
    df = pd.DataFrame({"m": [0.9, 0.8, 0.9], "c": [1.0, 1.0, 2.0]}, index=[10, 20, 30])
    front = pareto_front(df, "m", "c", higher_is_better=True)
    assert front.index.tolist() == [10, 20, 30]  # assigned back into the table by index
    # same cost, worse metric (20); same metric, dearer (30): both off the front
    assert front.tolist() == [True, False, False]


def test_a_value_that_is_not_a_number_counts_as_missing():
    df = pd.DataFrame({"m": [0.9, "n/a", 0.8], "c": [1.0, 0.5, 2.0]})
    assert pareto_front(df, "m", "c", True).tolist() == [True, False, False]


def test_unsettled_speed_counts_runs_at_the_thresholds_confidence():
    rec = make_record("int8", drop=0.002, p50=0.06 / 1.06, speedup_ci=(1.02, 1.10), session_runs=5)
    need = blocks_to_settle((1.02, 1.10), 5, 1.05, confidence=0.9)
    assert need != blocks_to_settle((1.02, 1.10), 5, 1.05)
    v = verdict(rec, Thresholds(confidence=0.9))
    assert f"about {need - 5} more fresh-session timing runs (~{need} in all" in v.reason


def test_a_qat_run_of_a_lower_is_better_metric_is_compared_in_its_direction():
    kw = {"name": "perplexity", "higher_is_better": False, "baseline": 20.0,
          "task": "language_modeling"}  # fmt: skip
    ptq = make_record("int8", "ptq", drop=0.02, **kw)
    qat = make_record("int8", "qat", drop=0.004, **kw)  # perplexity 20.08: 0.40 % worse
    v = verdict(ptq, sweep=[qat])
    assert v.label == "try QAT"
    assert "QAT run drops 0.40 relative %, better than this, which ships" in v.reason


def test_a_count_never_falls_below_the_samples_already_scored():
    """One loss in 405 images: the normal formula asks ~351 samples in all, fewer than were
    scored, while Tango's interval still straddles the 1 % bar. The count is then Tango's own,
    at the observed rate of disagreement, checked here by recomputing the interval."""
    base, cand = flips(405, base_right=401, n10=1, n01=0)
    thr = -0.01 * base.mean()
    assert samples_to_settle(base, cand, thr) < 405  # the normal approximation's count
    lo, hi = tango_delta_ci(1, 0, 405)
    assert lo < thr < hi  # still straddles: inconclusive
    rec = make_record(drop=(base.mean() - cand.mean()) / base.mean(), baseline=base.mean(),
                      ci_drop=(-hi / base.mean(), -lo / base.mean()))  # fmt: skip
    v = verdict(rec, outcomes=(base, cand))
    need = int(v.reason.split("(~")[1].split(" in all")[0])
    assert need > 405 and "observed rate of disagreement" in v.reason

    def straddles(m: int) -> bool:
        a, b = tango_delta_ci(m / 405, 0, m)  # the observed rate kept: m / 405 losses
        return a < thr < b

    assert not straddles(need) and straddles(need - 1)


def test_speed_call_says_each_case_in_full():
    from runner.report.verdict import speed_call

    th = Thresholds()  # 95 %, a 1.05x bar
    assert speed_call({}, th) == ("unknown", "no speed measured")
    assert speed_call({"speedup": 1.3}, th) == (
        "gain", "1.30x the baseline's speed (no timing interval), bar 1.05x")  # fmt: skip
    assert speed_call({"speedup": 1.0, "speedup_ci": [None, 1.1]}, th)[0] == "none"
    # the point quoted is the interval's geometric centre, not the recorded point
    got = speed_call({"speedup": 9.0, "speedup_ci": [1.2, 1.5]}, th)
    want = f"{(1.2 * 1.5) ** 0.5:.2f}x the baseline's speed (95% CI [1.20, 1.50]x), above 1.05x"
    assert got == ("gain", want) and want.startswith("1.34x")
    assert speed_call({"speedup": 1.0, "speedup_ci": [0.9, 1.04]}, th) == (
        "none", "0.97x the baseline's speed (95% CI [0.90, 1.04]x), below the 1.05x that "
        "counts as faster")  # fmt: skip
    # two runs straddling the bar: 3 in all would settle it (n_to_settle_t at 1 df), 1 more
    rec = {"speedup": 1.4, "speedup_ci": [1.03, 2.0], "latency": {"session_runs": 2}}
    assert speed_call(rec, th) == (
        "unsettled", "speed is inconclusive: 1.44x the baseline's speed (95% CI [1.03, 2.00]x) "
        "straddles the 1.05x bar; about 1 more fresh-session timing runs (~3 in all, at 80 % "
        "power) would settle it")  # fmt: skip
    del rec["latency"]
    assert speed_call(rec, th)[1].endswith("bar; more fresh-session timing runs would settle it")


def test_a_lean_objective_without_its_figure_is_inconclusive_and_says_how_to_get_it():
    # no compression (size) or no peak memory (memory): inconclusive, never a crash; only
    # the memory figure comes from a flag the user can set
    rec = make_record("int8", drop=0.0, speedup_ci=(0.97, 1.03))
    rec.pop("compression", None)
    v = verdict(rec, Thresholds(objective="size"))
    assert (v.label, v.reason) == (
        "inconclusive", "The record has no size figure to judge objective=size on.")  # fmt: skip
    v = verdict({**rec, "compression": 0.0}, Thresholds(objective="size"))
    assert v.label == "inconclusive"
    v = verdict({**rec, "baseline_peak_rss_bytes": None}, Thresholds(objective="memory"))
    assert (v.label, v.reason) == (
        "inconclusive", "The record has no memory figure to judge objective=memory on (run "
        "with latency.memory_probe=true).")  # fmt: skip


def test_tangos_count_uses_both_directions_of_disagreement_and_the_confidence():
    # one sample lost and one gained: the normal formula asks no more than the samples
    # scored (442 of 442 at 95 %, 390 of 394 at 90 %) while Tango's interval still straddles
    # the 1 % bar, so Tango's count at the observed rates n10 / n and n01 / n, and at the
    # thresholds' confidence, is the one said (n01 dropped: 670 at 90 %; 95 % there: 608)
    for n, right, conf in ((442, 397, 0.95), (394, 354, 0.9)):
        base, cand = flips(n, base_right=right, n10=1, n01=1)
        thr = -0.01 * base.mean()
        assert samples_to_settle(base, cand, thr, conf) <= n
        lo, hi = tango_delta_ci(1, 1, n, conf)
        assert lo < thr < hi
        need = discordant_samples_to_settle(1, 1, n, thr, conf)
        assert need > n and need != discordant_samples_to_settle(1, 0, n, thr, conf)
        rec = make_record(drop=0.0, baseline=base.mean(), ci_drop=(-0.02, 0.02))
        v = verdict(rec, Thresholds(confidence=conf), outcomes=(base, cand))
        assert (
            f"about {need - n} more validation samples (~{need} in all) would settle it if "
            "the candidate keeps its observed rate of disagreement"
        ) in v.reason
    assert need != discordant_samples_to_settle(1, 1, 394, thr)  # the confidence matters


def test_a_delta_exactly_on_the_threshold_gets_no_count():
    # mean(cand - base) = -5 / 1000 = -0.01 x 0.5 exactly: no sample count moves the interval
    # off the 1 % bar (the power formula and Tango both say None), so no count is invented
    base, cand = flips(1000, base_right=500, n10=6, n01=1)
    assert (cand - base).mean() == -0.01 * 0.5
    assert samples_to_settle(base, cand, -0.01 * 0.5) is None
    rec = make_record(drop=0.01, baseline=0.5, ci_drop=(0.002, 0.025))
    v = verdict(rec, outcomes=(base, cand))
    assert v.label == "inconclusive"
    assert v.reason.endswith("threshold: more validation samples would settle it.")


def test_a_count_the_power_formula_already_reached_asks_for_exactly_one_more():
    # perplexity: continuous NLL outcomes, a ~5 % rise; the record's interval straddles the
    # 3 % bar but the normal formula needs fewer tokens than were scored: "about 1 more"
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, 1.5, size=4000)
    cand = base + rng.normal(0.05, 0.3, size=4000)
    ppl_b, ppl_c = float(np.exp(base.mean())), float(np.exp(cand.mean()))
    drop = ppl_c / ppl_b - 1
    kw = {"name": "perplexity", "higher_is_better": False, "task": "language_modeling"}
    rec = make_record(drop=drop, ci_drop=(0.025, 0.07), baseline=ppl_b, **kw)
    rec["metric"]["value"] = ppl_c
    need = samples_to_settle(base, cand, np.log1p(0.03))
    assert need < 4000
    v = verdict(rec, outcomes=(base, cand))
    assert v.label == "inconclusive"
    assert f"about 1 more scored tokens (~{need} in all) would settle it at 80 % power" in v.reason


def test_the_reasons_that_say_what_to_do_next_in_full():
    """Each reason that tells the user what is missing, or what to run next, word for word."""
    rec = make_record(drop=0.005)
    rec["metric"] = {**rec["metric"], "drop_ci95": None}  # the baseline's mean not clear of 0
    v = verdict(rec)
    assert v.label == "inconclusive" and v.reason.endswith(
        "but the baseline's mean is not clear of 0 at this sample count, so the relative drop "
        "has no bounded interval: more validation samples would settle it.")  # fmt: skip
    ptq, qat = make_record("int8", "ptq", drop=0.02), make_record("int8", "qat", drop=0.02)
    assert verdict(ptq, sweep=[ptq]).reason.endswith(
        "thresholds: the sweep ran no QAT for this combination: add method=qat.")  # fmt: skip
    assert verdict(qat).reason.endswith(
        "thresholds: this already is QAT: more epochs or a gentler precision may close the "
        "gap.")  # fmt: skip
    qat["metric"] = {**qat["metric"], "baseline": 0.0}
    assert verdict(ptq, sweep=[qat]).reason.endswith(
        "thresholds: the sweep's QAT run has no usable baseline to compare.")  # fmt: skip
    rec = make_record()
    rec["metric"] = {**rec["metric"], "value": None}
    assert verdict(rec).reason == "The record has no metric value to judge."
    int4 = {k: v for k, v in make_record("int4", drop=0.001).items() if k != "task"}
    assert verdict(int4).reason.endswith("; INT4 on a this task is risky: prefer INT8 + pruning.")
    smaller = make_record("int8", drop=0.0, size=90_000)  # no speed interval: the point alone
    v = verdict(smaller, Thresholds(objective="size"))
    speed = smaller["speedup"]
    assert v.reason.startswith(
        f"{smaller['compression']:.2f}x smaller (speed {speed:.2f}x, which decides nothing "
        "here); ")  # fmt: skip
    agree = (np.r_[np.ones(120), np.zeros(15)],) * 2  # no disagreement, some wrong
    rec = make_record(drop=0.0, baseline=120 / 135, ci_drop=(-0.0277, 0.0277))
    need = agreeing_samples_to_settle(135, -0.01 * 120 / 135)
    assert verdict(rec, outcomes=agree).reason.endswith(
        f"about {need - 135} more validation samples (~{need} in all) would settle it if the "
        "candidate keeps agreeing with the baseline on every one.")  # fmt: skip
