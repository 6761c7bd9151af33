"""Paired statistics on per-sample outcomes: is a quantized model's metric really different?

Baseline and candidate are evaluated on the same validation samples, so the delta gets a
paired interval: far tighter than two independent intervals. Pure numpy (plus the standard
library's normal quantile); no I/O.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_BOOT_CHUNK = 1_000_000  # bootstrap index entries drawn per chunk, to bound memory


def _z(confidence: float) -> float:
    """Two-sided standard-normal quantile for a confidence level in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _paired(base: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two per-sample outcome arrays as a pair: same non-zero length, finite floats."""
    b = np.asarray(base, dtype=np.float64).ravel()
    c = np.asarray(cand, dtype=np.float64).ravel()
    if b.size == 0 or c.size == 0:
        raise ValueError("paired outcomes are empty: need at least one sample")
    if b.size != c.size:
        raise ValueError(
            f"paired outcomes differ in length: baseline {b.size}, candidate {c.size} "
            "(both must be evaluated on the same samples)"
        )
    if not (np.isfinite(b).all() and np.isfinite(c).all()):
        raise ValueError("paired outcomes contain NaN or infinite values")
    return b, c


def _is_binary(x: np.ndarray) -> bool:
    """True when every value is exactly 0 or 1 (per-sample correctness)."""
    return bool(np.isin(x, (0.0, 1.0)).all())


def wilson_interval(successes: int, trials: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion: well-behaved at 0 and 1, unlike Wald."""
    if trials <= 0:
        raise ValueError("Wilson interval needs at least one trial")
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_delta_ci(n10: int, n01: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """CI of the paired accuracy delta (n01 - n10) / n from the discordant-pair counts.

    Conditional on the d = n01 + n10 discordant pairs, n01 ~ Binomial(d, p) (McNemar's view);
    a Wilson score interval [p_lo, p_hi] on p maps to delta = (2p - 1) * d / n.
    """
    d = n01 + n10
    if d == 0:
        return 0.0, 0.0
    p_lo, p_hi = wilson_interval(n01, d, _z(confidence))
    return (2 * p_lo - 1) * d / n, (2 * p_hi - 1) * d / n


def _bootstrap_mean_ci(
    diff: np.ndarray, confidence: float, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(diff), seeded and drawn in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    n = diff.size
    per_chunk = max(1, _BOOT_CHUNK // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, per_chunk):
        stop = min(n_boot, start + per_chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def paired_delta_ci(
    base: np.ndarray,
    cand: np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """CI of mean(cand) - mean(base) from per-sample outcomes on the same samples.

    0/1 outcomes (correctness) use the conditional-Wilson McNemar interval (mcnemar_delta_ci);
    anything else a seeded paired percentile bootstrap. Identical outcomes give (0.0, 0.0).
    """
    b, c = _paired(base, cand)
    _z(confidence)  # validate early, also for the bootstrap path
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if np.array_equal(b, c):
        return 0.0, 0.0
    if _is_binary(b) and _is_binary(c):
        n10 = int(np.sum((b == 1) & (c == 0)))
        n01 = int(np.sum((b == 0) & (c == 1)))
        return mcnemar_delta_ci(n10, n01, b.size, confidence)
    return _bootstrap_mean_ci(c - b, confidence, n_boot, seed)


def samples_to_settle(
    base: np.ndarray,
    cand: np.ndarray,
    threshold_abs: float,
    confidence: float = 0.95,
) -> int | None:
    """Total validation samples whose CI of the delta would no longer straddle threshold_abs.

    Normal approximation with the observed per-sample spread of the paired difference:
    n = (z * sd / |delta - threshold|)^2. None when delta sits exactly on the threshold or
    the difference has no variance (more samples of the same kind cannot settle it).
    """
    b, c = _paired(base, cand)
    diff = c - b
    if diff.size < 2:
        return None
    sd = float(np.std(diff, ddof=1))
    gap = abs(float(diff.mean()) - threshold_abs)
    if sd == 0.0 or gap == 0.0:
        return None
    return max(1, math.ceil((_z(confidence) * sd / gap) ** 2))


def mean_ci(x: np.ndarray, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """CI of one metric's mean: Wilson for 0/1 outcomes, a seeded bootstrap otherwise."""
    v = np.asarray(x, dtype=np.float64).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError("outcomes must be finite and non-empty")
    if _is_binary(v):
        return wilson_interval(int(v.sum()), v.size, _z(confidence))
    return _bootstrap_mean_ci(v, confidence, 2000, seed)
