"""runner.policy.gather.settle's looks as the trail and the reason show them: the counts and
boundaries of each look (both tracks), the speed judged at the runs' boundary from the first
look, two timing runs as a track to grow, the record the data's room is read from, and the
speed still open after the last look counted in the reason; each boundary recomputed here."""

from __future__ import annotations

import math

from scipy import stats as sps

from runner.core.sequential import boundaries
from runner.policy import gather
from tests.policy.test_gather_parts import STRADDLES, TH, N, drop_rec
from tests.policy.test_settle import Looks, tokens

OBF, POCOCK = gather.SAMPLES_SPENDING, gather.RUNS_SPENDING


def runs_at(rec: dict, runs: int, speed=None) -> dict:
    rec["latency"]["session_runs"] = runs
    if speed is not None:
        rec["speedup_ci"] = list(speed)
    return rec


def widened_low(speed: tuple[float, float], runs: int, z: float) -> float:
    """The speed interval's low end at +/- z's t quantile instead of 95 %'s (scipy's t)."""
    lo, hi = math.log(speed[0]), math.log(speed[1])
    r = sps.t.ppf(N.cdf(z), runs - 1) / sps.t.ppf(0.975, runs - 1)
    return math.exp((lo + hi) / 2 - (hi - lo) / 2 * r)


def test_each_look_line_gives_both_tracks_counts_and_boundaries():
    """Look 2 doubles the samples and the runs; look 3 only the samples (the speed settled at
    look 2): every line names the samples and the runs each track has at that look."""
    look2 = runs_at(tokens(2000), 10, speed=(1.9, 2.1))
    look3 = runs_at(tokens(4000), 10, speed=(1.9, 2.1))
    j = Looks(tokens(1000), look2, look3)
    s = gather.settle(j.job, lambda r: ("model.eval_samples", 1000), "int8_ptq", [], TH)
    zs = boundaries([1000, 2000, 4000], 4000, 0.025, OBF, True)
    zs[:2] = boundaries([1000, 2000], 4000, 0.025, OBF, False)
    zr = boundaries([5, 10], 20, 0.025, POCOCK, False)
    assert s.looks == [
        f"look 1: 1000 samples at z {zs[0]:.2f}, 5 timing runs at z {zr[0]:.2f} -> inconclusive",
        f"look 2: 2000 samples at z {zs[1]:.2f}, 10 timing runs at z {zr[1]:.2f} -> inconclusive",
        f"look 3: 4000 samples at z {zs[2]:.2f}, 10 timing runs at z {zr[1]:.2f} -> inconclusive",
    ]


def test_a_speed_clear_at_95_percent_but_not_at_the_runs_boundary_is_looked_at_again():
    """[1.07, 1.3]x on 5 runs clears the 1.05x bar at 95 %, not at the first look's Pocock
    boundary: the metric would ship, so the first look asks for 10 runs (no ship on look 1)."""
    z = boundaries([5], 20, 0.025, POCOCK, False)[0]
    assert widened_low((1.07, 1.3), 5, z) < 1.05 < 1.07
    first = drop_rec(0.001, 0.004, speed=(1.07, 1.3))
    j = Looks(first, runs_at(drop_rec(0.001, 0.004, speed=(1.2, 1.3)), 10))
    s = gather.settle(j.job, lambda r: None, "int8_ptq", ["x=1"], TH)
    assert j.calls == [
        ("int8_ptq", ["x=1"]),
        ("int8_ptq_look2", ["x=1", "latency.session_runs=10"]),
    ]
    assert s.looks[0].endswith("-> inconclusive") and s.looks[1].endswith("-> ship")
    assert s.where == "ship" and s.job == "int8_ptq_look2"


def test_two_timing_runs_are_a_speed_track_to_grow():
    first = drop_rec(0.001, 0.004, speed=STRADDLES, runs=2)
    j = Looks(first, drop_rec(0.001, 0.004, runs=4))
    s = gather.settle(j.job, lambda r: None, "int8_ptq", [], TH)
    assert j.calls[1] == ("int8_ptq_look2", ["latency.session_runs=4"])
    assert s.where == "ship"


def test_the_room_for_more_samples_is_read_from_the_first_record():
    """decide's room reads the job's own overrides and scored count from the record."""
    first, asked = drop_rec(0.001, 0.004), []
    gather.settle(Looks(first).job, lambda r: asked.append(r), "int8_ptq", [], TH)
    assert len(asked) == 1 and asked[0] is first


def test_a_record_of_one_sample_still_has_its_samples_grown():
    """One is a sample count (only a record without one has nothing to grow)."""
    one, two = drop_rec(0.005, 0.015), drop_rec(0.001, 0.004)
    one["metric"]["n_samples"], two["metric"]["n_samples"] = 1, 2
    j = Looks(one, two)
    s = gather.settle(j.job, lambda r: ("model.eval_samples", 1), "int8_ptq", [], TH)
    assert j.calls[1] == ("int8_ptq_look2", ["model.eval_samples=2"])
    z, zr = boundaries([1], 4, 0.025, OBF, False)[0], boundaries([5], 20, 0.025, POCOCK, False)[0]
    assert (
        s.looks[0] == f"look 1: 1 samples at z {z:.2f}, 5 timing runs at z {zr:.2f} -> inconclusive"
    )


def test_speed_still_across_its_bar_after_the_last_look_is_counted_in_the_reason():
    """Both tracks grown to their third look and both still straddling: the reason counts the
    samples and the timing runs, the speed interval at the runs' last boundary."""
    j = Looks(tokens(1000), runs_at(tokens(2000), 10), runs_at(tokens(4000), 20))
    s = gather.settle(j.job, lambda r: ("model.eval_samples", 1000), "int8_ptq", [], TH)
    z = boundaries([5, 10, 20], 20, 0.025, POCOCK, True)[-1]
    lo, hi = math.log(widened_low(STRADDLES, 20, z)), math.log(STRADDLES[1])
    sd = (hi - lo) / 2 * math.sqrt(20) / z
    need = math.ceil(((1.959964 + 0.841621) * sd / ((lo + hi) / 2 - math.log(1.05))) ** 2)
    assert len(j.calls) == 3 and s.where == "inconclusive"
    assert "straddles the 1 % bar on 4000 validation samples" in s.why
    assert s.why.endswith(
        f"; the speed interval [{math.exp(lo):.2f}, 1.12]x straddles the 1.05x bar on 20 "
        f"timing runs; about {need} fresh-session runs would settle it"
    )


def test_a_speed_interval_as_recorded_is_called_a_95_percent_one():
    """One timing run: no speed track, the speed interval is the record's own 95 % one, and
    the reason says so (not the confidence of the samples' look boundary, 100 % at look 1)."""
    r = drop_rec(0.001, 0.004, speed=STRADDLES, runs=1)
    s = gather.settle(Looks(r).job, lambda rec: ("model.eval_samples", 5000), "int8_ptq", [], TH)
    assert s.where == "inconclusive"
    assert "the baseline's speed (95% CI [1.00, 1.12]x) straddles the 1.05x bar" in s.why
