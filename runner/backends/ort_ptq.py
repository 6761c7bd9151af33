"""ONNX Runtime post-training backends: FP32 (the export itself), FP16, static INT8, INT4."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from runner.backends import Backend, Job
from runner.registry import register

log = logging.getLogger(__name__)


@register("backend", "ort_fp32")
class OrtFp32(Backend):
    """The exported FP32 model, unchanged: the baseline as a candidate row."""

    precision, method = "fp32", "ptq"

    @staticmethod
    def quantize(job: Job) -> Path:
        out = job.out_dir / "model.onnx"
        shutil.copyfile(job.baseline_onnx, out)
        return out


@register("backend", "ort_fp16")
class OrtFp16(Backend):
    """Weights and compute in float16, inputs and outputs kept float32 for the caller."""

    precision, method = "fp16", "ptq"

    @staticmethod
    def quantize(job: Job) -> Path:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(job.baseline_onnx)), keep_io_types=True)
        out = job.out_dir / "model.onnx"
        onnx.save(model, str(out))
        return out


def _preprocessed(job: Job) -> Path:
    """ONNX Runtime's recommended pre-processing (shape inference, graph optimization)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = job.out_dir / "preprocessed.onnx"
    quant_pre_process(str(job.baseline_onnx), str(pre), skip_symbolic_shape=True)
    return pre


def _calibration_reader(x, input_name: str, batch: int = 16):
    """Feeds the calibration split to ONNX Runtime's calibrator in small batches."""
    from onnxruntime.quantization import CalibrationDataReader

    from runner import batches

    def chunk(i: int) -> dict:
        part = batches.take(x, slice(i, i + batch))
        return part if isinstance(part, dict) else {input_name: part}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([chunk(i) for i in range(0, batches.rows(x), batch)])

        def get_next(self):
            return next(self._it, None)

    return Reader()


@register("backend", "ort_static_qdq")
class OrtStaticInt8(Backend):
    """Static INT8 in QDQ format: per-channel int8 weights, uint8 activations, MinMax ranges."""

    precision, method = "int8", "ptq"

    @staticmethod
    def quantize(job: Job) -> Path:
        import onnx
        from onnxruntime.quantization import quantize_static

        from runner import batches
        from runner.onnx_utils import graph_inputs, input_batch

        n, have = job.cfg.method.calibration_samples, batches.rows(job.splits.x_calib)
        if n > have:  # a small folder: calibrate on all of it, and say so in the record
            job.details.setdefault("warnings", []).append(
                f"calibrated on all {have} samples of the calibration split, fewer than "
                f"method.calibration_samples={n}; add data or raise dataset.calib_fraction "
                "for steadier ranges"
            )
            n = have
        pre = _preprocessed(job)
        base = onnx.load(str(job.baseline_onnx), load_external_data=False)
        x, fixed = batches.take(job.splits.x_calib, slice(0, n)), input_batch(base)
        if fixed:  # a user's model with a fixed batch size is fed exactly that many at a time
            x = batches.take(job.splits.x_calib, slice(0, max(fixed, n // fixed * fixed)))
        reader = _calibration_reader(x, graph_inputs(base)[0].name, fixed or 16)
        log.info("calibrating static INT8 ranges on %d samples", n)
        out = job.out_dir / "model.onnx"
        quantize_static(str(pre), str(out), reader, **int8_settings(job, static=True))
        pre.unlink()
        job.details["calibration_samples"] = n
        return out


@register("backend", "ort_int4_matmulnbits")
class OrtInt4WeightOnly(Backend):
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
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        from runner.onnx_utils import gemm_to_matmul

        model = onnx.load(str(job.baseline_onnx))
        job.details["gemm_rewritten"] = gemm_to_matmul(model)
        from runner.targets import quant_settings

        p, q = job.cfg.precision, quant_settings(job.cfg.target)
        sym = q["int4_symmetric"] and p.int4_algorithm == "rtn"  # HQQ and GPTQ: asymmetric
        log.info(
            "INT4 weight-only: %s, block %d, symmetric %s", p.int4_algorithm, p.int4_block_size, sym
        )
        if p.int4_algorithm == "gptq":
            model = _gptq(job, model, p.int4_block_size)
        else:
            algo = _int4_algorithm(p.int4_algorithm, p.int4_block_size, sym)
            quant = MatMulNBitsQuantizer(
                model, block_size=p.int4_block_size, is_symmetric=sym, algo_config=algo
            )
            quant.process()
            model = quant.model.model
        set_accuracy_level(model, q["accuracy_level"])
        out = job.out_dir / "model.onnx"
        onnx.save(model, str(out))
        job.details.update(
            int4_block_size=p.int4_block_size,
            int4_algorithm=p.int4_algorithm,
            int4_symmetric=sym,
            quantize_settings={"accuracy_level": q["accuracy_level"], "symmetric": sym},
        )
        return out


def set_accuracy_level(model, level: int) -> int:
    """Set MatMulNBits' compute type (4 = int8 on CPU) on every such node; return how many.

    Done on the finished graph so every INT4 algorithm (RTN, HQQ, GPTQ) gets the target's.
    """
    from onnx import helper

    nodes = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    for node in nodes if level else []:
        kept = [a for a in node.attribute if a.name != "accuracy_level"]
        del node.attribute[:]
        node.attribute.extend([*kept, helper.make_attribute("accuracy_level", level)])
    return len(nodes) if level else 0


def _int4_algorithm(name: str, block: int, symmetric: bool = False):
    """ONNX Runtime's weight-only config for `precision.int4_algorithm`."""
    from onnxruntime.quantization import matmul_nbits_quantizer as mnb

    if name == "rtn":
        return mnb.DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=symmetric)
    if name == "hqq":
        return mnb.HQQWeightOnlyQuantConfig(block_size=block, bits=4)
    raise ValueError(f"precision.int4_algorithm={name} is unknown; use rtn, hqq or gptq")


def _gptq(job: Job, model, block: int):
    """GPTQ on the calibration split (runner.gptq: ORT's pipeline, corrected rounding)."""
    from runner import batches, gptq
    from runner.onnx_utils import graph_inputs, input_batch

    x = job.splits.x_calib
    if job.cfg.model.task == "language_modeling":  # 256-token chunks in one batch: ORT's
        ids = x["input_ids"]  # GPTQ runs the whole model once per MatMul input and batch
        chunks = max(1, job.cfg.precision.gptq_tokens // 256)
        cut = ids[:, : ids.shape[1] // 256 * 256].reshape(-1, 256)[:chunks]
        x = {"input_ids": np.ascontiguousarray(cut)}
    n = min(job.cfg.method.calibration_samples, batches.rows(x))
    x = batches.take(x, slice(0, n))
    fixed = input_batch(model)  # an export with a static batch dimension takes only that
    reader = _calibration_reader(x, graph_inputs(model)[0].name, batch=fixed or n)
    log.info("GPTQ: Hessians from %d calibration samples", n)
    job.details["gptq_calibration_samples"] = n
    return gptq.quantize(model, reader, block)


@register("backend", "ort_dynamic_int8")
class OrtDynamicInt8(Backend):
    """Dynamic INT8: int8 per-channel weights, activations quantized on the fly per batch.

    The method of choice for transformers on CPU (no calibration set, no activation-range
    errors on variable inputs); the weights are QInt8 after ONNX Runtime's shape pre-processing.
    """

    precision, method = "int8", "ptq"

    @staticmethod
    def quantize(job: Job) -> Path:
        from onnxruntime.quantization import quantize_dynamic

        pre = _preprocessed(job)
        out = job.out_dir / "model.onnx"
        settings = int8_settings(job, static=False)
        quantize_dynamic(str(pre), str(out), **settings)
        pre.unlink()
        job.details["dynamic_per_channel"] = settings["per_channel"]
        return out


def int8_settings(job: Job, *, static: bool) -> dict:
    """quantize_static/_dynamic keyword arguments from the target's settings (recorded).

    Dynamic INT8 quantizes activations to uint8 at run time, whatever the target says.
    """
    from onnxruntime.quantization import QuantFormat, QuantType

    from runner.targets import quant_settings

    q = quant_settings(job.cfg.target)
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    per_channel = job.cfg.method.per_channel if q["per_channel"] is None else q["per_channel"]
    used = {"per_channel": per_channel, "reduce_range": q["reduce_range"]}
    used["weight_type"] = q["weight_type"]
    extra = {"WeightSymmetric": q["symmetric_weights"]}
    if static:
        used.update(activation_type=q["activation_type"], format=q["format"])
        extra["ActivationSymmetric"] = q["symmetric_activations"]
    job.details["quantize_settings"] = {**used, **extra}
    kwargs = {**used, "weight_type": types[q["weight_type"]], "extra_options": extra}
    if static:
        kwargs["activation_type"] = types[kwargs["activation_type"]]
        kwargs["quant_format"] = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}[
            kwargs.pop("format")
        ]
    return kwargs
