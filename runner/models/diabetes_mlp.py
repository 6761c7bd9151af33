"""Embedded regression model: a small MLP trained on the diabetes data on first use, cached.

The target (disease progression, about 25..346) is learned in standardized units; a frozen
last layer maps the output back to the target's units, so the ONNX model predicts real values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runner.core.config import ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel, train_or_load


def build(features: int, hidden: int, y_mean: float = 0.0, y_std: float = 1.0):
    """Two hidden ReLU layers, then a frozen affine layer y = std * z + mean."""
    import torch
    from torch import nn

    out = nn.Linear(1, 1)
    with torch.no_grad():
        out.weight.fill_(y_std)
        out.bias.fill_(y_mean)
    out.requires_grad_(False)
    return nn.Sequential(
        nn.Linear(features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 1),
        out,
    )


@register("arch", "diabetes_mlp")
def build_arch(cfg: ModelConfig, splits: Splits):
    """The architecture for a torch_file state_dict (the frozen layer comes from the weights)."""
    return build(splits.x_val.shape[1], cfg.channels)


@register("model", "diabetes_mlp")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """Train once per (architecture, schedule, data) and reuse the cached weights after."""
    import torch

    if splits.x_train.ndim != 2 or cfg.task != "regression":
        raise ValueError(
            "diabetes_mlp is a regression model on feature vectors: use it with "
            "dataset=diabetes (or csv/jsonl) and model.task=regression"
        )
    torch.manual_seed(cfg.seed)
    y = np.asarray(splits.y_train, dtype=np.float64)
    model = build(splits.x_train.shape[1], cfg.channels, float(y.mean()), float(y.std() or 1.0))
    weights = train_or_load("diabetes_mlp", model, cfg, splits, cache_dir)
    example = torch.as_tensor(splits.x_val[:2])
    return LoadedModel(module=model, example_input=example, fingerprint=weights)
