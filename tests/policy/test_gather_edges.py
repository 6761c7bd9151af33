"""runner.policy.gather's parts at their edges: a bar exactly at an interval's end or exactly
at the point, a lower-is-better metric and one that does not say its direction (read as
higher-is-better, as the verdict reads it), a speed interval not starting at 1x or centred on
its bar, and the 10^9 cap on a count; each expected value written out or recomputed here."""

from __future__ import annotations

import copy
import math

import pytest

from runner.policy import gather
from runner.report.verdict import Thresholds
from tests.policy.test_decide import record
from tests.policy.test_gather_parts import STRADDLES, TH, Z, drop_rec, settle_count

# ---------------------------------------------------------------------------------- standing


def test_a_ship_bar_at_the_intervals_low_end_asks_for_samples_not_timing_runs():
    """[1, 3.5] %: only the QAT bar is straddled; the candidate cannot ship (its interval does
    not reach under 1 %), so more timing runs could not change anything."""
    got = gather.standing(drop_rec(0.01, 0.035, speed=STRADDLES), TH)
    assert (got[0], got[2]) == ("inconclusive", {"samples"})


def test_a_point_exactly_on_the_ship_bar_does_not_ship():
    """Ship is a drop under ship_below, strictly (as the verdict reads it): a point on it is
    in the QAT band, with nothing more to gather; just under it, only the speed is open."""
    th = Thresholds(ship_below=0.25, qat_below=0.5)  # drops exact in binary: 1 - 0.75
    assert gather.standing(drop_rec(0.25, 0.25, speed=STRADDLES), th)[::2] == ("qat", set())
    under = drop_rec(0.25 - 2**-20, 0.25 - 2**-20, speed=STRADDLES)
    assert gather.standing(under, th)[::2] == ("inconclusive", {"runs"})


def lower_is_better(rec: dict) -> dict:
    """The same 2 % drop as an MAE (lower is better): the value above the baseline."""
    rec["metric"].update(name="mae", higher_is_better=False, value=1.02)
    return rec


def no_direction(rec: dict) -> dict:
    del rec["metric"]["higher_is_better"]
    return rec


@pytest.mark.parametrize("direction", [lower_is_better, no_direction])
def test_the_drops_direction_decides_the_band_when_only_speed_is_open(direction):
    """A 2 % drop with its interval [1.5, 2.5] % clear of both bars, speed across its bar: the
    metric says QAT whichever way its direction runs (a sign flip would read a 2 % gain and
    ask for timing runs to ship it); a metric that does not say reads as higher-is-better."""
    r = direction(drop_rec(0.015, 0.025, speed=STRADDLES))
    assert r["metric"]["value"] == pytest.approx(1.02 if direction is lower_is_better else 0.98)
    assert gather.standing(r, TH)[::2] == ("qat", set())


# ------------------------------------------------------------------------------------ judged


def test_judged_reads_a_metric_without_a_direction_as_higher_is_better():
    """No higher_is_better: the delta's lower side is the shipping one (the drop's upper end,
    as drop_interval reads it) and is the side widened; the upper side stays."""
    rec = no_direction(record(0.005, ci=0.004))
    tr = gather.Track("k", [100], [5000], gather.SAMPLES_SPENDING, rec)
    out = gather.judged(tr, None, rec)
    m, ci = rec["metric"], rec["metric"]["ci95"]
    point = m["value"] - m["baseline"]
    assert tr.z > Z * 2  # look 1 of 3 under O'Brien-Fleming: much wider than 95 %
    assert out["metric"]["ci95"] == [pytest.approx(point - (point - ci[0]) * tr.z / Z), ci[1]]


# --------------------------------------------------------------------------------- unsettled


def samples_text(rec: dict, bar: float) -> str:
    """unsettled's sentence for the samples of `rec` against `bar`, its count recomputed."""
    m = rec["metric"]
    lo, hi = m["drop_ci95"]
    drop = (m["baseline"] - m["value"]) / m["baseline"]
    n = m["n_samples"]
    z = gather.Track(None, [0], [n], gather.SAMPLES_SPENDING, rec).z
    need = settle_count(n, (hi - lo) / 2, z, drop - bar)
    return (
        f"inconclusive: the drop's interval at the look's boundary [{100 * lo:.2f}, "
        f"{100 * hi:.2f}] % straddles the {100 * bar:g} % bar on {n} validation samples; about "
        f"{need} validation samples (~{need - n} more) would settle it"
    )


def unsettled_samples(rec: dict) -> str:
    tr = gather.Track(None, [0], [rec["metric"]["n_samples"]], gather.SAMPLES_SPENDING, rec)
    return gather.unsettled(rec, TH, tr, None, {"samples"})


@pytest.mark.parametrize(
    "lo,hi,point,bar",
    [
        (0.01, 0.035, 0.012, 0.03),  # 1 % is the interval's end, not straddled: 3 % is counted
        (0.005, 0.03, 0.028, 0.01),  # 3 % is the interval's end: 1 % is counted
    ],
)
def test_a_bar_at_an_end_of_the_interval_is_not_the_one_counted(lo, hi, point, bar):
    """The count is for the straddled bar nearest the point; a bar the interval only ends on
    is not straddled, however near the point it lies."""
    assert unsettled_samples(drop_rec(lo, hi, point=point)) == samples_text(
        drop_rec(lo, hi, point=point), bar
    )


def test_unsettled_reads_a_metric_without_a_direction_as_higher_is_better():
    """A point at 2.5 % of [0.5, 3.5] %: the 3 % bar is the nearer; read the other way round
    (a 2.5 % gain) the 1 % bar would be, with another count."""
    keyed = drop_rec(0.005, 0.035, point=0.025, baseline=0.9)
    got = unsettled_samples(no_direction(copy.deepcopy(keyed)))
    assert got == unsettled_samples(keyed) == samples_text(keyed, 0.03)


def runs_text(speed: tuple[float, float], runs: int = 5) -> str:
    r = drop_rec(0.001, 0.004, speed=speed, runs=runs)
    samples = gather.Track(None, [0], [5000], gather.SAMPLES_SPENDING, r)
    track = gather.Track(gather.RUNS_KEY, [runs], [runs], gather.RUNS_SPENDING, r)
    return gather.unsettled(r, TH, samples, track, {"runs"})


def test_the_runs_count_takes_the_half_width_of_the_log_interval():
    """[1.01, 1.12]x: the half-width is half the log interval's length (an interval starting
    at 1x has log 0 at its low end, where a sum and a difference agree)."""
    lo, hi = math.log(1.01), math.log(1.12)
    z = gather.Track(gather.RUNS_KEY, [5], [5], gather.RUNS_SPENDING, {}).z
    need = settle_count(5, (hi - lo) / 2, z, (lo + hi) / 2 - math.log(1.05))
    assert runs_text((1.01, 1.12)) == (
        "inconclusive: the speed interval [1.01, 1.12]x straddles the 1.05x bar on 5 timing "
        f"runs; about {need} fresh-session runs would settle it"
    )


def test_a_speed_interval_centred_on_its_bar_gives_no_count():
    """The speed's point on the bar (within rounding): no count would settle it, and none is
    named."""
    assert runs_text((1.05 / 1.1, 1.05 * 1.1)) == (
        "inconclusive: the speed interval [0.95, 1.16]x straddles the 1.05x bar on 5 timing runs"
    )
