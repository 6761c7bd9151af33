"""INT8 QAT for ONNX Runtime: fake-quant fine-tuning in torch, then ONNX Runtime's own static
QDQ quantization of the fine-tuned weights (calibrated on the calibration split).

torchao's converted QAT graph places its quantize/dequantize pairs for Inductor; ONNX Runtime
fuses QDQ into integer kernels only around whole Conv/MatMul patterns, so that export runs as
float convolutions on dequantized weights (EfficientNet-Lite0: 0.35x FP32 here). This backend
keeps the QAT-trained weights (already fitted to a per-channel int8 grid) and lets ONNX
Runtime place the QDQ nodes it can fuse, as its static PTQ does; the activation ranges are
re-calibrated, not the ones QAT observed. Pick it with method.backend=torchao_qat_ort, or a
model's prefer_backends (efficientnet_lite0 does).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from pathlib import Path

from runner.backends import Job
from runner.backends.ort_ptq import OrtStaticInt8
from runner.backends.torchao_qat import TorchaoQatInt8, fake_quant_fine_tune
from runner.core.registry import register

log = logging.getLogger(__name__)


@register("backend", "torchao_qat_ort")
class TorchaoQatOrt:
    """Fake-quant fine-tuning (torchao), then ONNX Runtime static QDQ of the trained weights."""

    precision, method = "int8", "qat"
    check = staticmethod(TorchaoQatInt8.check)

    @staticmethod
    def quantize(job: Job) -> Path:
        from runner.core.onnx_utils import export_onnx

        prepared = fake_quant_fine_tune(job)
        trained = {k: v for k, v in prepared.state_dict().items() if "activation_post" not in k}
        module = copy.deepcopy(job.model.module).eval()
        missing = set(module.state_dict()) - set(trained)
        if missing:
            raise RuntimeError(f"QAT lost track of weights: {sorted(missing)[:5]}")
        module.load_state_dict(trained, strict=False)
        fp32 = export_onnx(module, job.model.example_input, job.out_dir / "qat_fp32.onnx")
        inner = replace(job, baseline_onnx=fp32, details={}, reuse=None)
        out = OrtStaticInt8.quantize(inner)
        fp32.unlink()
        job.details.update(inner.details, converter="onnxruntime quantize_static (QDQ)")
        return out
