"""x86-64 CPUs through ONNX Runtime's CPU provider, quantized for the host's INT8 kernels.

Without VNNI, x86 multiplies u8 x s8 with vpmaddubsw, whose 16-bit intermediate sums can
saturate: ONNX Runtime's answer is `reduce_range` (7-bit weights). With VNNI (AVX512-VNNI,
AVX-VNNI) or AMX the products accumulate in 32 bits and full-range weights are safe.
"""

from __future__ import annotations

import platform
from typing import Any

from runner.core.config import TargetConfig
from runner.core.registry import register
from runner.targets import Target

# CPU flag -> the INT8 GEMM path ONNX Runtime's MLAS takes with it, best first.
INT8_KERNELS = (
    ("amx_int8", "AMX-INT8 tiles"),
    ("avx512_vnni", "AVX512-VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx512bw", "AVX512BW without VNNI (16-bit intermediate sums)"),
    ("avx2", "AVX2 without VNNI (16-bit intermediate sums)"),
)
VNNI = ("amx_int8", "avx512_vnni", "avx_vnni")
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "avx512_bf16")


def int8_kernels(flags: frozenset[str]) -> str:
    """The INT8 kernel family a CPU with `flags` runs, in words."""
    return next((words for flag, words in INT8_KERNELS if flag in flags), "SSE (no AVX2)")


def has_vnni(flags: frozenset[str]) -> bool:
    """Whether u8 x s8 products accumulate in 32 bits (VNNI or AMX): no saturation."""
    return any(f in flags for f in VNNI)


def x86_unavailable(name: str) -> str | None:
    """None on an x86-64 host, else why target `name` cannot run here."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return None
    return f"target {name} needs an x86-64 host; this host is {machine}"


class CpuX86(Target):
    """The host's own x86 CPU: reduce_range=auto turns on only where VNNI is missing."""

    name = "cpu_x86"

    def unavailable(self, cfg: TargetConfig) -> str | None:
        return x86_unavailable(cfg.name)

    def settings(self, cfg: TargetConfig, flags: frozenset[str]) -> dict[str, Any]:
        q = super().settings(cfg, flags)
        if str(cfg.quant.reduce_range).lower() == "auto":
            q["reduce_range"] = not has_vnni(flags)
        return q

    def notes(self, cfg: TargetConfig, flags: frozenset[str]) -> dict[str, Any]:
        return {
            "cpu_features": [f for f in FEATURES if f in flags],
            "int8_kernels": int8_kernels(flags),
        }


TARGET = register("target", "cpu_x86")(CpuX86())
