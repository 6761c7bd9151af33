"""Model sources: each module registers a loader that returns the FP32 baseline model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class LoadedModel:
    """The FP32 baseline as a torch module, plus what identifies its weights."""

    module: Any  # torch.nn.Module, kept untyped so importing this file needs no torch
    example_input: Any  # a torch tensor with batch dimension, used for export and QAT
    fingerprint: str  # content hash of the weights: part of every cache key
