"""How models are timed: interleaved in blocks, on sessions with fixed threads and no spinning."""

from __future__ import annotations

import itertools
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from runner.core.config import LatencyConfig, TargetConfig
from runner.job.measure import time_models
from runner.targets import make_session


def _blocks(calls: list[str]) -> list[tuple[str, int]]:
    """Run-length encoding: [A, A, B] -> [(A, 2), (B, 1)]."""
    return [(k, len(list(g))) for k, g in itertools.groupby(calls)]


def test_time_models_alternates_the_models_in_blocks(monkeypatch):
    """On a fake clock (a call costs exactly its seconds), so that load on the machine cannot
    stretch a call and swap the block sizes."""
    import runner.job.measure as measure

    calls: list[str] = []
    now = [0.0]

    def model(label: str, seconds: float):
        def fn():
            calls.append(label)
            now[0] += seconds

        return fn

    monkeypatch.setattr(measure.time, "perf_counter", lambda: now[0])
    cfg = LatencyConfig(warmup=2, min_runs=30, min_seconds=0.0)
    t_a, t_b = time_models([model("A", 0.0005), model("B", 0.008)], cfg)
    assert np.allclose(t_a, 0.0005) and np.allclose(t_b, 0.008)
    timed = calls[2 * cfg.warmup :]  # after each model's untimed warm-up calls
    assert timed.count("A") == len(t_a) and timed.count("B") == len(t_b)
    blocks = _blocks(timed)
    labels = [k for k, _ in blocks]
    assert labels == (["A", "B"] * len(blocks))[: len(blocks)], blocks  # alternating, A first
    assert len(blocks) >= 4, blocks  # not "all of A, then all of B"
    # blocks of about 10 ms: more calls of the faster model per block
    assert max(n for k, n in blocks if k == "B") < min(n for k, n in blocks if k == "A"), blocks


def _tiny_model(path):
    w = np.ones((8, 8), np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, str(path))
    return path


def test_sessions_have_the_targets_fixed_threads_and_no_spinning(tmp_path):
    path = _tiny_model(tmp_path / "m.onnx")
    for threads in (1, 2):
        sess = make_session(path, TargetConfig(name="cpu_x86", threads=threads))
        so = sess.get_session_options()
        assert so.intra_op_num_threads == threads
        assert so.inter_op_num_threads == 1
        assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        x = np.ones((1, 8), np.float32)
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], x @ np.ones((8, 8)))


def test_each_model_gets_its_floor_of_runs_and_of_timed_seconds():
    calls = {"A": 0, "B": 0}

    def fn(label: str):
        def call():
            calls[label] += 1
            time.sleep(0.001)

        return call

    cfg = LatencyConfig(warmup=3, min_runs=3, min_seconds=0.06)  # the time floor decides
    times = time_models([fn("A"), fn("B")], cfg)
    for label, t in zip("AB", times, strict=True):
        assert sum(t) >= 0.06 and len(t) >= 3
        assert sum(t) < 0.06 + 0.1  # stops once the floor is met (a block is ~10 ms)
        assert calls[label] == len(t) + 3  # the warm-up calls are not timed
    calls.update(A=0, B=0)
    cfg = LatencyConfig(warmup=1, min_runs=40, min_seconds=0.0)  # the run floor decides
    times = time_models([fn("A"), fn("B")], cfg)
    assert all(len(t) >= 40 for t in times)
    assert [calls[k] for k in "AB"] == [len(t) + 1 for t in times]  # exactly one warm-up
