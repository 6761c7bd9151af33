"""Paired statistics on per-sample outcomes: is a quantized model's metric really different?

Baseline and candidate are evaluated on the same validation samples, so the delta gets a
paired interval: far tighter than two independent intervals. Pure numpy (plus the standard
library's normal quantile); no I/O.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from runner.core.continuous import studentized_ci

_BOOT_CHUNK = 1_000_000  # bootstrap index entries drawn per chunk, to bound memory
SMALL_N = 30  # below this many paired samples a paired t interval replaces the bootstrap
POWER = 0.8  # the power "N more samples would settle it" promises


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


def _tango_score(delta: float, n10: int, n01: int, n: int) -> float:
    """Tango's score statistic for H0: p01 - p10 = delta (nuisance p10 at its restricted MLE)."""
    b = (n10 + n01) - delta * (2 * n + n10 - n01)
    disc = max(0.0, b * b + 8.0 * n * n10 * delta * (1.0 - delta))
    p10 = (b + math.sqrt(disc)) / (4.0 * n)
    var = n * (2.0 * p10 + delta - delta * delta)
    num = n01 - n10 - n * delta
    if var <= 0.0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _bisect(f, lo: float, hi: float, iters: int = 80) -> float:
    """Root of a function that changes sign once on [lo, hi] (f(lo) > 0 > f(hi))."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def tango_delta_ci(n10: int, n01: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Tango's score CI of the paired accuracy delta (n01 - n10) / n (candidate - baseline).

    Unconditional: it inverts the score test over all n pairs, so the chance variation in the
    number of discordant pairs counts, and zero disagreements still give a non-zero width
    (Tango 1998, Stat Med 17:891-908, corrected 1999). n10: baseline right, candidate wrong.
    """
    if n <= 0 or n10 < 0 or n01 < 0 or n10 + n01 > n:
        raise ValueError(f"need 0 <= n10 + n01 <= n and n > 0, got {n10}, {n01}, {n}")
    z, est = _z(confidence), (n01 - n10) / n
    eps = 1e-12
    lo = (
        -1.0
        if est <= -1.0
        else _bisect(lambda d: _tango_score(d, n10, n01, n) - z, -1.0 + eps, est)
    )
    hi = 1.0 if est >= 1.0 else _bisect(lambda d: _tango_score(d, n10, n01, n) + z, est, 1.0 - eps)
    return lo, hi


@lru_cache(maxsize=256)
def t_quantile(confidence: float, df: int) -> float:
    """Two-sided Student-t quantile, by bisection on the numerically integrated density.

    numpy and the standard library only (no scipy): accurate to about 1e-6 for df >= 1.
    """
    _z(confidence)
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1, got {df}")
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def mass(x: float) -> float:  # P(0 < T < x)
        t = np.linspace(0.0, x, 20001)
        return float(np.trapezoid(np.exp(log_c - (df + 1) / 2 * np.log1p(t * t / df)), t))

    return _bisect(lambda x: confidence / 2 - mass(x), 0.0, 1000.0, iters=60)


def paired_t_ci(diff: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t CI of mean(diff): the small-sample interval the percentile bootstrap is not."""
    d = np.asarray(diff, dtype=np.float64).ravel()
    if d.size < 2:
        raise ValueError("a paired t interval needs at least two samples")
    half = t_quantile(confidence, d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return float(d.mean() - half), float(d.mean() + half)


def _bootstrap_mean_ci(
    diff: np.ndarray, confidence: float, n_boot: int, seed: int, expand: bool = False
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(diff), seeded and drawn in chunks to bound memory.

    expand: Hesterberg's expanded percentile interval, whose tail level solves
    z = sqrt(n / (n - 1)) * t_{n-1}; it undoes the plain percentile's narrowness at modest n.
    """
    rng = np.random.default_rng(seed)
    n = diff.size
    per_chunk = max(1, _BOOT_CHUNK // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, per_chunk):
        stop = min(n_boot, start + per_chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    if expand and n > 1:
        alpha = 1.0 - NormalDist().cdf(math.sqrt(n / (n - 1)) * t_quantile(confidence, n - 1))
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

    0/1 outcomes (correctness): Tango's score interval (tango_delta_ci), never of zero width.
    Other outcomes: a paired t interval below SMALL_N samples, else a seeded paired studentized
    (bootstrap-t) interval, which widens the side a skewed tail of harm lies on; identical
    continuous outcomes give (0.0, 0.0) (no verdict rests on it below continuous.MIN_N). An end
    the bootstrap-t cannot bound (over 2.5 % of resamples without spread, as when one sample
    carries the whole change) is the expanded percentile interval's.
    """
    b, c = _paired(base, cand)
    _z(confidence)  # validate early, also for the bootstrap path
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if _is_binary(b) and _is_binary(c):
        n10 = int(np.sum((b == 1) & (c == 0)))
        n01 = int(np.sum((b == 0) & (c == 1)))
        return tango_delta_ci(n10, n01, b.size, confidence)
    if np.array_equal(b, c):
        return 0.0, 0.0
    if b.size < SMALL_N:
        return paired_t_ci(c - b, confidence) if b.size > 1 else (float(c[0] - b[0]),) * 2
    d = c - b
    lo, hi = studentized_ci(d, confidence, n_boot, seed)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # an end the bootstrap-t cannot bound
        p_lo, p_hi = _bootstrap_mean_ci(d, confidence, n_boot, seed, expand=True)
        lo, hi = (lo if math.isfinite(lo) else p_lo), (hi if math.isfinite(hi) else p_hi)
    return lo, hi


def n_to_settle(
    sd: float, gap: float, confidence: float = 0.95, power: float = POWER
) -> int | None:
    """Sample size at which a two-sided test at `confidence` detects `gap` with `power`.

    n = ((z_{1-a/2} + z_{power}) * sd / gap)^2; None when sd or gap is 0.
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if sd <= 0.0 or gap == 0.0:
        return None
    z = _z(confidence) + NormalDist().inv_cdf(power)
    return max(2, math.ceil((z * sd / abs(gap)) ** 2))


def samples_to_settle(
    base: np.ndarray,
    cand: np.ndarray,
    threshold_abs: float,
    confidence: float = 0.95,
    power: float = POWER,
) -> int | None:
    """Total validation samples at which the delta's CI would clear threshold_abs (80 % power).

    Normal approximation with the observed per-sample spread of the paired difference and the
    observed gap between delta and threshold (n_to_settle). None when delta sits exactly on
    the threshold or the difference has no variance (more samples cannot settle it).
    """
    b, c = _paired(base, cand)
    diff = c - b
    if diff.size < 2:
        return None
    gap = float(diff.mean()) - threshold_abs
    return n_to_settle(float(np.std(diff, ddof=1)), gap, confidence, power)


def agreeing_samples_to_settle(
    n: int, threshold_abs: float, confidence: float = 0.95
) -> int | None:
    """Samples at which Tango's interval of a candidate that agrees with the baseline on every
    sample (0/1 outcomes, no disagreement) would exclude threshold_abs; None for a threshold
    of 0, which no sample count can clear. The interval narrows like 1/n here, not 1/sqrt(n),
    so the normal power formula (no variance to use) cannot say it."""
    return discordant_samples_to_settle(0, 0, n, threshold_abs, confidence)


def discordant_samples_to_settle(
    n10: int, n01: int, n: int, threshold_abs: float, confidence: float = 0.95
) -> int | None:
    """Samples at which Tango's interval would exclude threshold_abs if the candidate kept its
    observed rates of disagreement (n10 / n, n01 / n); None when the observed delta sits on
    the threshold (no count clears it). With few disagreements Tango's interval is wider than
    the normal approximation, whose count can then fall below the samples already scored.
    The interval is taken at the expected counts n10 m / n, n01 m / n, unrounded: rounded
    counts make "it clears at m" flip back and forth with m, and the bisection then found one
    crossing of several (5 losses and 2 gains in 300 against -2 %: 1105, where 983 cleared and
    only 1241 cleared for good)."""
    if n < 1 or (n01 - n10) / n == threshold_abs:
        return None

    def clears(m: int) -> bool:
        a, b = n10 * m / n, n01 * m / n
        lo, hi = tango_delta_ci(a, b, m, confidence)
        return not lo < threshold_abs < hi

    if clears(n):
        return n
    hi = n
    while not clears(hi):
        hi *= 2
        if hi > 10**9:
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if clears(mid) else (mid, hi)
    return hi


def speedup_interval(
    base_blocks: list[list[float]], cand_blocks: list[list[float]], confidence: float = 0.95
) -> tuple[float, float] | None:
    """CI of the speedup: a t interval over the log ratios of paired medians.

    Entry k of each list is one unit of interleaved timing of both models: a run with fresh
    sessions (what the pipeline passes: it also catches the lasting difference between two
    sessions of one model) or a block round within one run. Calls are never treated as
    independent. None with fewer than two units.
    """
    r = _round_log_ratios(base_blocks, cand_blocks)
    if r.size < 2:
        return None
    lo, hi = paired_t_ci(r, confidence)
    return math.exp(lo), math.exp(hi)


def paired_speedup(base_blocks: list[list[float]], cand_blocks: list[list[float]]) -> float:
    """The speedup at the centre of speedup_interval: the geometric mean over units (runs) of
    median baseline / median candidate, each ratio from calls made side by side. Unlike a
    ratio of medians pooled over runs, it cannot fall outside its own interval when the
    machine's speed drifts between runs."""
    r = _round_log_ratios(base_blocks, cand_blocks)
    if not r.size:
        raise ValueError("no timing unit with calls of both models")
    return math.exp(float(r.mean()))


def _round_log_ratios(base_blocks: list[list[float]], cand_blocks: list[list[float]]) -> np.ndarray:
    """log(median baseline / median candidate) per unit (run or round) of interleaved timing."""
    if len(base_blocks) != len(cand_blocks):
        raise ValueError("baseline and candidate need the same number of timing rounds")
    pairs = [
        (np.median(b), np.median(c))
        for b, c in zip(base_blocks, cand_blocks, strict=True)
        if b and c
    ]
    return np.array([math.log(b / c) for b, c in pairs if b > 0 and c > 0])


def n_to_settle_t(
    sd: float, gap: float, confidence: float = 0.95, power: float = POWER
) -> int | None:
    """n_to_settle with Student-t quantiles of the df the answer itself will have:
    n = ((t_{1-a/2, n-1} + t_{power, n-1}) * sd / gap)^2, iterated from the normal answer
    (t falls as n grows, so n only rises and stops). At a handful of units, as timing runs
    are, z asks for too few: 8 runs by z give about 0.68 power, not 0.8."""
    n = n_to_settle(sd, gap, confidence, power)
    if n is None:
        return None
    for _ in range(100):
        df = n - 1
        t = t_quantile(confidence, df) + t_quantile(2.0 * power - 1.0, df) if power > 0.5 else None
        if t is None:  # power at or below 1/2: the one-sided quantile is <= 0, keep z's answer
            return n
        need = max(2, math.ceil((t * sd / abs(gap)) ** 2))
        if need <= n:
            return n
        n = need
    return n


def blocks_to_settle(
    ci: tuple[float, float], blocks: int, bar: float, confidence: float = 0.95,
    power: float = POWER,
) -> int | None:  # fmt: skip
    """Timing units (runs) at which a speedup CI would clear `bar` (80 % power), from the CI
    itself: on the log scale it is mean +/- t * sd / sqrt(blocks), which gives back sd and mean;
    the count uses t quantiles at its own degrees of freedom (n_to_settle_t).
    """
    if blocks < 2 or ci[0] <= 0 or ci[1] <= 0 or bar <= 0:
        return None
    log_lo, log_hi = math.log(ci[0]), math.log(ci[1])
    sd = (log_hi - log_lo) / 2 / t_quantile(confidence, blocks - 1) * math.sqrt(blocks)
    return n_to_settle_t(sd, (log_lo + log_hi) / 2 - math.log(bar), confidence, power)


def interval_centre(lo: float, hi: float) -> float:
    """The point a ratio's interval is built around: its geometric centre sqrt(lo * hi), the
    centre on the log scale where the t interval is symmetric (speedup_interval)."""
    if not (lo > 0 and hi > 0):
        raise ValueError(f"a ratio interval needs positive ends, got [{lo}, {hi}]")
    return math.sqrt(lo * hi)


def mean_ci(x: np.ndarray, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """CI of one metric's mean: Wilson for 0/1 outcomes, a seeded bootstrap otherwise."""
    v = np.asarray(x, dtype=np.float64).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError("outcomes must be finite and non-empty")
    if _is_binary(v):
        return wilson_interval(int(v.sum()), v.size, _z(confidence))
    return _bootstrap_mean_ci(v, confidence, 2000, seed)
