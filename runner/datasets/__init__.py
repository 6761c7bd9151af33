"""Data sources: each module registers a loader returning train / calibration / validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Splits:
    """Non-overlapping splits; x arrays are model inputs, y arrays the labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_calib: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    # Class names in label order, where the data names them (text labels): a model that
    # names its own classes (a save_pretrained classifier) maps the labels by name.
    classes: list[str] | None = None

    def fingerprint(self) -> str:
        """Content hash of the validation data, part of the baseline cache key."""
        import hashlib

        h = hashlib.sha256()
        for part in (self.x_train, self.y_train, self.x_calib, self.x_val, self.y_val):
            for a in [part[k] for k in sorted(part)] if isinstance(part, dict) else [part]:
                a = np.asarray(a)
                h.update(
                    _object_bytes(a) if a.dtype == object else np.ascontiguousarray(a).tobytes()
                )
        return h.hexdigest()[:16]


def _object_bytes(a: np.ndarray) -> bytes:
    """An object array's content: texts as text, per-sample arrays (boxes) as their bytes."""
    if any(isinstance(e, np.ndarray) for e in a.ravel()):
        return b"\x00".join(np.ascontiguousarray(e).tobytes() for e in a.ravel())
    return "\x00".join(map(str, a.tolist())).encode()


def split_indices(n: int, train: float, calib: float, seed: int) -> tuple[np.ndarray, ...]:
    """Shuffle 0..n-1 with a fixed seed and cut it into disjoint train/calib/val index sets."""
    if not (0 <= train < 1 and 0 <= calib < 1 and train + calib < 1):
        raise ValueError(
            f"dataset.train_fraction={train} and dataset.calib_fraction={calib} must be in [0, 1)"
            " and leave room for validation; fix them in the dataset config"
        )
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_calib = int(n * train), int(n * calib)
    return order[:n_train], order[n_train : n_train + n_calib], order[n_train + n_calib :]


def empty_split(cfg, *parts) -> bool:
    """Whether a split the config asks for came out empty (train, calibration, validation):
    a fraction of 0 asks for none (runner.validate: every sample is validation)."""
    wanted = (cfg.train_fraction > 0, cfg.calib_fraction > 0, True)
    return any(want and len(part) == 0 for want, part in zip(wanted, parts, strict=True))
