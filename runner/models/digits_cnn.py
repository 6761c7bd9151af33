"""The embedded default: a small CNN trained on the digits dataset on first use, then cached.

Three 3x3 convolutions (64-128-128 channels) and a 256-unit MLP head: large enough that INT8
kernels beat FP32 at batch 1 on a laptop-class CPU, small enough to train in seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from runner.datasets import Splits
from runner.models import LoadedModel
from runner.registry import register
from runner.schema import ModelConfig
from runner.train import train_epochs

log = logging.getLogger(__name__)


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


@register("model", "digits_cnn")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """Train once per (architecture, schedule, data) and reuse the cached weights after."""
    import torch

    spec = {"cfg": asdict(cfg), "data": splits.fingerprint(), "torch": torch.__version__}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "models" / f"digits_cnn-{key}.pt"
    model = build(cfg.channels, splits.num_classes)
    if path.exists():
        log.info("model: cache hit %s", path.name)
        model.load_state_dict(torch.load(path, weights_only=True))
    else:
        log.info("model: training digits_cnn on %d images (first use only)", len(splits.x_train))
        torch.manual_seed(cfg.seed)
        model = build(cfg.channels, splits.num_classes)
        model.train()
        train_epochs(
            model,
            splits.x_train,
            splits.y_train,
            epochs=cfg.train_epochs,
            lr=cfg.train_lr,
            batch=cfg.train_batch,
            seed=cfg.seed,
            desc="train digits_cnn",
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
    model.eval()
    example = torch.as_tensor(splits.x_val[:2])
    weights = hashlib.sha256(path.read_bytes()).hexdigest()[:16]  # the weights, not the recipe
    return LoadedModel(module=model, example_input=example, fingerprint=weights)
