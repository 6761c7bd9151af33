"""ONNX Runtime post-training backends: FP32 (the export itself), FP16, static INT8, INT4."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from runner.backends import Job
from runner.registry import register

log = logging.getLogger(__name__)


@register("backend", "ort_fp32")
class OrtFp32:
    """The exported FP32 model, unchanged: the baseline as a candidate row."""

    precision, method = "fp32", "ptq"

    @staticmethod
    def check(job: Job) -> str | None:
        return None

    @staticmethod
    def quantize(job: Job) -> Path:
        out = job.out_dir / "model.onnx"
        shutil.copyfile(job.baseline_onnx, out)
        return out


@register("backend", "ort_fp16")
class OrtFp16:
    """Weights and compute in float16, inputs and outputs kept float32 for the caller."""

    precision, method = "fp16", "ptq"

    @staticmethod
    def check(job: Job) -> str | None:
        return None

    @staticmethod
    def quantize(job: Job) -> Path:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(job.baseline_onnx)), keep_io_types=True)
        out = job.out_dir / "model.onnx"
        onnx.save(model, str(out))
        return out


def _calibration_reader(x, input_name: str, batch: int = 16):
    """Feeds the calibration split to ONNX Runtime's calibrator in small batches."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{input_name: x[i : i + batch]} for i in range(0, len(x), batch)])

        def get_next(self):
            return next(self._it, None)

    return Reader()


@register("backend", "ort_static_qdq")
class OrtStaticInt8:
    """Static INT8 in QDQ format: per-channel int8 weights, uint8 activations, MinMax ranges."""

    precision, method = "int8", "ptq"

    @staticmethod
    def check(job: Job) -> str | None:
        return None

    @staticmethod
    def quantize(job: Job) -> Path:
        import onnx
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        from runner.onnx_utils import graph_inputs, input_batch

        n, have = job.cfg.method.calibration_samples, len(job.splits.x_calib)
        if n < 1 or n > have:
            raise ValueError(
                f"method.calibration_samples={n} but the calibration split holds {have}; "
                f"set method.calibration_samples between 1 and {have}"
            )
        pre = job.out_dir / "preprocessed.onnx"
        quant_pre_process(str(job.baseline_onnx), str(pre), skip_symbolic_shape=True)
        base = onnx.load(str(job.baseline_onnx), load_external_data=False)
        x, fixed = job.splits.x_calib[:n], input_batch(base)
        if fixed:  # a user's model with a fixed batch size is fed exactly that many at a time
            x = job.splits.x_calib[: max(fixed, n // fixed * fixed)]
        reader = _calibration_reader(x, graph_inputs(base)[0].name, fixed or 16)
        log.info("calibrating static INT8 ranges on %d samples", n)
        out = job.out_dir / "model.onnx"
        quantize_static(
            str(pre),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=job.cfg.method.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        pre.unlink()
        job.details["calibration_samples"] = n
        return out


@register("backend", "ort_int4_matmulnbits")
class OrtInt4WeightOnly:
    """INT4 weight-only (block-wise, round-to-nearest) through MatMulNBits; convs stay FP32."""

    precision, method = "int4", "ptq"

    @staticmethod
    def check(job: Job) -> str | None:
        import onnx

        ops = {n.op_type for n in onnx.load(str(job.baseline_onnx)).graph.node}
        if not ops & {"MatMul", "Gemm"}:
            return "no MatMul/Gemm layer: ONNX Runtime has INT4 kernels only for MatMul weights"
        return None

    @staticmethod
    def quantize(job: Job) -> Path:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            DefaultWeightOnlyQuantConfig,
            MatMulNBitsQuantizer,
        )

        from runner.onnx_utils import gemm_to_matmul

        model = onnx.load(str(job.baseline_onnx))
        job.details["gemm_rewritten"] = gemm_to_matmul(model)
        block = job.cfg.precision.int4_block_size
        algo = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=False)
        quant = MatMulNBitsQuantizer(model, algo_config=algo)
        quant.process()
        out = job.out_dir / "model.onnx"
        onnx.save(quant.model.model, str(out))
        job.details.update(int4_block_size=block, int4_algorithm="rtn", int4_symmetric=False)
        return out
