"""scikit-learn's bundled diabetes data (442 patients, 10 features): regression, no network."""

from __future__ import annotations

import numpy as np

from runner.core.config import DatasetConfig
from runner.core.registry import register
from runner.datasets import Splits, split_indices


@register("dataset", "diabetes")
def load(cfg: DatasetConfig) -> Splits:
    """Standardized features (as scikit-learn ships them) and the disease-progression target."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x = data.data.astype(np.float32)
    y = data.target.astype(np.float32)
    tr, ca, va = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    return Splits(x[tr], y[tr], x[ca], x[va], y[va], num_classes=1)
