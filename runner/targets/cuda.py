"""NVIDIA GPUs through ONNX Runtime's CUDA provider."""

from __future__ import annotations

from runner.registry import register
from runner.schema import TargetConfig


@register("target", "cuda")
def unavailable(cfg: TargetConfig) -> str | None:
    """None when ONNX Runtime can use a CUDA device here, else why not."""
    import onnxruntime as ort

    if cfg.provider not in ort.get_available_providers():
        return (
            f"target cuda needs {cfg.provider}, which this onnxruntime build lacks "
            "(no GPU, or install onnxruntime-gpu on a CUDA host)"
        )
    return None
