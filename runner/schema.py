"""Typed configuration: one dataclass per Hydra config group, validated before any job runs.

YAML files under conf/ only pick options and values; the types and the allowed keys live here,
so a misspelt key or a badly typed value fails at composition time with Hydra's own message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class ModelConfig:
    """Where the FP32 model comes from and how the embedded one is trained."""

    name: str = MISSING
    task: str = "classification"
    channels: int = 64
    train_epochs: int = 12
    train_lr: float = 2e-3
    train_batch: int = 32
    seed: int = 0


@dataclass
class DatasetConfig:
    """The data splits: train (for QAT), calibration (for static PTQ) and validation."""

    name: str = MISSING
    train_fraction: float = 0.6
    calib_fraction: float = 0.1
    seed: int = 0


@dataclass
class PrecisionConfig:
    """The numeric format the weights (and activations where applicable) are stored in."""

    name: str = MISSING
    bits: int = 32
    int4_block_size: int = 32


@dataclass
class MethodConfig:
    """How the model reaches the precision: post-training (PTQ) or quantization-aware (QAT)."""

    name: str = MISSING
    calibration_samples: int = 128
    per_channel: bool = True
    qat_epochs: int = 2
    qat_lr: float = 1e-4


@dataclass
class TargetConfig:
    """A hardware target: the runtime that executes the model and how it is timed."""

    name: str = MISSING
    arch: str = "x86_64"
    provider: str = "CPUExecutionProvider"
    threads: int = 1
    batch: int = 1
    max_latency_ms: float | None = None
    max_memory_mb: float | None = None


@dataclass
class TrackingConfig:
    """Experiment tracking: none, or Weights & Biases (offline unless logged in)."""

    name: str = "none"
    project: str = "quant-sweep"
    mode: str = "auto"


@dataclass
class LatencyConfig:
    """Latency protocol shared by baseline and candidate: warm-up, then runs or seconds."""

    warmup: int = 20
    min_runs: int = 50
    min_seconds: float = 2.0
    memory_probe: bool = True


@dataclass
class SummaryConfig:
    """The decision rule: relative metric drops that still ship / deserve QAT, and the goal."""

    objective: str = "latency"  # latency | size | memory
    ship_below: float = 0.01
    qat_below: float = 0.03
    min_speedup: float = 1.05  # slower than this counts as "no gain"


@dataclass
class Config:
    """The whole job: one point of the model x dataset x precision x method x target grid."""

    model: ModelConfig = MISSING
    dataset: DatasetConfig = MISSING
    precision: PrecisionConfig = MISSING
    method: MethodConfig = MISSING
    target: TargetConfig = MISSING
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    cache_dir: str = "outputs/cache"
    seed: int = 0
    # Threads torch may use to train, fine-tune (QAT) and export. 1 by default: torch's OpenMP
    # workers spin-wait, and slow down many-fold when anything else shares the CPU.
    torch_threads: int = 1
    # Test hook: make the quantize step fail on purpose ("raise"), to prove isolation.
    fault: str | None = None


PRECISIONS = ("fp32", "fp16", "int8", "int4")
METHODS = ("ptq", "qat")


def register_configs() -> None:
    """Store the typed schema in Hydra's ConfigStore so conf/config.yaml can extend it."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)


def to_config(cfg: Any) -> Config:
    """Turn the composed DictConfig into the typed dataclass tree."""
    from omegaconf import OmegaConf

    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config)
    return obj
