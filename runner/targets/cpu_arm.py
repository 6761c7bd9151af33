"""Arm64 CPUs through ONNX Runtime's CPU provider: u8 activations per tensor, s8 weights.

Also the `arm_board_4gb` device profile (a 4-core Arm board with 4 GB): the same target with
budgets. A profile is an example of budgets, not a measurement of that board.
"""

from __future__ import annotations

import platform
from typing import Any

from runner.core.config import TargetConfig
from runner.core.registry import register
from runner.targets import Target

FEATURES = ("asimddp", "i8mm", "sve", "bf16")  # dot-product, int8 matmul, SVE, bf16


class CpuArm(Target):
    """An Arm64 host; the record lists the int8 dot-product features it has."""

    name = "cpu_arm"

    def unavailable(self, cfg: TargetConfig) -> str | None:
        machine = platform.machine().lower()
        if machine in ("aarch64", "arm64"):
            return None
        return f"target {cfg.name} needs an Arm64 host; this host is {machine}"

    def notes(self, cfg: TargetConfig, flags: frozenset[str]) -> dict[str, Any]:
        return {"cpu_features": [f for f in FEATURES if f in flags]}


TARGET = register("target", "cpu_arm")(CpuArm())
register("target", "arm_board_4gb")(TARGET)
