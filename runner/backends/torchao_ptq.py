"""torchao post-training backends, run in torch (eager) on the CPU.

INT8 dynamic-activation / INT8-weight keeps language models accurate where ONNX Runtime's
dynamic INT8 does not (its per-token activation scales); INT4 is weight-only, group-wise.
The candidate stays a torch module (TorchSession); the baseline stays the ONNX FP32 export,
so the speedup compares against the same FP32 reference as every other backend.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from runner.backends import Job, matches
from runner.core.registry import register

log = logging.getLogger(__name__)


def _torch_candidate(job: Job, config) -> Path:
    """Quantize a copy of the FP32 module with a torchao config; keep it runnable in the job."""
    import torch
    from torchao.quantization import quantize_

    from runner.backends.torch_runtime import TorchLMSession, TorchSession, quantized_fraction

    keep, only = list(job.cfg.model.keep_float), job.only

    def quantize_this(m: torch.nn.Module, fqn: str) -> bool:
        if only is not None:  # sensitivity: these modules only
            return isinstance(m, torch.nn.Linear) and fqn in only
        return isinstance(m, torch.nn.Linear) and not matches(fqn, keep)

    module = copy.deepcopy(job.model.module).eval()
    quantize_(module, config, filter_fn=quantize_this)
    out = job.out_dir / "model.pt"
    torch.save(module.state_dict(), out)
    compiled = job.cfg.method.compile
    if compiled:  # Inductor: fused int8 kernels instead of eager dequantize + matmul
        log.info("torch.compile: the first calls compile the quantized model (slow once)")
        module.forward = torch.compile(module.forward, dynamic=True)
    threads = job.cfg.target.threads
    if job.cfg.model.task == "language_modeling":  # generation through the KV cache
        job.session = TorchLMSession(module, threads)
    else:
        names = list(job.splits.x_val) if isinstance(job.splits.x_val, dict) else ["input"]
        job.session = TorchSession(module, names, threads)
    job.details.update(
        runtime="torch (torch.compile)" if compiled else "torch (eager)",
        torchao_config=type(config).__name__,
        keep_float=keep,
        quantized_fraction_torch=quantized_fraction(module),
    )
    return out


def _check(job: Job) -> str | None:
    if not hasattr(job.model.module, "parameters"):
        return "torchao needs a torch model; this model source gives none"
    return None


@register("backend", "torchao_int8_dynamic")
class TorchaoInt8Dynamic:
    """INT8 weights per channel, activations quantized per token at run time (torchao)."""

    precision, method = "int8", "ptq"
    check = staticmethod(_check)

    @staticmethod
    def quantize(job: Job) -> Path:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig

        return _torch_candidate(job, Int8DynamicActivationInt8WeightConfig())


@register("backend", "torchao_int4_weight_only")
class TorchaoInt4WeightOnly:
    """INT4 weights in groups of `precision.int4_block_size` (torchao IntxWeightOnlyConfig)."""

    precision, method = "int4", "ptq"
    check = staticmethod(_check)

    @staticmethod
    def quantize(job: Job) -> Path:
        import torch
        from torchao.quantization import IntxWeightOnlyConfig
        from torchao.quantization.granularity import PerGroup

        group = job.cfg.precision.int4_block_size
        return _torch_candidate(
            job, IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(group))
        )
