"""Hardware targets: whether the host can run them, the quantization settings they imply, and
the ONNX Runtime session they time models in.

A target module registers one `Target` instance per YAML option (device profiles register the
same instance as the target they build on). The settings a backend uses come from
`quant_settings(cfg)`: the YAML's values with the "auto" ones settled for this host.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runner.core.config import TargetConfig


@functools.lru_cache(maxsize=1)
def host_cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this host (Linux /proc/cpuinfo; empty where it is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 says flags, Arm says Features
            return frozenset(value.split())
    return frozenset()


class Target:
    """Base of the targets: availability, supported backends and the settings used."""

    name = "target"

    def __call__(self, cfg: TargetConfig) -> str | None:
        """Why the target cannot run on this host, or None (the registry's calling form)."""
        return self.unavailable(cfg)

    def unavailable(self, cfg: TargetConfig) -> str | None:
        """Why the target cannot run on this host, or None."""
        return None

    def unsupported(self, cfg: TargetConfig, backend: str) -> str | None:
        """Why this target cannot time a candidate of `backend`, or None."""
        return None

    def settings(self, cfg: TargetConfig, flags: frozenset[str]) -> dict[str, Any]:
        """The quantization settings for a host with CPU `flags`: "auto" values settled."""
        q = asdict(cfg.quant)
        q["reduce_range"] = str(q["reduce_range"]).lower() == "true"
        return q

    def notes(self, cfg: TargetConfig, flags: frozenset[str]) -> dict[str, Any]:
        """What the record should say about the hardware the settings were chosen for."""
        return {}


def implementation(cfg: TargetConfig) -> Target:
    """The registered Target for `cfg.name`."""
    from runner.core import registry

    return registry.get("target", cfg.name)


def quant_settings(cfg: TargetConfig, flags: frozenset[str] | None = None) -> dict[str, Any]:
    """The target's quantization settings on this host (or on a host with `flags`)."""
    return implementation(cfg).settings(cfg, host_cpu_flags() if flags is None else flags)


def describe(cfg: TargetConfig) -> dict[str, Any]:
    """The target block of a record's details: settings, providers, kernels, host."""
    flags = host_cpu_flags()
    impl = implementation(cfg)
    return {
        "name": cfg.name,
        "providers": session_providers(cfg),
        "torch_device": cfg.torch_device,
        "threads": cfg.threads,
        "quant": impl.settings(cfg, flags),
        "host_machine": platform.machine(),
        **impl.notes(cfg, flags),
    }


def session_providers(cfg: TargetConfig, available: list[str] | None = None) -> list[str]:
    """The providers a session gets: the preferred ones this build has, then the target's own."""
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    chosen = [p for p in cfg.prefer_providers if p in available and p != cfg.provider]
    return [*chosen, cfg.provider]


def session_options(cfg: TargetConfig):
    """Session options shared by every model timed on a target: fixed threads, no spinning.

    Spinning worker threads would steal the core that the next measurement (or torch) needs.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = cfg.threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


def make_session(path: str, cfg: TargetConfig):
    """An InferenceSession for `path` on the target's providers, in preference order."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), session_options(cfg), providers=session_providers(cfg))
