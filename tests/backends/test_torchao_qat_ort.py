"""torchao_qat_ort: QAT-trained weights in ONNX Runtime's own QDQ placement."""

from __future__ import annotations

import pytest

from tests.conftest import assert_valid_record


@pytest.mark.slow
def test_qat_weights_come_out_in_onnx_runtime_s_qdq_form(run_job, tmp_path):
    """Every Conv and Gemm reads dequantized int8 weights and a dequantized input (what ONNX
    Runtime fuses into integer kernels); nearly every weight is stored as int8."""
    import onnx
    from onnx import numpy_helper

    rec = run_job("precision=int8", "method=qat", "method.backend=torchao_qat_ort")
    assert rec["status"] == "ok", rec["reason"]
    assert_valid_record(rec)
    assert rec["axes"]["backend"] == "torchao_qat_ort" and rec["quantized_fraction"] == 1.0
    assert rec["qat"]["epochs"] == 1 and rec["details"]["calibration_samples"] > 0
    model = onnx.load(str(tmp_path / "job" / "model.onnx"))
    made = {o: n for n in model.graph.node for o in n.output}
    layers = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    assert layers and all(
        made[n.input[i]].op_type == "DequantizeLinear" for n in layers for i in (0, 1)
    )
    stored = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == 3]
    assert sum(a.size for a in stored) > 0.99 * sum(
        numpy_helper.to_array(t).size for t in model.graph.initializer if t.data_type in (1, 3)
    )
