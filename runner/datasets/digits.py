"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): no network."""

from __future__ import annotations

import numpy as np

from runner.core.config import DatasetConfig
from runner.core.registry import register
from runner.datasets import Splits, split_indices


@register("dataset", "digits")
def load(cfg: DatasetConfig) -> Splits:
    """Images scaled to [0, 1] as float32 NCHW, with fixed non-overlapping splits."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None, :, :]
    y = data.target.astype(np.int64)
    tr, ca, va = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    return Splits(x[tr], y[tr], x[ca], x[va], y[va], num_classes=10)
