"""ONNX Runtime post-training backends: FP32 (the export itself), FP16, static INT8, INT4."""

from __future__ import annotations

import logging
from pathlib import Path

from runner.backends import Backend, Job
from runner.core.registry import register

log = logging.getLogger(__name__)


@register("backend", "ort_fp32")
class OrtFp32(Backend):
    """The exported FP32 model, unchanged: the baseline as a candidate row. Its artifact is the
    cached baseline itself (a job folder holds no copy: a language model's is 540 MB)."""

    precision, method = "fp32", "ptq"

    @staticmethod
    def quantize(job: Job) -> Path:
        return Path(job.baseline_onnx)


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
    """ONNX Runtime's recommended pre-processing (shape inference, graph optimization); done
    once for jobs that share `job.reuse` (a per-layer sensitivity pass)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from runner.core.onnx_utils import drop_weight_shapes

    if job.reuse is not None and "preprocessed" in job.reuse:
        return job.reuse["preprocessed"]
    pre = job.out_dir / "preprocessed.onnx"
    quant_pre_process(str(job.baseline_onnx), str(pre), skip_symbolic_shape=True)
    drop_weight_shapes(pre)
    if job.reuse is not None:
        job.reuse["preprocessed"] = pre
    return pre


def _drop_preprocessed(job: Job, pre: Path) -> None:
    """Remove the pre-processed graph unless other jobs share it."""
    if job.reuse is None:
        pre.unlink()


def layer_selection(job: Job, model, ops: tuple[str, ...]) -> dict[str, list[str]]:
    """quantize_static/_dynamic's node lists: `job.only` (sensitivity: these layers only) and
    `model.keep_float` (mixed precision: these stay float), checked against the graph."""
    names = {n.name for n in model.graph.node if n.op_type in ops}
    out: dict[str, list[str]] = {}
    if job.only is not None:
        if missing := [n for n in job.only if n not in names]:
            raise RuntimeError(f"layers to quantize are not in the pre-processed graph: {missing}")
        out["nodes_to_quantize"] = list(job.only)
    if job.cfg.model.keep_float:
        keep = matching(model, ops, list(job.cfg.model.keep_float))
        if not keep:
            raise ValueError(
                f"model.keep_float={list(job.cfg.model.keep_float)} matches no {'/'.join(ops)} "
                "layer of the model; use node names (or parts of them) that `python -m "
                "runner.sensitivity` lists"
            )
        out["nodes_to_exclude"] = keep
        job.details["keep_float_layers"] = keep
    return out


@register("backend", "ort_static_qdq")
class OrtStaticInt8(Backend):
    """Static INT8 in QDQ format: per-channel int8 weights, uint8 activations, MinMax ranges."""

    precision, method = "int8", "ptq"

    @staticmethod
    def check(job: Job) -> str | None:
        import onnx

        from runner.core.batches import rows
        from runner.core.lm_graph import PAST

        if rows(job.splits.x_calib) == 0:
            return "static INT8 needs calibration data: dataset.calib_fraction is 0"
        model = onnx.load(str(job.baseline_onnx), load_external_data=False)
        if any(i.name.startswith(PAST) for i in model.graph.input):
            return (
                "static INT8 ranges are not calibrated for a KV-cache decoder; use "
                "method.backend=ort_int8_matmulnbits (weight-only) or ort_dynamic_int8"
            )
        return None

    @staticmethod
    def quantize(job: Job) -> Path:
        import onnx
        from onnxruntime.quantization import quantize_static

        from runner.core import batches
        from runner.core.onnx_utils import graph_inputs, input_batch

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
        reader = batches.calibration_reader(x, graph_inputs(base)[0].name, fixed or 16)
        log.info("calibrating static INT8 ranges on %d samples", n)
        out = job.out_dir / "model.onnx"
        chosen = layer_selection(job, onnx.load(str(pre), load_external_data=False), QUANT_OPS)
        quantize_static(str(pre), str(out), reader, **int8_settings(job, static=True), **chosen)
        _drop_preprocessed(job, pre)
        job.details["calibration_samples"] = n
        return out


def _matmul_check(job: Job) -> str | None:
    import onnx

    model = onnx.load(str(job.baseline_onnx), load_external_data=False)
    if not {n.op_type for n in model.graph.node} & {"MatMul", "Gemm"}:
        return "no MatMul/Gemm layer: ONNX Runtime's weight-only kernels take MatMul weights only"
    return None


@register("backend", "ort_int4_matmulnbits")
class OrtInt4WeightOnly(Backend):
    """INT4 weight-only (block-wise: rtn, hqq, gptq or k_quant) through MatMulNBits; convs
    stay FP32; `model.int8_layers` are stored at 8 bits (mixed precision)."""

    precision, method = "int4", "ptq"
    check = staticmethod(_matmul_check)

    @staticmethod
    def quantize(job: Job) -> Path:
        return weight_only(job, 4)


@register("backend", "ort_int8_matmulnbits")
class OrtInt8WeightOnly(Backend):
    """INT8 weight-only through MatMulNBits (bits=8, block-wise, symmetric by default): the
    fast INT8 path for language-model decode, where weights, not activations, cost the time."""

    precision, method = "int8", "ptq"
    check = staticmethod(_matmul_check)

    @staticmethod
    def quantize(job: Job) -> Path:
        return weight_only(job, 8)


def weight_only_settings(job: Job, bits: int) -> dict:
    """Algorithm, block, symmetry, zero points and accuracy_level of a MatMulNBits job
    (precision.* wins, else the target's quant settings, else the task's default: float
    zero points for a language model); what is returned is what the record says was used."""
    from runner.targets import quant_settings

    p, q = job.cfg.precision, quant_settings(job.cfg.target)
    algo = p.int4_algorithm if bits == 4 else "rtn"
    if algo in ("hqq", "gptq"):  # both fit zero points: asymmetric by construction
        sym = False
    elif p.symmetric is not None:
        sym = p.symmetric
    else:
        sym = q["int4_symmetric"] if bits == 4 else True
    level = q["accuracy_level"] if p.accuracy_level is None else p.accuracy_level
    zero = None  # round-to-nearest asymmetric blocks: integer or float zero points
    if algo == "rtn" and not sym:
        lm = job.cfg.model.task == "language_modeling"
        zero = p.zero_point or ("float" if lm else "int")
    return {
        "bits": bits,
        "algorithm": algo,
        "block_size": p.int4_block_size,
        "symmetric": sym,
        "zero_point": zero,
        "accuracy_level": level,
    }


QUANT_OPS = ("MatMul", "Gemm", "Conv")  # the layers INT8 quantizes (and sensitivity ranks)


def matching(model, ops: str | tuple[str, ...], patterns: list[str]) -> list[str]:
    """Names of the `ops` nodes that one of `patterns` names (backends.matches)."""
    from runner.backends import matches

    ops = (ops,) if isinstance(ops, str) else ops
    nodes = [n for n in model.graph.node if n.op_type in ops]
    return [n.name for n in nodes if matches(n.name, patterns)]


def weight_only(job: Job, bits: int) -> Path:
    """Quantize every MatMul weight to `bits` through MatMulNBits, except `model.keep_float`
    (kept float) and, in an INT4 model, `model.int8_layers` (8 bits); the token embedding
    becomes GatherBlockQuantized (sharing a tied lm_head's table where it can)."""
    import onnx

    from runner.core.onnx_utils import fold_transposed_weights, gemm_to_matmul, weighted_nodes

    s = weight_only_settings(job, bits)
    model = onnx.load(str(job.baseline_onnx))
    job.details["gemm_rewritten"] = gemm_to_matmul(model)
    job.details["untied_weights"] = fold_transposed_weights(model)
    m = job.cfg.model
    # MatMuls with a weight: attention's activation x activation MatMuls are never named
    names = {n.name for n in model.graph.node if n.op_type == "MatMul"} & weighted_nodes(model)
    keep = [n for n in matching(model, "MatMul", list(m.keep_float)) if n in names]
    eight = matching(model, "MatMul", list(m.int8_layers)) if bits == 4 else []
    eight = [n for n in eight if n in names and n not in keep]
    if job.only is not None:  # sensitivity: these layers at `bits`, every other MatMul float
        if missing := [n for n in job.only if n not in names]:
            raise RuntimeError(f"layers to quantize are not MatMuls of the graph: {missing}")
        keep, eight = sorted(names - set(job.only)), []
        if s["algorithm"] == "gptq":  # one GPTQ pass per layer would cost a pass per unit
            s["algorithm"] = "rtn"
    log.info(
        "weight-only INT%d: %s, block %d, symmetric %s, accuracy_level %d%s%s",
        bits,
        s["algorithm"],
        s["block_size"],
        s["symmetric"],
        s["accuracy_level"],
        f", {len(keep)} layer(s) kept float" if keep else "",
        f", {len(eight)} layer(s) at 8 bits" if eight else "",
    )
    model = _quantize_layers(job, model, s, sorted(names - set(keep) - set(eight)), keep, eight)
    stored = _stored_bits(model)  # what the graph holds, not what was asked for
    if missing := [n for n in eight if stored.get(n) != 8]:
        raise RuntimeError(f"layers meant for 8 bits are not stored at 8 bits: {missing}")
    out = job.out_dir / "model.onnx"
    onnx.save(model, str(out), save_as_external_data=model.ByteSize() > 2**31 - 2**26)
    job.details.update(
        weight_only=s,
        keep_float_layers=keep,
        int8_layers=eight,
        int4_block_size=s["block_size"],
        int4_algorithm=s["algorithm"],
        int4_symmetric=s["symmetric"],
        quantize_settings={"accuracy_level": s["accuracy_level"], "symmetric": s["symmetric"]},
    )
    return out


def _quantize_layers(job: Job, model, s: dict, rest: list, keep: list, eight: list):
    """`rest` at the job's bits by its algorithm, `eight` at 8 bits, a language model's token
    embedding quantized (sharing a tied lm_head's table), scales stored float16; returns the
    graph (encoders keep their embedding tables: position tables at 4 bits are untested)."""
    from runner.backends import gptq, nbits

    bits, level = s["bits"], s["accuracy_level"]
    embeds = nbits.tables(model)  # token embeddings, and the lm_head each one is tied to
    ties = {g: nbits.tied(model, t) for g, t in embeds.items()}
    packed: dict = {}  # layers the project's packer wrote (llama.cpp's block rules)
    if s["algorithm"] == "gptq":
        model = gptq.calibrated(job, model, s["block_size"], keep + eight)
    elif s["algorithm"] == "rtn" and (s["symmetric"] or s["zero_point"] == "float"):
        mode = "symmetric" if s["symmetric"] else "float"
        packed = nbits.replace(model, dict.fromkeys(rest, (bits, mode)), s["block_size"], level)
    else:
        model = _nbits(model, bits, s, exclude=keep + eight)
    if eight:  # mixed precision: the named layers at 8 bits, symmetric (Q8_0's rule)
        plan = dict.fromkeys(eight, (8, "symmetric"))
        packed |= nbits.replace(model, plan, s["block_size"], level)
    set_accuracy_level(model, level)
    m = job.cfg.model  # a sensitivity probe quantizes its layers only; language models only
    if job.only is None and m.task == "language_modeling":
        job.details["embedding"] = nbits.embeddings(model, embeds, ties, packed, bits, m, s)
    job.details["float16_scales"] = nbits.half_scales(model)
    return model


def _stored_bits(model) -> dict[str, int]:
    """Original MatMul name -> bits of the MatMulNBits node that replaced it."""
    from onnx import helper

    out = {}
    for n in model.graph.node:
        if n.op_type == "MatMulNBits":
            bits = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "bits"), 4)
            for name in n.name.rsplit("_Q", 1)[0].split("+"):  # layers fused side by side
                out[name] = int(bits)
    return out


def _nbits(model, bits: int, s: dict, exclude=(), only=None):
    """ONNX Runtime's MatMulNBitsQuantizer over the MatMuls (`only` these, if given)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    skip = list(exclude)
    if only is not None:
        skip = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in only]
    quant = MatMulNBitsQuantizer(
        model,
        bits=bits,
        block_size=s["block_size"],
        is_symmetric=s["symmetric"],
        nodes_to_exclude=skip,
        algo_config=_algorithm(s["algorithm"], bits, s["block_size"], s["symmetric"]),
    )
    quant.process()
    return quant.model.model


def set_accuracy_level(model, level: int) -> int:
    """Set MatMulNBits' compute type (4 = int8 on CPU) on every such node; return how many.

    Done on the finished graph so every algorithm (RTN, HQQ, GPTQ, k-quant) gets the same.
    """
    from onnx import helper

    nodes = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    for node in nodes if level else []:
        kept = [a for a in node.attribute if a.name != "accuracy_level"]
        del node.attribute[:]
        node.attribute.extend([*kept, helper.make_attribute("accuracy_level", level)])
    return len(nodes) if level else 0


def _algorithm(name: str, bits: int, block: int, symmetric: bool = False):
    """ONNX Runtime's weight-only config for `precision.int4_algorithm`."""
    from onnxruntime.quantization import matmul_nbits_quantizer as mnb

    if name == "rtn":
        return mnb.DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=symmetric, bits=bits)
    if name == "hqq":
        return mnb.HQQWeightOnlyQuantConfig(block_size=block, bits=bits)
    if name == "k_quant":
        return mnb.KQuantWeightOnlyQuantConfig()
    raise ValueError(f"precision.int4_algorithm={name} is unknown; use rtn, hqq, gptq or k_quant")


@register("backend", "ort_dynamic_int8")
class OrtDynamicInt8(Backend):
    """Dynamic INT8: int8 per-channel weights, activations quantized on the fly per batch.

    The method of choice for transformers on CPU (no calibration set, no activation-range
    errors on variable inputs); the weights are QInt8 after ONNX Runtime's shape pre-processing.
    """

    precision, method = "int8", "ptq"

    @staticmethod
    def quantize(job: Job) -> Path:
        import onnx
        from onnxruntime.quantization import quantize_dynamic

        pre = _preprocessed(job)
        out = job.out_dir / "model.onnx"
        settings = int8_settings(job, static=False)
        chosen = layer_selection(job, onnx.load(str(pre), load_external_data=False), QUANT_OPS)
        quantize_dynamic(str(pre), str(out), **settings, **chosen)
        _drop_preprocessed(job, pre)
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
