"""The rest of a language model's timing record, on the fake clock of test_generation: the
prefill-ranked latency block (summary.lm_speed=prefill), each run's median call per model, the
ratios' intervals, one timed call per model per run; and measure_candidate's record for a
torch candidate. Every expected number is counted here from the per-token costs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runner.job import cache, timing
from tests.conftest import typed
from tests.job.test_generation import NEW, PROMPT, Clock, FakeDecoder

BASE, CAND, RUNS, THREADS = 0.004, 0.001, 3, 2  # seconds per fed token; runs; threads


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(timing.measure.time, "perf_counter", c)
    return c


def timed(clock, speed: str):
    cfg = typed(
        f"model.prompt_tokens={PROMPT}",
        f"model.new_tokens={NEW}",
        f"latency.session_runs={RUNS}",
        f"summary.lm_speed={speed}",
        f"target.threads={THREADS}",
    )

    def fresh(run: int) -> list:
        return [FakeDecoder(clock, BASE), FakeDecoder(clock, CAND)]

    record: dict = {}
    x = {"input_ids": np.arange(40)[None, :]}
    return record, *timing.time_generation(cfg, record, fresh, x)


def test_prefill_ranking_uses_the_prefill_calls_of_each_model(clock):
    record, lat_base, lat, speedup, ci = timed(clock, "prefill")
    base_ms, cand_ms = PROMPT * BASE * 1e3, PROMPT * CAND * 1e3  # 48 ms and 12 ms
    assert lat_base["p50_ms"] == pytest.approx(base_ms) and lat["p50_ms"] == pytest.approx(cand_ms)
    assert speedup == pytest.approx(BASE / CAND)
    assert ci[0] <= speedup <= ci[1]
    for block in (lat_base, lat):
        assert block["unit"] == "prefill" and block["session_runs"] == RUNS
        assert (block["batch"], block["threads"]) == (1, THREADS)  # one prompt a call
        assert block["throughput"] == pytest.approx(1e3 / block["p50_ms"])


def test_decode_ranking_is_per_decode_token(clock):
    record, lat_base, lat, speedup, ci = timed(clock, "decode")
    assert lat_base["p50_ms"] == pytest.approx(BASE * 1e3) and lat["p50_ms"] == pytest.approx(1.0)
    assert lat["unit"] == "decode token" and lat["batch"] == 1 and lat["threads"] == THREADS
    # every timed decode step: the candidate's 4 warm-up steps take 4 ms, so its blocks hold
    # int(10 ms / 4 ms) = 2 decode calls a run; the baseline's (16 ms) hold 1
    assert (lat_base["runs"], lat["runs"]) == (RUNS * NEW, 2 * RUNS * NEW)


def test_each_run_times_one_block_of_calls_per_model(clock):
    """One round a run (not latency.min_runs calls): a block is the calls that fill 10 ms, by
    the warm-up call; every prefill here takes 12 ms or more, a warm decode 16 ms or 4 ms."""
    record, *_ = timed(clock, "decode")
    base, cand = record["baseline_generation"], record["generation"]
    for fig, cost, decodes in ((base, BASE, 1), (cand, CAND, 2)):
        assert (fig["prefill_calls"], fig["decode_calls"]) == (RUNS, decodes * RUNS)
        assert fig["prefill_run_ms"] == pytest.approx([PROMPT * cost * 1e3] * RUNS)
        assert fig["decode_run_ms"] == pytest.approx([NEW * cost * 1e3] * RUNS)
    for kind in ("prefill", "decode"):
        lo, hi = cand[f"speedup_{kind}_ci"]
        assert lo <= cand[f"speedup_{kind}"] <= hi and lo == pytest.approx(BASE / CAND)
        assert f"speedup_{kind}" not in base  # the ratios belong to the candidate


def _measure_torch(monkeypatch, details: dict) -> dict:
    """measure_candidate for a torch candidate (no ONNX file), its timer and size stubbed."""
    lat_base, lat = {"p50_ms": 4.0}, {"p50_ms": 2.0}
    monkeypatch.setattr(timing, "time_calls", lambda *a: (lat_base, lat, 2.0, (1.8, 2.2)))
    monkeypatch.setattr(timing, "model_size", lambda path: 1_000)
    cfg = typed("latency.memory_probe=false")
    base = cache.Baseline(Path("base.onnx"), np.zeros(1), np.zeros(1), {"size_bytes": 4_000}, True)
    record = {"details": dict(details)}
    timing.measure_candidate(cfg, record, base, Path("model.pt"), object(), {"x": np.zeros(1)})
    return record


def test_a_torch_candidate_records_its_own_stored_fraction(monkeypatch):
    rec = _measure_torch(monkeypatch, {"quantized_fraction": 0.5})
    assert rec["quantized_fraction"] == 0.5  # the backend's own count, no ONNX file to read
    rec = _measure_torch(monkeypatch, {"quantized_fraction": 0.5, "quantized_fraction_torch": 0.75})
    assert rec["quantized_fraction"] == 0.75
    assert (rec["speedup"], rec["speedup_ci"]) == (2.0, [1.8, 2.2])
    assert (rec["size_bytes"], rec["baseline_size_bytes"], rec["compression"]) == (1000, 4000, 4.0)
    assert rec["latency"]["p50_ms"] == 2.0 and rec["baseline_latency"]["p50_ms"] == 4.0
    assert rec["artifact"] == "model.pt" and "peak_rss_bytes" not in rec
