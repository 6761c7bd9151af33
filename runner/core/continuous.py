"""Continuous per-sample outcomes (absolute errors, cosines, NLLs): intervals that stay honest
when the per-sample changes are skewed, and for a relative change that carries the baseline's
own noise. Pure numpy; no I/O.

- studentized_ci: the bootstrap-t interval of a mean (Efron & Tibshirani 1993, ch. 12): it
  resamples the t statistic, so a long tail of harm widens the side it lies on, where the
  percentile bootstrap stays nearly symmetric and under-covers.
- relative_change_ci: the interval of mean(c) / mean(b) - 1 by Fieller's inversion: a relative
  threshold t is inside it exactly when the paired quantity c_i - (1 + t) * b_i has a mean its
  interval cannot tell from 0; here with bootstrap-t quantiles of that quantity. Dividing the
  delta's interval by the observed baseline instead ignores the baseline's noise.
- min_samples: the fewest paired samples a continuous verdict may rest on: at least MIN_N and
  Cochran's rule n > 25 * skewness^2 (Cochran 1977, Sampling Techniques, 3rd ed., sec. 2.15).
"""

from __future__ import annotations

import math

import numpy as np

MIN_N = 30  # below this, no continuous verdict: the bootstrap has too few distinct resamples
COCHRAN = 25.0  # n > 25 * G1^2 for the mean's normal-theory interval to hold
_CHUNK = 1_000_000  # bootstrap index entries per chunk, to bound memory


def _t_stats(b: np.ndarray, c: np.ndarray, u: float, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap t statistics of mean(c - u * b) around its observed value, seeded, in chunks.

    A resample with no spread has t = 0 if its mean is the observed one, else +-inf (the
    interval then has no end on that side: honest, as nothing bounds it)."""
    d = c - u * b
    n, m = d.size, float(d.mean())
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    per = max(1, _CHUNK // n)
    for start in range(0, n_boot, per):
        x = d[rng.integers(0, n, size=(min(n_boot, start + per) - start, n))]
        dm, se = x.mean(axis=1) - m, x.std(axis=1, ddof=1) / math.sqrt(n)
        dm = np.where(np.abs(dm) <= 1e-12 * (1.0 + abs(m)), 0.0, dm)  # rounding, not a move
        with np.errstate(divide="ignore", invalid="ignore"):
            flat = np.where(dm == 0, 0.0, np.sign(dm) * np.inf)  # not 0 * inf = NaN
            t = np.where(se > 0, dm / np.where(se > 0, se, 1.0), flat)
        out[start : start + len(t)] = t
    return out


def _quantiles(t: np.ndarray, confidence: float) -> tuple[float, float]:
    """The two tail quantiles of bootstrap t statistics at a two-sided confidence level."""
    a = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"):
        lo, hi = np.quantile(t, [a, 1.0 - a])  # NaN: interpolated between inf and a number
    return (-math.inf if np.isnan(lo) else float(lo)), (math.inf if np.isnan(hi) else float(hi))


def studentized_ci(
    diff: np.ndarray, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap-t CI of mean(diff): [m - q_hi * se, m - q_lo * se], q the t statistic's
    bootstrap quantiles. Needs two samples; no spread at all gives (m, m). An end is infinite
    when over 2.5 % of resamples have no spread and another mean (nothing bounds that side)."""
    d = np.asarray(diff, dtype=np.float64).ravel()
    if d.size < 2:
        raise ValueError("a studentized bootstrap interval needs at least two samples")
    m, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(d.size)
    if se == 0.0:
        return m, m
    q_lo, q_hi = _quantiles(_t_stats(np.zeros_like(d), d, 0.0, n_boot, seed), confidence)
    return m - q_hi * se, m - q_lo * se


def _fieller_root(b: np.ndarray, c: np.ndarray, q: float, upper: bool) -> float | None:
    """The ratio u at which mean(c - u b) / se(c - u b) = q (the larger root when upper):
    (mc - u mb)^2 = q^2 (vc - 2 u cbc + u^2 vb) / n. None when the baseline's mean is not
    clear of 0 at this q (the set of u is then unbounded)."""
    n = b.size
    mb, mc = float(b.mean()), float(c.mean())
    vb, vc = float(b.var(ddof=1)) / n, float(c.var(ddof=1)) / n
    cbc = float(np.cov(b, c, ddof=1)[0, 1]) / n
    a2 = mb * mb - q * q * vb
    a1 = -2.0 * (mc * mb - q * q * cbc)
    a0 = mc * mc - q * q * vc
    disc = a1 * a1 - 4.0 * a2 * a0
    if not math.isfinite(q) or a2 <= 0.0 or disc < 0.0:
        return None
    root = math.sqrt(disc)
    return (-a1 + root) / (2.0 * a2) if upper else (-a1 - root) / (2.0 * a2)


def relative_change_ci(
    base: np.ndarray,
    cand: np.ndarray,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """CI of mean(cand) / mean(base) - 1 that carries the baseline's noise (Fieller's
    inversion of the paired quantity cand_i - u * base_i, with its bootstrap-t quantiles at the
    observed ratio). None when the baseline's mean is 0 or not clear of 0: no ratio to bound.
    """
    b = np.asarray(base, dtype=np.float64).ravel()
    c = np.asarray(cand, dtype=np.float64).ravel()
    if b.size < 2 or b.size != c.size or float(b.mean()) == 0.0:
        return None
    u0 = float(c.mean()) / float(b.mean())
    scale = float(np.abs(c).max() + np.abs(u0 * b).max())
    if float(np.std(c - u0 * b)) <= 1e-12 * scale:  # the candidate is u0 times the baseline
        return u0 - 1.0, u0 - 1.0
    q_lo, q_hi = _quantiles(_t_stats(b, c, u0, n_boot, seed), confidence)
    falls = b.mean() > 0  # mean(c - u b) falls in u when the baseline is > 0
    ends = (_fieller_root(b, c, q_hi if falls else q_lo, upper=False),
            _fieller_root(b, c, q_lo if falls else q_hi, upper=True))  # fmt: skip
    if ends[0] is None or ends[1] is None:
        return None
    return ends[0] - 1.0, ends[1] - 1.0


def skewness(x: np.ndarray) -> float:
    """The adjusted sample skewness G1 (0 for fewer than 3 samples or no spread)."""
    v = np.asarray(x, dtype=np.float64).ravel()
    n = v.size
    sd = float(v.std())
    if n < 3 or sd == 0.0:
        return 0.0
    g1 = float(np.mean((v - v.mean()) ** 3)) / sd**3
    return g1 * math.sqrt(n * (n - 1)) / (n - 2)


def min_samples(diff: np.ndarray) -> int:
    """The fewest paired samples a verdict on a continuous metric may rest on: MIN_N, or more
    when the per-sample changes are skewed (Cochran: n > 25 * G1^2)."""
    return max(MIN_N, math.floor(COCHRAN * skewness(diff) ** 2) + 1)


def continuous_fields(
    base: np.ndarray, cand: np.ndarray, higher_is_better: bool, confidence: float = 0.95
) -> dict[str, object]:
    """What a record's metric block adds for continuous outcomes: `drop_ci95`, the relative
    drop's interval (positive = worse, baseline noise carried; null when unbounded), and
    `min_n`, the samples a verdict needs. Nothing for 0/1 outcomes."""
    b = np.asarray(base, dtype=np.float64).ravel()
    c = np.asarray(cand, dtype=np.float64).ravel()
    if np.isin(b, (0.0, 1.0)).all() and np.isin(c, (0.0, 1.0)).all():
        return {}
    ci = relative_change_ci(b, c, confidence)
    if ci is not None:
        ci = [-ci[1], -ci[0]] if higher_is_better else [ci[0], ci[1]]
        if b.mean() < 0:  # a change relative to |baseline|: the direction flips
            ci = [-ci[1], -ci[0]]
    return {"drop_ci95": ci, "min_n": min_samples(c - b)}
