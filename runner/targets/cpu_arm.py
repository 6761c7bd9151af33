"""Arm64 CPUs through ONNX Runtime's CPU provider."""

from __future__ import annotations

import platform

from runner.registry import register
from runner.schema import TargetConfig


@register("target", "cpu_arm")
def unavailable(cfg: TargetConfig) -> str | None:
    """None when this host is an Arm64 CPU, else why the target cannot run here."""
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return None
    return f"target cpu_arm needs an Arm64 host; this host is {machine}"
