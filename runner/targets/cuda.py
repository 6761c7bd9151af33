"""NVIDIA GPUs through ONNX Runtime's CUDA provider (TensorRT's first when this build has it).

INT8 is symmetric s8 QDQ, the form TensorRT builds INT8 engines from; FP16 runs on the GPU.
`session.run` returns host arrays, so every timed call includes the device-to-host copy that
waits for the GPU: the timing is synchronised. Also the `jetson_orin_nano` device profile.
"""

from __future__ import annotations

from typing import Any

from runner.core.config import TargetConfig
from runner.core.registry import register
from runner.targets import Target, session_providers

# Backends whose candidate stays a torch module run on the CPU here (QAT exports ONNX: fine).
TORCH_BACKENDS = ("torchao_int8_dynamic", "torchao_int4_weight_only")


class Cuda(Target):
    """A CUDA device through onnxruntime-gpu."""

    name = "cuda"

    def unavailable(self, cfg: TargetConfig) -> str | None:
        import onnxruntime as ort

        if cfg.provider not in ort.get_available_providers():
            return (
                f"target {cfg.name} needs {cfg.provider}, which this onnxruntime build lacks "
                "(no GPU, or install onnxruntime-gpu on a CUDA host)"
            )
        return None

    def unsupported(self, cfg: TargetConfig, backend: str) -> str | None:
        if backend in TORCH_BACKENDS:
            return (
                f"backend {backend} keeps a torch model that runs on the CPU; on {cfg.name} "
                "use an ONNX Runtime backend (method.backend=ort_...)"
            )
        return None

    def notes(self, cfg: TargetConfig, flags: frozenset[str]) -> dict[str, Any]:
        import onnxruntime as ort

        have = ort.get_available_providers()
        return {
            "tensorrt": "TensorrtExecutionProvider" in session_providers(cfg, have),
            "timing": "synchronised (outputs copied to the host each call)",
        }


TARGET = register("target", "cuda")(Cuda())
register("target", "jetson_orin_nano")(TARGET)
