"""A group-sequential design for gathering more evidence: alpha spending over a fixed
number of looks, so that a claim tested again after each enlargement of the data still errs
at most `alpha` of the time in all (Lan & DeMets 1983).

A look k sees n_k observations (samples, tokens, timing runs) of at most n_max planned.
The spending function says how much of the one-sided error rate alpha may be spent by the
information fraction t = n / n_max: O'Brien-Fleming-type (almost nothing early, nearly the
fixed-sample boundary at the end) or Pocock-type (about the same boundary at every look).
The boundary of each look is the z a statistic must pass there so that the chance, under the
null hypothesis, of first passing at that look is what the spending function allots it. The
last look spends whatever is left, so stopping early for lack of data keeps the total alpha.

Pure numpy and the standard library; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from statistics import NormalDist

import numpy as np

KINDS = ("obrien_fleming", "pocock")
_GRID = 2001  # points of the numerical integration over a look's continuation region
_LOW = -10.0  # the integration's lower end, in z (the density there is below 1e-22)
_N = NormalDist()


def spent(t: float, alpha: float, kind: str = "obrien_fleming") -> float:
    """The one-sided error rate spent by information fraction t (0 at 0, alpha at 1 and on).

    O'Brien-Fleming-type: 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)); Pocock-type:
    alpha log(1 + (e - 1) t) (Lan & DeMets 1983)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if kind not in KINDS:
        raise ValueError(f"spending kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    if t <= 0.0:
        return 0.0
    if t >= 1.0:
        return alpha
    if kind == "pocock":
        return alpha * math.log1p((math.e - 1.0) * t)
    return 2.0 - 2.0 * _N.cdf(_N.inv_cdf(1.0 - alpha / 2.0) / math.sqrt(t))


def _upper_tail(x: np.ndarray) -> np.ndarray:
    """1 - Phi(x), elementwise, accurate in the far tail."""
    return 0.5 * np.vectorize(math.erfc)(x / math.sqrt(2.0))


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def boundaries(
    ns: Sequence[float],
    n_max: float,
    alpha: float = 0.025,
    kind: str = "obrien_fleming",
    final: bool = True,
) -> list[float]:
    """One-sided z boundaries of looks at n_1 < n_2 < ... observations of n_max planned.

    Look k spends spent(n_k / n_max) - spent(n_{k-1} / n_max); with `final` the last look
    spends all that is left (a design stopped short of n_max keeps its alpha). Under the null
    hypothesis the z statistics of the looks are a Brownian motion's, corr sqrt(n_i / n_j);
    each boundary solves its first-passage probability by numerical integration over the
    region that has not passed yet (Armitage, McPherson & Rowe 1969). A look with nothing
    to spend gets an infinite boundary."""
    return list(_boundaries(tuple(float(n) for n in ns), float(n_max), alpha, kind, final))


@lru_cache(maxsize=256)
def _boundaries(
    ns: tuple[float, ...], n_max: float, alpha: float, kind: str, final: bool
) -> tuple[float, ...]:
    """boundaries(), cached: a design's looks recur (each look recomputes the earlier ones)."""
    if not ns or any(n <= 0 for n in ns) or any(b <= a for a, b in zip(ns, ns[1:], strict=False)):
        raise ValueError(f"looks need increasing positive sizes, got {ns}")
    if n_max <= 0:
        raise ValueError(f"n_max must be positive, got {n_max}")
    out: list[float] = []
    grid = dens = None  # the sub-density of Z at the previous look, on its grid
    before = 0.0
    for k, n in enumerate(ns):
        last = final and k == len(ns) - 1
        total = alpha if last else spent(n / n_max, alpha, kind)
        share = max(0.0, total - before)
        if k == 0:
            c = _N.inv_cdf(1.0 - share) if share > 0 else math.inf
        else:
            c = _solve(grid, dens, ns[k - 1], n, share)
        out.append(c)
        before += share if math.isfinite(c) else 0.0
        grid, dens = _carry(grid, dens, ns[k - 1] if k else None, n, c)
    return tuple(out)


def _cross(grid, dens, n_prev: float, n: float, c: float) -> float:
    """P(Z_prev stays below its boundary (the grid), Z_n >= c)."""
    delta = n - n_prev
    tail = _upper_tail((c * math.sqrt(n) - grid * math.sqrt(n_prev)) / math.sqrt(delta))
    return float(np.trapezoid(dens * tail, grid))


def _solve(grid, dens, n_prev: float, n: float, share: float) -> float:
    """The boundary whose first-passage probability at this look is `share`."""
    if share <= 0.0:
        return math.inf
    lo, hi = -10.0, 40.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _cross(grid, dens, n_prev, n, mid) > share else (lo, mid)
    return 0.5 * (lo + hi)


def _carry(grid, dens, n_prev: float | None, n: float, c: float):
    """The sub-density of Z at this look on [_LOW, c] (paths that have not passed yet)."""
    top = min(c, 12.0)
    new = np.linspace(_LOW, top, _GRID)
    if n_prev is None:
        return new, _phi(new)
    delta = n - n_prev
    scale = math.sqrt(n / delta)
    z = (new[:, None] * math.sqrt(n) - grid[None, :] * math.sqrt(n_prev)) / math.sqrt(delta)
    return new, np.trapezoid(_phi(z) * scale * dens[None, :], grid, axis=1)


def confidence_of(z: float) -> float:
    """The two-sided confidence whose interval ends at +/- z (0.95 for 1.96)."""
    return 1.0 - 2.0 * (1.0 - _N.cdf(z)) if math.isfinite(z) else 1.0


def widen(
    point: float, ci: Sequence[float], z: float, z_now: float, df: int | None = None
) -> tuple[float, float]:
    """An interval made at +/- z_now standard errors, at +/- z instead: each side's distance
    from the point scaled by z / z_now (a normal approximation of the interval's method), or,
    for a t interval with `df` degrees of freedom, by the ratio of the t quantiles with the
    same tails (a t interval's far tail is much wider than the normal's)."""
    from runner.core.stats import t_quantile

    if not math.isfinite(z):
        return -math.inf, math.inf
    t = (lambda q: t_quantile(confidence_of(q), df)) if df else (lambda q: q)
    r = t(z) / t(z_now)
    return point - (point - ci[0]) * r, point + (ci[1] - point) * r


def widen_ratio(ci: Sequence[float], runs: int, z: float, confidence: float = 0.95):
    """A speed interval (a t interval over log ratios of `runs` timing runs at `confidence`)
    at the t quantile with the one-sided tail of z instead; None without a usable one."""
    from runner.core.stats import t_quantile

    if runs < 2 or ci[0] <= 0 or ci[1] <= 0:
        return None
    lo, hi = math.log(ci[0]), math.log(ci[1])
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    if not math.isfinite(z):
        return 0.0, math.inf
    r = t_quantile(confidence_of(z), runs - 1) / t_quantile(confidence, runs - 1)
    return math.exp(mid - half * r), math.exp(mid + half * r)


MOST_TO_SETTLE = 10**9  # a count past this is none: the point sits (nearly) on the bar


def more_to_settle(n: int, half: float, z: float, gap: float, power: float = 0.8) -> int | None:
    """Observations at which an interval of half-width `half` at +/- z from n observations
    would, in a new fixed-size study at 95 %, clear a bar `gap` from its point (80 % power):
    ((z_0.975 + z_power) sd / gap)^2, with sd = half sqrt(n) / z. None without a gap, or past
    MOST_TO_SETTLE (a point within rounding of its bar: no study is expected to settle it)."""
    if n < 1 or half <= 0 or gap == 0 or not math.isfinite(z):
        return None
    sd = half * math.sqrt(n) / z
    need = ((_N.inv_cdf(0.975) + _N.inv_cdf(power)) * sd / abs(gap)) ** 2
    return max(n + 1, math.ceil(need)) if need <= MOST_TO_SETTLE else None
