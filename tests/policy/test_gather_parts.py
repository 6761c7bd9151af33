"""runner.policy.gather's parts called directly: where a judged record stands (`standing`), the
intervals each look's boundary sees (`judged`), the looks' bookkeeping (`Track`), and the text
that says which look it was and how many more would settle it (`look_line`, `unsettled`); each
figure recomputed here from the record (scipy's t quantiles, the power formula written out)."""

from __future__ import annotations

import copy
import math
from statistics import NormalDist

import pytest
from scipy import stats as sps

from runner.core.sequential import boundaries
from runner.policy import gather
from runner.report.verdict import Thresholds
from tests.policy.test_decide import record

TH = Thresholds()
N = NormalDist()
Z = N.inv_cdf(0.975)
SETTLED, STRADDLES = (1.9, 2.1), (1.0, 1.12)  # speed intervals: clear of 1.05x / across it


def drop_rec(lo, hi, point=None, speed=SETTLED, baseline=1.0, runs=5):
    """An accuracy record whose relative drop's interval is [lo, hi] (metric.drop_ci95) with
    its point at `point` (the middle by default), and the speed interval `speed`."""
    point = (lo + hi) / 2 if point is None else point
    r = record(point)
    r["metric"].update(baseline=baseline, value=baseline * (1 - point), drop_ci95=[lo, hi])
    r["speedup_ci"], r["speedup"] = list(speed), math.sqrt(speed[0] * speed[1])
    r["latency"] = {"p50_ms": 1.0, "session_runs": runs}
    return r


# ---------------------------------------------------------------------------------- standing


@pytest.mark.parametrize(
    "lo,hi,speed,where,needs",
    [
        (0.001, 0.004, SETTLED, "ship", set()),
        (0.015, 0.025, SETTLED, "qat", set()),
        (0.04, 0.06, SETTLED, "stay", set()),
        (0.001, 0.004, (0.8, 0.9), "nogain", set()),
        # the ship bar straddled: more samples, and more runs when speed is across its bar too
        (0.005, 0.015, SETTLED, "inconclusive", {"samples"}),
        (0.005, 0.015, STRADDLES, "inconclusive", {"samples", "runs"}),
        (0.005, 0.035, STRADDLES, "inconclusive", {"samples", "runs"}),
        # only the QAT bar straddled: it is not shipping either way, so timing runs are no use
        (0.025, 0.035, STRADDLES, "inconclusive", {"samples"}),
        # the metric would ship, the speed is across its bar: runs only
        (0.001, 0.004, STRADDLES, "inconclusive", {"runs"}),
        # an interval ending on a bar does not straddle it; the point decides the band
        (0.01, 0.02, STRADDLES, "qat", set()),
        (0.02, 0.03, STRADDLES, "qat", set()),
        (0.0, 0.01, STRADDLES, "inconclusive", {"runs"}),
        (0.03, 0.05, STRADDLES, "stay", set()),
    ],
)
def test_where_a_record_stands_and_what_more_would_settle_it(lo, hi, speed, where, needs):
    got = gather.standing(drop_rec(lo, hi, speed=speed), TH)
    assert (got[0], got[2]) == (where, needs)


def test_a_point_exactly_on_the_qat_bar_is_still_qat():
    th = Thresholds(ship_below=0.25, qat_below=0.5)  # drops exact in binary: 1 - 0.5
    assert gather.standing(drop_rec(0.5, 0.5, speed=STRADDLES), th)[0] == "qat"
    assert gather.standing(drop_rec(0.5, 0.5, point=0.5 + 2**-20, speed=STRADDLES), th)[0] == (
        "stay"
    )


def test_each_verdict_label_maps_to_where_the_walk_stands():
    failed = record(0.0, status="failed", reason="boom")
    skipped = record(0.0, status="skipped", reason="no QAT here")
    unfit = record(0.002)
    unfit["target_budget"] = {"max_size_mb": 0.5}  # 1 MB model
    got = [gather.standing(r, TH)[:1] for r in (failed, skipped, unfit)]
    assert got == [("failed",), ("failed",), ("unfit",)]
    assert gather.standing(failed, TH)[1] == "boom"
    assert "exceeds the target's 0.5 MB budget" in gather.standing(unfit, TH)[1]


@pytest.mark.parametrize("baseline", [0.0, None])
def test_no_relative_drop_no_more_samples_asked(baseline):
    """A straddling interval over a baseline of 0 (or none): a relative drop is undefined, so
    no sample count can settle it."""
    r = drop_rec(0.005, 0.015)
    r["metric"].update(baseline=baseline, value=0.0)
    assert gather.standing(r, TH)[::2] == ("inconclusive", set())


def test_a_record_with_no_metric_value_asks_for_nothing():
    r = drop_rec(0.005, 0.015, speed=STRADDLES)
    r["metric"]["value"] = None
    where, why, needs = gather.standing(r, TH)
    assert (where, needs) == ("inconclusive", set()) and "no metric value" in why


# ------------------------------------------------------------------------------------ judged


def t_ratio(z: float, df: int) -> float:
    """How much wider a t interval with df degrees of freedom gets at +/- z's tails."""
    return sps.t.ppf(N.cdf(z), df) / sps.t.ppf(0.975, df)


def test_judged_widens_a_higher_is_better_delta_on_its_lower_side_only():
    rec = record(0.005, ci=0.004)  # accuracy: the drop's upper end is the delta's lower end
    tr = gather.Track("k", [100], [5000], gather.SAMPLES_SPENDING, rec)
    before = copy.deepcopy(rec)
    out = gather.judged(tr, None, rec)
    m, ci = rec["metric"], rec["metric"]["ci95"]
    point = m["value"] - m["baseline"]
    assert out["metric"]["ci95"][0] == pytest.approx(point - (point - ci[0]) * tr.z / Z)
    assert out["metric"]["ci95"][1] == ci[1]
    assert rec == before  # the look's record itself is left as measured


def test_judged_widens_a_small_t_interval_by_t_quantiles():
    """12 paired samples of an MAE (lower is better): a t interval with 11 degrees of freedom,
    widened on its upper side by the ratio of t quantiles, not of normal ones."""
    rec = record(0.0)
    rec["metric"].update(name="mae", higher_is_better=False, value=1.05, baseline=1.0,
                         ci95=[0.01, 0.09], n_samples=12)  # fmt: skip
    tr = gather.Track("k", [12], [12], gather.SAMPLES_SPENDING, rec)
    lo, hi = gather.judged(tr, None, rec)["metric"]["ci95"]
    assert lo == 0.01
    assert hi == pytest.approx(0.05 + 0.04 * t_ratio(tr.z, 11))
    assert t_ratio(tr.z, 11) > tr.z / Z * 1.02  # the normal ratio would be visibly narrower


@pytest.mark.parametrize("drop", ["ci95", "value", "baseline"])
def test_judged_leaves_a_metric_without_an_interval_as_it_is(drop):
    rec = record(0.005)
    rec["metric"][drop] = None
    tr = gather.Track("k", [100], [5000], gather.SAMPLES_SPENDING, rec)
    assert gather.judged(tr, None, rec)["metric"] == rec["metric"]


def test_judged_takes_speed_from_the_runs_latest_look_and_widens_its_lower_end():
    """The samples' look and the runs' look are different records: the metric comes from the
    one, the speedup, its interval and the latency from the other."""
    samples_rec, runs_rec = record(0.005), record(0.005, speedup=1.3)
    runs_rec["speedup_ci"], runs_rec["latency"] = [1.2, 1.4], {"p50_ms": 7.0, "session_runs": 10}
    samples = gather.Track("k", [100], [5000], gather.SAMPLES_SPENDING, samples_rec)
    runs = gather.Track(gather.RUNS_KEY, [5], [5], gather.RUNS_SPENDING, runs_rec)
    runs.add(10, 10, runs_rec)
    out = gather.judged(samples, runs, samples_rec)
    assert out["speedup"] == 1.3 and out["latency"] == {"p50_ms": 7.0, "session_runs": 10}
    lo, hi = math.log(1.2), math.log(1.4)
    want = math.exp((lo + hi) / 2 - (hi - lo) / 2 * t_ratio(runs.z, 9))
    assert out["speedup_ci"] == [pytest.approx(want), 1.4]
    assert out["metric"]["value"] == samples_rec["metric"]["value"]


def test_judged_keeps_a_speed_interval_it_cannot_widen():
    rec = record(0.005)
    rec["speedup_ci"], rec["latency"] = [0.0, 1.4], {"p50_ms": 1.0, "session_runs": 5}
    runs = gather.Track(gather.RUNS_KEY, [5], [5], gather.RUNS_SPENDING, rec)
    assert gather.judged(gather.Track(None, [1], [5000], "obrien_fleming", rec), runs, rec)[
        "speedup_ci"
    ] == [0.0, 1.4]


# ------------------------------------------------------------------------------------- Track


def test_a_track_doubles_its_setting_per_look_and_ends_after_three():
    rec = record(0.005)
    tr = gather.Track("model.eval_tokens", [2048], [2047], gather.SAMPLES_SPENDING, rec)
    assert (tr.n_max, tr.next_setting(), tr.final) == (2047 * 4, 4096, False)
    tr.add(4096, 4095, {"look": 2})
    assert (tr.settings, tr.ns, tr.rec, tr.next_setting()) == (
        [2048, 4096], [2047, 4095], {"look": 2}, 8192)  # fmt: skip
    tr.add(8192, 8191, {"look": 3})
    assert tr.final and tr.next_setting() is None and len(tr.zs) == 3
    assert tr.zs == pytest.approx(boundaries([2047, 4095, 8191], 2047 * 4))


def test_a_track_with_nothing_to_grow_is_final_from_its_first_look():
    tr = gather.Track(None, [0], [500], gather.SAMPLES_SPENDING, {})
    assert tr.final and tr.next_setting() is None
    assert tr.z == pytest.approx(boundaries([500], 2000, final=True)[0])
    assert tr.z == pytest.approx(Z)  # all alpha spent at once: the fixed-size 95 % interval


@pytest.mark.parametrize("n,final", [(1960, False), (1959, True)])
def test_a_look_short_of_98_percent_of_what_it_asked_is_the_last(n, final):
    tr = gather.Track("k", [1000], [1000], gather.SAMPLES_SPENDING, {})
    tr.add(2000, n, {"n": n})
    assert tr.final is final and tr.ns == [1000, n]
    assert tr.z == pytest.approx(boundaries([1000, n], 4000, final=final)[1])


@pytest.mark.parametrize("n", [1000, 999])
def test_a_look_that_got_no_more_data_is_dropped_and_ends_the_track(n):
    tr = gather.Track("k", [1000], [1000], gather.SAMPLES_SPENDING, {"look": 1})
    z1 = tr.z
    tr.add(2000, n, {"look": 2})
    assert tr.final and tr.ns == [1000] and tr.settings == [1000] and tr.rec == {"look": 1}
    assert tr.zs == [z1]


# ------------------------------------------------------------------- look_line, unsettled


def test_look_line_names_the_counts_and_their_boundaries():
    lm = record(0.005)
    lm["metric"]["name"] = "perplexity"
    samples = gather.Track("model.eval_tokens", [2048], [2047], gather.SAMPLES_SPENDING, lm)
    samples.add(4096, 4095, lm)
    runs = gather.Track(gather.RUNS_KEY, [5], [5], gather.RUNS_SPENDING, lm)
    z_s, z_r = boundaries([2047, 4095], 8188, final=False)[1], runs.z
    assert gather.look_line(2, samples, runs, "ship") == (
        f"look 2: 4095 scored tokens at z {z_s:.2f}, 5 timing runs at z {z_r:.2f} -> ship"
    )
    acc = gather.Track(None, [0], [300], gather.SAMPLES_SPENDING, record(0.005))
    assert gather.look_line(1, acc, None, "stay") == f"look 1: 300 samples at z {Z:.2f} -> stay"


def settle_count(n: int, half: float, z: float, gap: float) -> int:
    """The new-study size at 80 % power, written out: sd backed out of the half-width."""
    sd = half * math.sqrt(n) / z
    return max(n + 1, math.ceil(((Z + N.inv_cdf(0.8)) * sd / abs(gap)) ** 2))


def test_unsettled_counts_the_samples_against_the_nearer_bar():
    """[0.5, 3.5] % straddles both bars; its point 2.5 % is nearer the 3 % bar, so the count is
    the one that would settle the 3 % bar."""
    r = drop_rec(0.005, 0.035, point=0.025, baseline=0.9)
    n = r["metric"]["n_samples"]
    tr = gather.Track(None, [0], [n], gather.SAMPLES_SPENDING, r)
    got = gather.unsettled(r, TH, tr, None, {"samples"})
    need = settle_count(n, 0.015, tr.z, 0.025 - 0.03)
    assert got == (
        "inconclusive: the drop's interval at the look's boundary [0.50, 3.50] % straddles the "
        f"3 % bar on {n} validation samples; about {need} validation samples "
        f"(~{need - n} more) would settle it"
    )


def test_unsettled_counts_the_timing_runs_and_names_the_tokens():
    r = drop_rec(0.005, 0.015, point=0.009, speed=STRADDLES)
    r["metric"].update(name="perplexity", higher_is_better=False, value=1.009, n_samples=4095)
    samples = gather.Track(None, [0], [4095], gather.SAMPLES_SPENDING, r)
    runs = gather.Track(gather.RUNS_KEY, [5], [5], gather.RUNS_SPENDING, r)
    got = gather.unsettled(r, TH, samples, runs, {"samples", "runs"})
    lo, hi = math.log(1.0), math.log(1.12)
    runs_need = settle_count(5, (hi - lo) / 2, runs.z, (lo + hi) / 2 - math.log(1.05))
    tokens_need = settle_count(4095, 0.005, samples.z, 0.009 - 0.01)
    assert f"about {tokens_need} scored tokens (~{tokens_need - 4095} more)" in got
    assert got.endswith(
        "; the speed interval [1.00, 1.12]x straddles the 1.05x bar on 5 timing runs; "
        f"about {runs_need} fresh-session runs would settle it"
    )


@pytest.mark.parametrize("point", [0.01, 0.0099999999])
def test_a_point_on_the_bar_says_no_count_is_expected_to_settle_it(point):
    """On the bar (within rounding: 1 - 0.99 is 0.01 + 9e-18) or so near it that the count
    runs past 10^9: no count is given, not a 37-digit one."""
    r = drop_rec(0.005, 0.015, point=point)
    tr = gather.Track(None, [0], [5000], gather.SAMPLES_SPENDING, r)
    got = gather.unsettled(r, TH, tr, None, {"samples"})
    assert got.endswith("on 5000 validation samples; its point sits (nearly) on the bar: no "
                        "count is expected to settle it")  # fmt: skip


def test_a_speed_interval_with_no_run_count_keeps_the_verdicts_reason():
    """Speed across its bar in a record with no timing-run count: nothing to grow, nothing to
    count; the verdict's own reason is the one given, never an empty 'inconclusive: '."""
    r = drop_rec(0.001, 0.004, speed=STRADDLES)
    del r["latency"]["session_runs"]
    s = gather.settle(lambda name, over: r, lambda rec: ("k", 100), "int8_ptq", [], TH)
    assert s.where == "inconclusive" and s.why.startswith("Speed is inconclusive: ")
    assert gather.unsettled(r, TH, gather.Track(None, [0], [5000], "pocock", r), None,
                            {"runs"}) == ""  # fmt: skip
