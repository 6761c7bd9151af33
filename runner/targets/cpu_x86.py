"""x86-64 CPUs through ONNX Runtime's CPU provider."""

from __future__ import annotations

import platform

from runner.registry import register
from runner.schema import TargetConfig


@register("target", "cpu_x86")
def unavailable(cfg: TargetConfig) -> str | None:
    """None when this host is an x86-64 CPU, else why the target cannot run here."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return None
    return f"target cpu_x86 needs an x86-64 host; this host is {machine}"
