"""Graph rewrites keep the numbers; storage accounting says what the weights really are."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from runner.core.onnx_utils import gemm_to_matmul, storage_bits


def _gemm_model(w: np.ndarray, b: np.ndarray):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", w.shape[1]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", w.shape[0]])
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    graph = helper.make_graph(
        [node], "g", [x], [y], [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def _run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_gemm_to_matmul_keeps_the_output():
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(6, 8)).astype(np.float32), rng.normal(size=6).astype(np.float32)
    x = rng.normal(size=(3, 8)).astype(np.float32)
    model = _gemm_model(w, b)
    before = _run(model, x)
    assert gemm_to_matmul(model) == 1
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add"]
    onnx.checker.check_model(model)
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-5, atol=1e-5)


def test_storage_bits_counts_fp32_then_int8_after_quantization(tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    w = np.ones((4, 16), np.float32)
    model = _gemm_model(w, np.zeros(4, np.float32))
    assert storage_bits(model) == {32: 64}
    gemm_to_matmul(model)
    onnx.save(model, tmp_path / "f.onnx")
    quantize_dynamic(tmp_path / "f.onnx", tmp_path / "q.onnx", weight_type=QuantType.QInt8)
    assert storage_bits(onnx.load(tmp_path / "q.onnx")) == {8: 64}


def test_storage_bits_reads_matmulnbits_as_4_bit():
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    model = _gemm_model(np.ones((32, 64), np.float32), np.zeros(32, np.float32))
    gemm_to_matmul(model)
    assert storage_bits(model) == {32: 32 * 64}  # before: the same weights, read as float
    q = MatMulNBitsQuantizer(model, algo_config=DefaultWeightOnlyQuantConfig(block_size=32))
    q.process()
    assert [n.op_type for n in q.model.model.graph.node] == ["MatMulNBits", "Add"]
    assert storage_bits(q.model.model) == {4: 32 * 64}
