"""x86-64 CPUs with AVX2 and no VNNI (Haswell to Coffee Lake, Zen 1-3): reduce_range on.

The models are quantized for that deployment CPU on whatever x86 host runs the sweep; the
latency is measured with this host's kernels, which the record names (they may be faster).
"""

from __future__ import annotations

from typing import Any

from runner.core.config import TargetConfig
from runner.core.registry import register
from runner.targets import host_cpu_flags
from runner.targets.cpu_x86 import FEATURES, CpuX86, int8_kernels


class CpuX86Avx2(CpuX86):
    """AVX2-only deployment CPUs: 7-bit weights, so u8 x s8 sums cannot saturate."""

    name = "cpu_x86_avx2"

    def unavailable(self, cfg: TargetConfig) -> str | None:
        why = super().unavailable(cfg)
        if why is None and "avx2" not in host_cpu_flags():
            return f"target {cfg.name} needs AVX2 to run its kernels; this CPU lacks it"
        return why

    def notes(self, cfg: TargetConfig, flags: frozenset[str]) -> dict[str, Any]:
        return {
            "cpu_features": [f for f in FEATURES if f in flags],
            "int8_kernels": int8_kernels(flags),
            "quantized_for": "AVX2 without VNNI (reduce_range against 16-bit saturation)",
        }


TARGET = register("target", "cpu_x86_avx2")(CpuX86Avx2())
