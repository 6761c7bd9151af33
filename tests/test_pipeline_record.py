"""The pipeline's ratio and record code (`_measure`), on two small ONNX models of known cost.

Fast on purpose: these are the tests `make mutate` runs against pipeline.py's record code.
"""

from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runner import cache, pipeline
from runner.targets import make_session
from tests.conftest import typed

WIDTH = 256


def _chain(path, layers: int, fp16_weights: bool = False):
    """x [n, WIDTH] through `layers` MatMuls; fp16 weights are stored float16 and cast up."""
    rng = np.random.default_rng(layers)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = (rng.normal(size=(WIDTH, WIDTH)) / 16).astype(np.float16 if fp16_weights else "f4")
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        name = f"w{i}"
        if fp16_weights:
            nodes.append(helper.make_node("Cast", [name], [f"{name}_f"], to=TensorProto.FLOAT))
            name = f"{name}_f"
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, name], [out], name=f"mm{i}"))
        prev = out
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", WIDTH])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, str(path))
    return path


def _measured(
    tmp_path, *overrides: str, session_runs: int | None = None
) -> tuple[dict, cache.Baseline]:
    """A record after `_measure`: baseline 8 layers fp32, candidate 1 layer fp16 weights."""
    cfg = typed(
        "precision=fp16",
        "latency.warmup=10",
        "latency.min_runs=200",
        "latency.min_seconds=0.1",
        "latency.memory_probe=false",
        *overrides,
    )
    if session_runs is not None:  # set on the object: the config may not offer it as a key
        cfg.latency.session_runs = session_runs
    base_path = _chain(tmp_path / "base.onnx", 8)
    cand = _chain(tmp_path / "cand.onnx", 1, fp16_weights=True)
    info = {"size_bytes": base_path.stat().st_size, "peak_rss_bytes": 123_456_789}
    base = cache.Baseline(base_path, np.ones(3), np.ones((3, 2)), info, cache_hit=True)
    record = pipeline.new_record(cfg, [], {})
    x = np.ones((4, WIDTH), np.float32)
    pipeline._measure(cfg, record, base, cand, make_session(cand, cfg.target), x)
    return record, base


def _own_speedup(base_path, cand_path, rounds: int = 30, block: int = 20) -> float:
    """Baseline median / candidate median, timed here in alternating blocks of calls."""
    sessions = [make_session(p, typed().target) for p in (base_path, cand_path)]
    feed = {"x": np.ones((1, WIDTH), np.float32)}
    times: list[list[float]] = [[], []]
    for _ in range(rounds):
        for sess, t in zip(sessions, times, strict=True):
            for _ in range(block):
                t0 = time.perf_counter()
                sess.run(None, feed)
                t.append(time.perf_counter() - t0)
    return float(np.median(times[0]) / np.median(times[1]))


def test_speedup_is_baseline_over_candidate_and_agrees_with_an_independent_timing(tmp_path):
    rec, base = _measured(tmp_path)
    mine = _own_speedup(base.onnx_path, tmp_path / "cand.onnx")
    assert mine > 2  # one layer against eight
    assert rec["speedup"] > 2
    assert 1 / 1.6 < rec["speedup"] / mine < 1.6, (rec["speedup"], mine)
    assert rec["speedup"] == pytest.approx(
        rec["baseline_latency"]["p50_ms"] / rec["latency"]["p50_ms"]
    )


def test_the_record_holds_latency_size_compression_and_storage(tmp_path):
    rec, base = _measured(tmp_path, "target.threads=2", "target.batch=2")
    for lat in (rec["latency"], rec["baseline_latency"]):
        assert (lat["batch"], lat["threads"]) == (2, 2)
        assert lat["runs"] >= 200 and 0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"]
    assert rec["baseline_latency"]["p50_ms"] > rec["latency"]["p50_ms"]
    size = (tmp_path / "cand.onnx").stat().st_size
    assert rec["size_bytes"] == size
    assert rec["baseline_size_bytes"] == base.info["size_bytes"]
    assert rec["compression"] == pytest.approx(base.info["size_bytes"] / size)
    assert 15 < rec["compression"] < 17  # eight fp32 layers against one fp16 layer
    assert rec["quantized_fraction"] == 1.0  # every weight is stored float16
    assert rec["artifact"] == "cand.onnx"
    assert rec["peak_rss_bytes"] is None  # memory_probe=false


def test_the_memory_probe_records_both_peaks(tmp_path):
    rec, base = _measured(tmp_path, "latency.memory_probe=true", "latency.min_runs=5")
    assert 10e6 < rec["peak_rss_bytes"] < 1e9
    assert rec["baseline_peak_rss_bytes"] == base.info["peak_rss_bytes"]


def test_a_torch_candidate_reports_its_own_storage_and_no_onnx_probe(tmp_path):
    """torchao candidates: the artifact is not ONNX; the backend's own fraction is recorded."""
    cfg = typed("precision=int8", "latency.warmup=2", "latency.min_runs=5",
                "latency.min_seconds=0.01", "latency.memory_probe=true")  # fmt: skip
    base_path = _chain(tmp_path / "base.onnx", 2)
    sess_model = _chain(tmp_path / "cand.onnx", 1)
    artifact = tmp_path / "model.pt"
    artifact.write_bytes(b"\0" * 1000)
    info = {"size_bytes": 4000, "peak_rss_bytes": 1}
    base = cache.Baseline(base_path, np.ones(3), np.ones((3, 2)), info, cache_hit=True)
    record = pipeline.new_record(cfg, [], {})
    record["details"] = {"quantized_fraction_torch": 0.65}
    x = np.ones((2, WIDTH), np.float32)
    pipeline._measure(cfg, record, base, artifact, make_session(sess_model, cfg.target), x)
    assert record["quantized_fraction"] == 0.65
    assert (record["size_bytes"], record["compression"]) == (1000, 4.0)
    assert record["peak_rss_bytes"] is None  # the probe runs ONNX Runtime models only
    assert record["artifact"] == "model.pt"


def test_sequence_inputs_are_cut_to_latency_tokens_for_timing(tmp_path):
    """A dict input (as text models take) is timed on its first `latency_tokens` positions."""
    cfg = typed("precision=fp32", "latency.warmup=2", "latency.min_runs=5",
                "latency.min_seconds=0.01", "latency.memory_probe=false",
                f"model.latency_tokens={WIDTH}")  # fmt: skip
    path = _chain(tmp_path / "m.onnx", 1)
    info = {"size_bytes": path.stat().st_size, "peak_rss_bytes": None}
    base = cache.Baseline(path, np.ones(3), np.ones((3, 2)), info, cache_hit=True)
    record = pipeline.new_record(cfg, [], {})
    x = {"x": np.ones((3, 4 * WIDTH), np.float32)}  # longer than the model takes
    pipeline._measure(cfg, record, base, path, make_session(path, cfg.target), x)
    assert record["latency"]["runs"] >= 5 and record["speedup"] > 0


def _spied(tmp_path, monkeypatch, runs: int) -> tuple[dict, list[str]]:
    """_measure with cfg.latency.session_runs = `runs`; returns the record and the models it
    made sessions of, in order ('base' / 'cand'; the evaluated candidate session is passed in)."""
    made: list[str] = []

    def spy(path, target):
        made.append(path.stem)
        return make_session(path, target)

    monkeypatch.setattr(pipeline, "make_session", spy)
    rec, _ = _measured(tmp_path, "latency.warmup=2", "latency.min_runs=10",
                       "latency.min_seconds=0.01", session_runs=runs)  # fmt: skip
    return rec, made


def test_each_timing_run_makes_fresh_sessions_in_alternating_order(tmp_path, monkeypatch):
    rec, made = _spied(tmp_path, monkeypatch, runs=5)
    # run 0 times the evaluated candidate session; runs 1-4 make both anew, the baseline
    # first in even runs and second in odd ones
    assert made == ["base", "cand", "base", "base", "cand", "cand", "base", "base", "cand"]
    assert rec["latency"]["session_runs"] == 5
    lo, hi = rec["speedup_ci"]
    assert 0 < lo < hi and lo / 2 < rec["speedup"] < hi * 2
    for lat in (rec["latency"], rec["baseline_latency"]):
        assert lat["isolation"] in ("pinned", "serial", "contended")  # placement recorded


def test_the_number_of_timing_runs_is_the_configs(tmp_path, monkeypatch):
    rec, made = _spied(tmp_path, monkeypatch, runs=3)
    assert made == ["base", "cand", "base", "base", "cand"]
    assert rec["latency"]["session_runs"] == 3 and len(rec["speedup_ci"]) == 2
