"""GPTQ rounding: error feedback lowers the layer's output error below round-to-nearest."""

from __future__ import annotations

import numpy as np
import pytest

from runner.backends.gptq import gptq


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(64, 32)).astype(np.float32)  # [K in, N out], as ORT passes it
    x = rng.normal(size=(2000, 64)) @ rng.normal(size=(64, 64))  # correlated activations
    return w, x, x.T @ x * 2 / len(x)


def _out_err(x, w, q):
    return float(np.mean((x @ q - x @ w) ** 2))


def test_with_an_identity_hessian_gptq_is_round_to_nearest():
    w, _, _ = _problem()
    q = gptq(w, np.eye(64), group_size=32)
    for g in (slice(0, 32), slice(32, 64)):  # every value on its group's 16-level grid
        for col in range(w.shape[1]):
            assert len(np.unique(q[g, col])) <= 16
    lo, hi = np.minimum(w[:32].min(0), 0), np.maximum(w[:32].max(0), 0)
    step = (hi - lo) / 15
    zero = np.round(-lo / step)  # an integer zero point: 0.0 is exactly on the grid
    rtn = step * (np.clip(np.round(w[:32] / step) + zero, 0, 15) - zero)
    np.testing.assert_allclose(q[:32], rtn, atol=1e-5)


def test_error_feedback_halves_the_output_error_on_correlated_inputs():
    w, x, h = _problem()
    rtn = _out_err(x, w, gptq(w, np.eye(64)))
    assert _out_err(x, w, gptq(w, h.copy())) < 0.7 * rtn


def test_onnxruntime_own_gptq_is_no_better_than_rtn_which_is_why_we_swap_it():
    from onnxruntime.quantization.neural_compressor import weight_only

    w, x, h = _problem(1)
    theirs = weight_only.gptq(
        w.copy(),
        h.copy(),
        num_bits=4,
        group_size=32,
        scheme="asym",
        blocksize=128,
        percdamp=0.01,
        actorder=False,
        mse=False,
        perchannel=True,
    )
    rtn = gptq(w, np.eye(64))
    assert _out_err(x, w, theirs) == pytest.approx(_out_err(x, w, rtn), rel=1e-3)


def _two_layer_model(seed: int = 0):
    """x -> MatMul + Add -> Relu -> MatMul + Add -> y, every node unnamed (as our Gemm
    rewrite leaves them), weights [K in, N out]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(64, 64)), rng.normal(size=(64, 16))
    inits = [
        numpy_helper.from_array(a.astype(np.float32), n)
        for a, n in ((w1, "w1"), (np.zeros(64), "b1"), (w2, "w2"), (np.zeros(16), "b2"))
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h_mm"]),
        helper.make_node("Add", ["h_mm", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y_mm"]),
        helper.make_node("Add", ["y_mm", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def _inputs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(99).normal(size=(64, 64))  # the same correlation every call
    return (rng.normal(size=(n, 64)) @ mix).astype(np.float32)


def _reader(x):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{"x": x[i : i + 64]} for i in range(0, len(x), 64)])

        def get_next(self):
            return next(self._it, None)

    return Reader()


def _run(model, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_name_nodes_makes_every_name_unique_and_keeps_good_ones():
    from runner.backends.gptq import name_nodes

    model = _two_layer_model()
    model.graph.node[2].name = "relu"
    model.graph.node[3].name = "relu"  # a duplicate is renamed too
    assert name_nodes(model) == 4
    names = [n.name for n in model.graph.node]
    assert len(set(names)) == 5 and names[2] == "relu" and all(names)


def test_gptq_through_onnxruntime_keeps_every_node_and_beats_rtn():
    """ORT's pipeline with our gptq swapped in: the last MatMul + Add survives (it used to be
    dropped with unnamed nodes) and the output error is below round-to-nearest's."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    from runner.backends.gptq import quantize

    calib, x = _inputs(512, 1), _inputs(256, 2)
    ref = _run(_two_layer_model(), x)
    ours = quantize(_two_layer_model(), _reader(calib), block_size=32)
    assert [n.op_type for n in ours.graph.node].count("MatMulNBits") == 2
    rtn = MatMulNBitsQuantizer(
        _two_layer_model(), block_size=32, is_symmetric=False,
        algo_config=DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=False),
    )  # fmt: skip
    rtn.process()
    err_gptq = float(np.mean((_run(ours, x) - ref) ** 2))
    err_rtn = float(np.mean((_run(rtn.model.model, x) - ref) ** 2))
    assert err_gptq < 0.8 * err_rtn, (err_gptq, err_rtn)
