"""The job's ratio and record code (`runner.job.timing.measure_candidate`), on two small ONNX
models of known cost, and its route for language models (a KV-cache graph is timed as it
generates) on toy decoders.

Fast on purpose: these are the tests `make mutate` runs against the ratio and record code.
"""

from __future__ import annotations

import math
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runner.job import cache, pipeline, timing
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
    timing.measure_candidate(cfg, record, base, cand, make_session(cand, cfg.target), x)
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
    lo, hi = rec["speedup_ci"]  # the point is the centre of its interval, not a p50 ratio
    assert rec["speedup"] == pytest.approx(math.sqrt(lo * hi))


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
    timing.measure_candidate(cfg, record, base, artifact, make_session(sess_model, cfg.target), x)
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
    timing.measure_candidate(cfg, record, base, path, make_session(path, cfg.target), x)
    assert record["latency"]["runs"] >= 5 and record["speedup"] > 0


def _spied(tmp_path, monkeypatch, runs: int) -> tuple[dict, list[str]]:
    """_measure with cfg.latency.session_runs = `runs`; returns the record and the models it
    made sessions of, in order ('base' / 'cand'; the evaluated candidate session is passed in)."""
    made: list[str] = []

    def spy(path, target):
        made.append(path.stem)
        return make_session(path, target)

    monkeypatch.setattr(timing, "make_session", spy)
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


VOCAB, DIM = 32, 16


def _decoder(path, layers: int, kv: bool = True):
    """A toy causal LM with the names of optimum's KV-cache export (`input_ids`,
    `past_key_values.0.key` [batch, 1 head, past, DIM]; `logits`, `present.0.key`), or, with
    kv=False, a graph of `input_ids` -> `logits` only (a language model without a cache)."""
    rng = np.random.default_rng(layers)
    inits = [numpy_helper.from_array(rng.normal(size=(VOCAB, DIM)).astype("f4"), "emb")]
    nodes = [helper.make_node("Gather", ["emb", "input_ids"], ["h0"])]
    for i in range(layers):
        inits.append(numpy_helper.from_array(rng.normal(size=(DIM, DIM)).astype("f4"), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"]))
    inits.append(numpy_helper.from_array(rng.normal(size=(DIM, VOCAB)).astype("f4"), "head"))
    nodes.append(helper.make_node("MatMul", [f"h{layers}", "head"], ["logits"]))
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "s", VOCAB])]
    if kv:  # the cache: the past keys with this call's embeddings appended
        inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
        nodes += [
            helper.make_node("Unsqueeze", ["h0", "axis1"], ["new_key"]),
            helper.make_node(
                "Concat", ["past_key_values.0.key", "new_key"], ["present.0.key"], axis=2
            ),
        ]
        past = ["b", 1, "p", DIM]
        inputs.append(
            helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, past)
        )
        outputs.append(
            helper.make_tensor_value_info("present.0.key", TensorProto.FLOAT, ["b", 1, "t", DIM])
        )
    graph = helper.make_graph(nodes, "decoder", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, str(path))
    return path


def _lm_measured(tmp_path, monkeypatch, *overrides: str, kv: bool = True, real: int = 16):
    """_measure of a toy language model (baseline 4 layers, candidate 1) on two windows of 16
    tokens, of which the scoring mask `y` marks the first `real` as text; measure.peak_rss is
    replaced by a spy (the probe's own process is test_the_memory_probe_records_both_peaks's).
    Returns the record, the inputs and what the probe was given."""
    cfg = typed("model=hf_causal_lm", "precision=fp32", "model.prompt_tokens=6",
                "model.new_tokens=3", "latency.warmup=1", "latency.min_runs=4",
                "latency.min_seconds=0.0", "latency.memory_probe=true", *overrides)  # fmt: skip
    cfg.latency.session_runs = 2
    base_path = _decoder(tmp_path / "base.onnx", 4, kv)
    cand = _decoder(tmp_path / "cand.onnx", 1, kv)
    info = {"size_bytes": base_path.stat().st_size, "peak_rss_bytes": 1}
    base = cache.Baseline(base_path, np.ones(3), np.ones((3, 2)), info, cache_hit=True)
    probed = []

    def probe(model, target, sample):
        probed.append(sample)
        return 2

    monkeypatch.setattr(timing.measure, "peak_rss", probe)
    record = pipeline.new_record(cfg, [], {})
    x = {"input_ids": np.arange(2 * 16, dtype=np.int64).reshape(2, 16) % VOCAB}
    y = np.zeros((2, 15), bool)  # the windows' scoring mask (a token's successor is scored)
    y[:, : real - 1] = True
    timing.measure_candidate(cfg, record, base, cand, make_session(cand, cfg.target), x, y)
    return record, x, probed


def test_a_kv_cache_language_model_is_timed_as_it_generates(tmp_path, monkeypatch):
    """Routed to the generation timer (not one call per batch), which fills the record's
    generation blocks, and the memory probe runs the same prompt: the first prompt_tokens
    tokens of the first window."""
    rec, x, probed = _lm_measured(tmp_path, monkeypatch)
    for block in (rec["generation"], rec["baseline_generation"]):
        assert (block["prompt_tokens"], block["new_tokens"]) == (6, 3)
        assert block["decode_calls"] >= 2 and block["prefill_calls"] >= 2
    assert rec["latency"]["unit"] == rec["baseline_latency"]["unit"] == "decode token"
    assert rec["speedup"] == rec["generation"]["speedup_decode"]  # summary.lm_speed=decode
    assert [list(s) for s in probed] == [["input_ids"]]
    np.testing.assert_array_equal(probed[0]["input_ids"], x["input_ids"][:1, :6])
    assert rec["peak_rss_bytes"] == 2


def test_a_language_model_without_a_kv_cache_is_timed_per_call(tmp_path, monkeypatch):
    """No past key/values: one call of the first window per timed call, no generation block."""
    rec, x, probed = _lm_measured(tmp_path, monkeypatch, kv=False)
    assert "generation" not in rec and "unit" not in rec["latency"]
    assert rec["latency"]["batch"] == 1 and rec["latency"]["runs"] >= 4
    np.testing.assert_array_equal(probed[0]["input_ids"], x["input_ids"][:1])


def test_a_prompt_longer_than_the_first_windows_text_is_refused(tmp_path, monkeypatch):
    """The scoring mask says where the text of the first window ends: a prompt that would run
    into the padding after it is refused, not timed (the probe is off: the timer must refuse)."""
    with pytest.raises(ValueError, match="prompt_tokens=6"):
        _lm_measured(tmp_path, monkeypatch, "latency.memory_probe=false", real=5)
    rec, _, _ = _lm_measured(tmp_path, monkeypatch, "latency.memory_probe=false", real=6)
    assert rec["generation"]["prompt_tokens"] == 6
