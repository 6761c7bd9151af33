"""The recommendation rests on paired speed intervals, never on p50s timed in different jobs:
the flip of issue 22 (two identical sweeps, two recommendations), replayed on records, and the
promise "no ship candidate is clearly faster than the recommended one" over random tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.report.recommend import pareto_front, recommend
from runner.report.summary import build_table
from runner.report.verdict import Thresholds
from tests.records import baseline_record, make_record


def _table(records: list[dict], objective: str = "latency") -> pd.DataFrame:
    paths = [(Path(f"{i}/result.json"), r) for i, r in enumerate(records)]
    return build_table(paths, Thresholds(objective=objective), objective)


def _timed(rec: dict, p50: float, base_p50: float) -> dict:
    """The record as if its job ran at another moment: own p50s change, the paired ratio not."""
    lat = {**rec["latency"], "p50_ms": p50}
    return {**rec, "latency": lat, "baseline_latency": {**lat, "p50_ms": base_p50}}


def _flip_sweep(p50s: tuple[float, float, float]) -> list[dict]:
    """Issue 22's first sweep: PTQ [2.17, 2.33] clearly faster than QAT 2.11x [2.08, 2.15], but
    PTQ's job ran in a noisier moment, so its own p50 is the worse one (with p50s (0.06, 0.028,
    0.031)); QAT is a little better on the metric, so on p50s PTQ is off the front."""
    base, qat_p50, ptq_p50 = p50s
    recs = [
        baseline_record(speedup_ci=(0.98, 1.02)),
        make_record("int8", "qat", drop=0.001, speedup=2.11, speedup_ci=(2.08, 2.15)),
        make_record("int8", "ptq", drop=0.002, speedup=2.25, speedup_ci=(2.17, 2.33)),
    ]
    return [
        _timed(recs[0], base, base),
        _timed(recs[1], qat_p50, qat_p50 * 2.11),
        _timed(recs[2], ptq_p50, ptq_p50 * 2.25),
    ]


def _pick(table: pd.DataFrame, objective: str = "latency") -> str:
    best, _ = recommend(table, objective)
    return f"{table.precision[best]}/{table.method[best]}"


def test_the_clearly_faster_ptq_is_recommended_although_its_job_timed_slower():
    table = _table(_flip_sweep((0.06, 0.028, 0.031)))
    assert list(table.verdict) == ["baseline", "ship", "ship"]
    assert table.p50_ms_job[2] > table.p50_ms_job[1]  # PTQ's own p50 is the worse one
    assert _pick(table) == "int8/ptq"
    why = recommend(table, "latency")[1]
    assert "2.25x FP32's speed in its own job ([2.17, 2.33]), clearly faster than 1 other" in why


@pytest.mark.parametrize("p50s", [(0.06, 0.031, 0.028), (0.031, 0.06, 0.028), (0.028, 0.06, 0.03)])
def test_the_same_records_timed_at_other_moments_recommend_the_same_row(p50s):
    assert _pick(_table(_flip_sweep(p50s))) == "int8/ptq"


def test_the_table_shows_the_paired_speed_and_p50s_scaled_from_one_reference():
    table = _table(_flip_sweep((0.06, 0.028, 0.031)))
    assert table.speedup[2] == pytest.approx(math.sqrt(2.17 * 2.33))  # the interval's centre
    assert table.speedup[1] == pytest.approx(math.sqrt(2.08 * 2.15))
    ref = float(np.median([0.06, 0.028 * 2.11, 0.031 * 2.25]))  # the jobs' FP32 p50s
    assert table.p50_ms[0] == pytest.approx(ref)
    assert table.p50_ms[2] == pytest.approx(ref / math.sqrt(2.17 * 2.33))
    assert table.p50_ms[2] < table.p50_ms[1] < table.p50_ms[0]  # as the paired ratios say


def _generation(tps: float, ttft: float = 200.0, **ratios) -> dict:
    return {"prompt_tokens": 128, "new_tokens": 64, "ttft_ms": ttft,
            "decode_tokens_per_s": tps, **ratios}  # fmt: skip


def test_an_lm_twice_as_fast_in_decode_never_shows_fewer_tokens_per_s_than_fp32():
    # SmolLM2-like: INT8 decodes 2.05x FP32's speed in its own job, but that job ran while the
    # machine was busy, so its own tok/s (24.0) is below what FP32's job measured (25.6)
    lm = {"task": "language_modeling", "name": "perplexity", "higher_is_better": False}
    fp32 = baseline_record(**lm, baseline_generation=_generation(25.6),
                           generation=_generation(25.4))  # fmt: skip
    ratios = {"speedup_decode": 2.05, "speedup_decode_ci": [1.95, 2.15],
              "speedup_prefill": 1.5, "speedup_prefill_ci": [1.4, 1.6]}  # fmt: skip
    int8 = make_record("int8", drop=0.004, **lm, speedup=2.05, speedup_ci=(1.95, 2.15),
                       baseline_generation=_generation(11.7, ttft=400.0),
                       generation=_generation(24.0, ttft=300.0, **ratios))  # fmt: skip
    table = _table([fp32, int8]).set_index("precision")
    assert table.decode_tps_job["int8"] < table.decode_tps_job["fp32"]  # the raw figures
    ref = float(np.median([25.6, 11.7]))
    assert table.decode_tps["fp32"] == pytest.approx(ref)
    assert table.decode_tps["int8"] == pytest.approx(ref * math.sqrt(1.95 * 2.15))
    assert table.decode_tps["int8"] > 2 * table.decode_tps["fp32"]
    assert table.ttft_ms["int8"] == pytest.approx(300.0 / math.sqrt(1.4 * 1.6))  # median(200, 400)


def _random_ships(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """n ship rows with random speed intervals, metric intervals, sizes, methods and p50s."""
    centre = np.exp(rng.normal(0.7, 0.3, n))
    half = np.exp(rng.uniform(0.01, 0.3, n))
    metric = 0.9 + rng.normal(0, 0.004, n)
    width = rng.uniform(0.001, 0.01, n)
    return pd.DataFrame({
        "verdict": "ship", "status": "ok", "higher_is_better": bool(rng.integers(2)),
        "precision": rng.choice(["int8", "int4", "fp16"], n),
        "method": rng.choice(["ptq", "qat"], n),
        "metric": metric, "baseline_metric": 0.9, "ci_lo_abs": metric - 0.9 - width,
        "ci_hi_abs": metric - 0.9 + width, "speedup": centre,
        "speedup_ci_lo": centre / half, "speedup_ci_hi": centre * half,
        "p50_ms": rng.uniform(0.01, 0.1, n), "size_mb": rng.uniform(0.2, 1.0, n),
        "peak_mem_mb": rng.uniform(50, 100, n), "run_key": [f"k{i}" for i in range(n)],
        "reason": "r", "pareto_p50_ms": rng.integers(2, size=n).astype(bool),
        "pareto_size_mb": True, "pareto_peak_mem_mb": True,
    })  # fmt: skip


def test_no_ship_candidate_is_clearly_faster_than_the_recommended_one_on_random_tables():
    rng = np.random.default_rng(22)
    for trial in range(400):
        t = _random_ships(rng, int(rng.integers(1, 9)))
        best, _ = recommend(t, "latency")
        faster = t.speedup_ci_lo > t.speedup_ci_hi[best]
        assert not faster.any(), (trial, t.loc[faster, ["speedup_ci_lo"]], t.speedup_ci_hi[best])
        # neither the p50s (other jobs' timing), nor the front flags, nor the order move it
        again = t.assign(p50_ms=rng.permutation(t.p50_ms.to_numpy()),
                         pareto_p50_ms=rng.permutation(t.pareto_p50_ms.to_numpy()))  # fmt: skip
        again = again.sample(frac=1.0, random_state=trial).reset_index(drop=True)
        assert again.run_key[recommend(again, "latency")[0]] == t.run_key[best], trial


def test_no_ship_candidate_is_clearly_smaller_than_the_recommended_one_on_random_tables():
    rng = np.random.default_rng(23)
    for _ in range(200):
        t = _random_ships(rng, int(rng.integers(1, 9)))
        best, _ = recommend(t, "size")
        assert not (t.size_mb * 1.01 < t.size_mb[best] * 0.99).any()


def _tied(rows: list[dict], higher: bool = True) -> pd.DataFrame:
    """Ship rows no interval separates: one speed interval, overlapping metric intervals."""
    base = {"verdict": "ship", "status": "ok", "higher_is_better": higher, "metric": 0.9,
            "baseline_metric": 0.9, "ci_lo_abs": -0.01, "ci_hi_abs": 0.01, "speedup": 2.0,
            "speedup_ci_lo": 1.5, "speedup_ci_hi": 2.5, "size_mb": 0.5, "reason": "r",
            "pareto_p50_ms": True, "pareto_size_mb": True}  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.mark.parametrize(
    ("rows", "want"),
    [  # PTQ before QAT, even at a lower precision
        ([{"method": "qat", "precision": "fp16"}, {"method": "ptq", "precision": "int4"}], 1),
        # then the higher precision; an unknown one ranks below int4
        ([{"precision": "int8"}, {"precision": "fp16"}, {"precision": "int4"}], 1),
        ([{"precision": "fp8", "speedup": 2.4}, {"precision": "int4"}], 1),
        # then the cost: the higher paired speedup inside the shared interval
        ([{"speedup": 1.9}, {"speedup": 2.1}, {"speedup": 2.0}], 1),
        # then the metric, then the run key, whatever the rows' order
        ([{"metric": 0.899}, {"metric": 0.901}], 1),
        ([{"run_key": "b"}, {"run_key": "a"}, {"run_key": "c"}], 1),
    ],
)
def test_the_tie_rule_orders_method_precision_cost_metric_key(rows, want):
    rows = [{"method": "ptq", "precision": "int8", "run_key": f"k{i}", **r}
            for i, r in enumerate(rows)]  # fmt: skip
    best, why = recommend(_tied(rows), "latency")
    assert best == want
    assert f"({len(rows) - 1} other(s) not separated from it" in why


def test_the_tie_rule_s_metric_side_and_missing_columns():
    # lower is better: the smaller metric wins; without method, precision or run key columns
    # every row is a PTQ of one precision and the cost, then the metric, decide
    rows = [{"metric": 0.901}, {"metric": 0.899}]
    assert recommend(_tied(rows, higher=False), "latency")[0] == 1
    assert recommend(_tied(rows, higher=True), "latency")[0] == 0
    t = _tied([{"speedup": 2.0}, {"speedup": 2.2}]).assign(method="qat")
    t.loc[0, "method"] = "ptq"
    assert recommend(t, "latency")[0] == 0  # method present: PTQ first, though slower
    assert recommend(t.drop(columns="method"), "latency")[0] == 1  # absent: all PTQ
    # size: a 0.8 % smaller model is inside the 1 % band, a tie the smaller size breaks
    s = _tied([{"size_mb": 0.504}, {"size_mb": 0.500}])
    assert recommend(s, "size")[0] == 1


def test_speed_fields_take_each_ratio_s_geometric_centre_and_the_raw_figures():
    from runner.report.paired import speed_fields

    gen = _generation(24.0, ttft=300.0, speedup_decode=9.0, speedup_decode_ci=[1.6, 2.5],
                      speedup_prefill=1.5, speedup_prefill_ci=[1.0, 4.0])  # fmt: skip
    rec = {"speedup": 3.0, "speedup_ci": [2.0, 8.0], "latency": {"p50_ms": 0.02},
           "baseline_latency": {"p50_ms": 0.05}, "generation": gen,
           "baseline_generation": _generation(11.0, ttft=450.0)}  # fmt: skip
    f = speed_fields(rec, baseline_row=False)
    assert f == pytest.approx({"speedup": 4.0, "speedup_prefill": 2.0, "speedup_decode": 2.0,
                               "p50_ms_job": 0.02, "base_p50_ms": 0.05, "ttft_ms_job": 300.0,
                               "base_ttft_ms": 450.0, "decode_tps_job": 24.0,
                               "base_decode_tps": 11.0})  # fmt: skip
    # FP32 against itself: every ratio 1 and its own figures are its baseline block's
    f = speed_fields(rec, baseline_row=True)
    assert [f[k] for k in ("speedup", "speedup_prefill", "speedup_decode")] == [1.0] * 3
    assert (f["ttft_ms_job"], f["decode_tps_job"], f["p50_ms_job"]) == (450.0, 11.0, 0.02)
    no_base = {k: v for k, v in rec.items() if k != "baseline_generation"}
    f = speed_fields(no_base, baseline_row=True)  # no baseline block: its own generation
    assert (f["ttft_ms_job"], f["decode_tps_job"]) == (300.0, 24.0)
    assert math.isnan(f["base_ttft_ms"]) and math.isnan(f["base_decode_tps"])
    points = {"speedup": 2.5, "generation": {"speedup_prefill": 1.5, "speedup_decode": 3.0}}
    f = speed_fields(points, baseline_row=False)  # no intervals: the recorded points
    assert (f["speedup"], f["speedup_prefill"], f["speedup_decode"]) == (2.5, 1.5, 3.0)
    f = speed_fields({}, baseline_row=False)  # nothing timed: NaN, not an error
    assert all(math.isnan(v) for v in f.values()) and len(f) == 9


@pytest.mark.parametrize(
    "ci", [None, [2.0], [2.0, 8.0, 9.0], [0.0, 8.0], [8.0, 2.0], [2.0, math.inf], [None, 8.0]]
)
def test_a_ratio_without_a_usable_interval_keeps_its_point(ci):
    from runner.report.paired import centre

    assert centre(3.0, ci) == 3.0
    assert centre(3.0, (2.0, 2.0)) == 2.0 and centre(3.0, (2.0, 8.0)) == 4.0
    assert math.isnan(centre(None, ci))


def test_the_shown_speed_columns_scale_each_group_s_median_baseline_by_the_ratio():
    from runner.report.paired import scale_to_reference

    df = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b"],
        "base_p50_ms": [1.0, 2.0, 6.0, 10.0, np.nan], "p50_ms_job": [0.9, 0.5, 0.7, 5.0, 4.0],
        "speedup": [1.0, 2.0, np.nan, 4.0, 0.0],
        "base_ttft_ms": [100.0, 300.0, 200.0, np.nan, np.nan], "ttft_ms_job": [1.0] * 5,
        "speedup_prefill": [2.0, 4.0, 1.0, 1.0, 1.0],
        "base_decode_tps": [10.0, 30.0, 20.0, 8.0, 8.0], "decode_tps_job": [7.0] * 5,
        "speedup_decode": [2.0, 0.5, "x", 3.0, 0.0],
    })  # fmt: skip
    out = scale_to_reference(df, ("model",))
    # group a's reference p50 is median(1, 2, 6) = 2; b's is 10 (NaN left out)
    assert list(out.p50_ms) == pytest.approx([2.0, 1.0, 0.7, 2.5, 4.0])  # no ratio: own
    assert list(out.ttft_ms[:3]) == pytest.approx([100.0, 50.0, 200.0])
    assert list(out.ttft_ms[3:]) == [1.0, 1.0]  # no baseline figure in the group: own
    assert list(out.decode_tps) == pytest.approx([40.0, 10.0, 7.0, 24.0, 7.0])
    assert "p50_ms" not in df  # the input is left alone


def test_a_row_s_speed_interval_counts_only_when_it_is_one():
    from runner.report.recommend import _speed

    t = pd.DataFrame({"speedup": [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
                      "speedup_ci_lo": [1.5, 0.0, 2.5, np.nan, 1.8, -1.0],
                      "speedup_ci_hi": [2.5, 2.5, 1.5, 2.5, 1.8, np.inf]})  # fmt: skip
    point, lo, hi = _speed(t)
    assert list(lo) == [1.5, 2.0, 2.0, 2.0, 1.8, 2.0]  # valid, 0, reversed, NaN, zero width, inf
    assert list(hi) == [2.5, 2.0, 2.0, 2.0, 1.8, 2.0]
    point, lo, hi = _speed(t.drop(columns="speedup_ci_hi"))  # half an interval: the point
    assert list(lo) == list(hi) == list(point) == [2.0] * 6
    point, lo, hi = _speed(t.drop(columns="speedup"))  # no point: NaN where no interval
    assert np.isnan(point).all() and lo[0] == 1.5 and np.isnan(lo[1])


def test_the_recommendation_says_its_speed_and_how_many_it_clearly_beats():
    rows = [{"speedup": 3.0, "speedup_ci_lo": 3.0, "speedup_ci_hi": 3.0},  # zero width
            {"speedup": 2.0, "speedup_ci_lo": 1.5, "speedup_ci_hi": 3.0},  # ends on its lo
            {"speedup": 1.2, "speedup_ci_lo": 1.1, "speedup_ci_hi": 1.3}]  # fmt: skip
    t = _tied(rows).assign(method="ptq", precision="int8", run_key=["a", "b", "c"])
    best, why = recommend(t, "latency")
    assert best == 0
    said = "3.00x FP32's speed in its own job, clearly faster than 1 other ship candidate(s)."
    assert said in why
    assert recommend(t, "size")[1].endswith("r")  # no speed said under size
    t = t.assign(pareto_p50_ms=False)
    why = recommend(t, "latency")[1]
    assert why.startswith(
        "no ship candidate is on the latency Pareto front; the latency-best ship candidate "
        "(1 other(s) not separated from it by the metric or latency interval"
    )


def test_nothing_ships_says_the_counts_and_what_to_run():
    t = pd.DataFrame({"verdict": ["hold", "hold", "inconclusive"], "status": "ok",
                      "reason": "r", "pareto_p50_ms": True})  # fmt: skip
    assert recommend(t, "latency") == (None, (
        "nothing ships (2 hold, 1 inconclusive) and the group has no ok FP32 PTQ baseline row: "
        "nothing to recommend; run precision=fp32 method=ptq"))  # fmt: skip


def test_the_front_is_a_named_boolean_column():
    t = pd.DataFrame({"metric": [0.9, 0.8], "size_mb": [1.0, 2.0]}, index=[5, 7])
    front = pareto_front(t, "metric", "size_mb", higher_is_better=True)
    assert front.name == "pareto_size_mb" and front.dtype == bool
    assert list(front.index) == [5, 7] and list(front) == [True, False]


@pytest.mark.parametrize("speed", [np.nan, -1.0])
def test_a_row_without_a_usable_speed_loses_to_any_measured_one(speed):
    # the unmeasured row would win the tie rule (fp16 over int8): it must cost +inf instead
    rows = [{"precision": "fp16", "speedup": speed, "speedup_ci_lo": np.nan,
             "speedup_ci_hi": np.nan}, {"precision": "int8"}]  # fmt: skip
    t = _tied(rows).assign(method="ptq", run_key=["a", "b"])
    assert recommend(t, "latency")[0] == 1
    s = _tied([{"precision": "fp16", "size_mb": np.nan}, {"precision": "int8"}])
    assert recommend(s.assign(method="ptq", run_key=["a", "b"]), "size")[0] == 1


def test_no_speed_is_said_under_size_or_for_a_row_without_one():
    one = _tied([{"method": "ptq", "precision": "int8", "run_key": "a"}])
    assert recommend(one, "size") == (0, "the size-best Pareto-optimal ship candidate. r")
    unmeasured = one.assign(speedup=np.nan, speedup_ci_lo=np.nan, speedup_ci_hi=np.nan)
    assert recommend(unmeasured, "latency") == (
        0, "the latency-best Pareto-optimal ship candidate. r")  # fmt: skip


@pytest.mark.parametrize("speed", [-1.0, 0.0, np.inf])
def test_among_rows_without_a_usable_speed_the_tie_rule_s_cost_does_not_decide(speed):
    # no row has a usable speed (NaN, or none > 0 and finite): every cost is +inf, so the
    # run key decides, never a made-up cost of 1 / speed (-1, inf or 0)
    rows = [{"speedup": np.nan, "run_key": "a"}, {"speedup": speed, "run_key": "b"}]
    t = _tied(rows).assign(method="ptq", precision="int8", speedup_ci_lo=np.nan,
                           speedup_ci_hi=np.nan)  # fmt: skip
    assert recommend(t, "latency")[0] == 0
    assert recommend(t.iloc[::-1], "latency")[0] == 0
