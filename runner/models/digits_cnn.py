"""The embedded default: a small CNN trained on the digits dataset on first use, then cached.

Three 3x3 convolutions (64-128-128 channels) and a 256-unit MLP head: large enough that INT8
kernels beat FP32 at batch 1 on a laptop-class CPU, small enough to train in seconds.
"""

from __future__ import annotations

from pathlib import Path

from runner.core.config import ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel, train_or_load


def build(channels: int, num_classes: int = 10):
    """The architecture; the names are what a state_dict checkpoint refers to."""
    from torch import nn

    c = channels
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c, 2 * c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * c, 2 * c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * c * 4, 256),
        nn.ReLU(),
        nn.Linear(256, num_classes),
    )


@register("arch", "digits_cnn")
def build_arch(cfg: ModelConfig, splits: Splits):
    """The architecture for a torch_file state_dict: `model.channels`, one output per class."""
    return build(cfg.channels, splits.num_classes)


@register("model", "digits_cnn")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """Train once per (architecture, schedule, data) and reuse the cached weights after."""
    import torch

    torch.manual_seed(cfg.seed)
    model = build(cfg.channels, splits.num_classes)
    weights = train_or_load("digits_cnn", model, cfg, splits, cache_dir)
    example = torch.as_tensor(splits.x_val[:2])
    return LoadedModel(module=model, example_input=example, fingerprint=weights)
