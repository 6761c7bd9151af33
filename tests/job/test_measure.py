"""The latency protocol: percentiles, throughput, interleaved runs with floors on runs and time."""

from __future__ import annotations

import time

import pytest

from runner.core.config import LatencyConfig
from runner.job.measure import latency_stats, time_models, time_runs


def test_latency_stats_percentiles_and_throughput():
    times = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    s = latency_stats(times, batch=4, threads=2)
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p90_ms"] == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["throughput"] == pytest.approx(4 * 1000 / 50.5)
    assert (s["batch"], s["threads"], s["runs"]) == (4, 2, 100)


def test_time_models_gives_each_model_the_runs_and_time_floor(monkeypatch):
    """On a fake clock (a loaded CI machine must not change the answer): a call of `fast`
    takes 0.05 ms and one of `slow` 2 ms."""
    import runner.job.measure as measure

    now = [0.0]
    calls = {"fast": 0, "slow": 0}
    monkeypatch.setattr(measure.time, "perf_counter", lambda: now[0])

    def model(name, seconds):
        def call():
            calls[name] += 1
            now[0] += seconds

        return call

    cfg = LatencyConfig(warmup=3, min_runs=50, min_seconds=0.1)
    t_fast, t_slow = time_models([model("fast", 0.00005), model("slow", 0.002)], cfg)
    assert len(t_fast) >= 50 and len(t_slow) >= 50
    assert sum(t_slow) >= 0.1 and sum(t_fast) >= 0.1
    assert len(t_fast) == pytest.approx(40 * len(t_slow), rel=0.05)  # blocks of equal time
    assert calls["fast"] == len(t_fast) + 3


def test_rounds_alternate_the_order_and_flatten_to_the_per_call_times():
    order = []

    def model(name):
        def call():
            order.append(name)
            time.sleep(0.0002)

        return call

    cfg = LatencyConfig(warmup=1, min_runs=10, min_seconds=0.05)
    timed = time_models([model("a"), model("b")], cfg)
    rounds = timed.rounds
    assert len(rounds[0]) == len(rounds[1]) >= 2
    assert [list(t) for t in timed] == [[t for blk in r for t in blk] for r in rounds]
    timed_order = order[2:]  # after one warm-up call each
    firsts = []
    pos = 0
    for k in range(len(rounds[0])):
        firsts.append(timed_order[pos])
        pos += len(rounds[0][k]) + len(rounds[1][k])
    assert firsts[:4] == ["a", "b", "a", "b"]  # who goes first alternates round by round


def test_time_runs_makes_fresh_models_per_run_and_splits_the_time(monkeypatch):
    import runner.job.measure as measure

    made, now = [], [0.0]  # a fake clock: load on the machine cannot stretch the calls
    monkeypatch.setattr(measure.time, "perf_counter", lambda: now[0])

    def call(seconds):
        def fn():
            now[0] += seconds

        return fn

    def make_fns(run):
        made.append(run)
        return [call(0.0002), call(0.0001)]

    cfg = LatencyConfig(warmup=2, min_runs=40, min_seconds=0.2)
    timed = time_runs(make_fns, cfg, runs=4)
    assert made == [0, 1, 2, 3]
    assert [len(r) for r in timed.rounds] == [4, 4]  # rounds[model][run]
    for m in (0, 1):
        assert list(timed[m]) == [t for run in timed.rounds[m] for t in run]
        assert all(len(run) >= 10 for run in timed.rounds[m])  # min_runs split over 4 runs
        assert sum(timed[m]) >= 0.2  # the whole time floor, split over the runs
        assert all(sum(run) < 0.2 for run in timed.rounds[m][1:])


def _fake_clock(monkeypatch, seconds: float):
    """perf_counter on a fake clock, and a call that takes `seconds` on it; the call fails
    the test if timing goes on for 100 calls (none of these needs more than 40)."""
    import runner.job.measure as measure

    now, calls = [0.0], []
    monkeypatch.setattr(measure.time, "perf_counter", lambda: now[0])

    def call():
        calls.append(1)
        assert len(calls) < 100, "the timing does not stop"
        now[0] += seconds

    return call


def test_calls_longer_than_a_block_are_timed_one_by_one_and_the_floors_are_split(monkeypatch):
    """Calls of 1/64 s outlast the ~10 ms block, so a block is one call; 4 runs share
    min_runs=4 and min_seconds=1/16 s: one call per model and run (no floor of 2)."""
    call = _fake_clock(monkeypatch, 2**-6)
    cfg = LatencyConfig(warmup=1, min_runs=4, min_seconds=2**-4)
    timed = time_runs(lambda run: [call, call], cfg, runs=4)
    assert [[len(r) for r in runs] for runs in timed.rounds] == [[1] * 4, [1] * 4]
    assert list(timed[0]) == [2**-6] * 4


def test_each_floor_is_met_when_reached_exactly(monkeypatch):
    """Calls of exactly 1/64 s (one per block): a floor of 1/16 s takes 4 calls, not a
    fifth once the timed work equals it; a floor of 3 runs takes 3 calls."""
    call = _fake_clock(monkeypatch, 2**-6)
    timed = time_models([call, call], LatencyConfig(warmup=1, min_runs=1, min_seconds=2**-4))
    assert [len(t) for t in timed] == [4, 4]
    timed = time_models([call, call], LatencyConfig(warmup=1, min_runs=3, min_seconds=0.0))
    assert [len(t) for t in timed] == [3, 3]
