"""A record's per-sample outcomes as evidence for its verdict: whether they belong to its
metric, and what a continuous metric judged on a relative drop needs from them (the drop's
interval with the baseline's noise carried, and the fewest samples a verdict may rest on).

Pure functions over a record's metric block and its (baseline, candidate) outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from runner.core.continuous import continuous_fields

Record = Mapping[str, Any]
UNBOUNDED = "unbounded"  # the record's drop_ci95 is null: the baseline's mean is not clear of 0


def outcome_threshold(metric: Record, drop: float) -> tuple[float, float, float]:
    """A relative-drop threshold in the per-sample outcomes' units: (threshold on
    mean(cand - base), the outcomes' expected baseline mean, their expected candidate mean).

    Perplexity is exp(mean NLL) of per-token NLLs: a rise by `drop` is log(1 + drop) in NLL.
    """
    value, base = float(metric["value"]), float(metric["baseline"])
    if str(metric.get("name")) == "perplexity" and value > 0 and base > 0:
        return math.log1p(drop), math.log(base), math.log(value)
    sign = -1.0 if metric.get("higher_is_better", True) else 1.0
    return sign * drop * abs(base), base, value


def belonging(metric: Record, outcomes: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The outcomes as float arrays when they are this metric's: one length, and means equal
    to its baseline and value (in NLL units for perplexity); else None."""
    if outcomes is None:
        return None
    b, c = (np.asarray(a, dtype=float).ravel() for a in outcomes)
    if b.size != c.size or not b.size:
        return None
    _, b_mean, c_mean = outcome_threshold(metric, 0.0)
    same = math.isclose(b.mean(), b_mean, rel_tol=1e-3, abs_tol=1e-9)
    return (b, c) if same and math.isclose(c.mean(), c_mean, rel_tol=1e-3, abs_tol=1e-9) else None


def _binary(b: np.ndarray, c: np.ndarray) -> bool:
    return bool(np.isin(b, (0.0, 1.0)).all() and np.isin(c, (0.0, 1.0)).all())


def continuous_evidence(metric: Record, outcomes: Any) -> tuple[Any, int | None, int | None]:
    """(relative-drop interval carrying the baseline's noise, or UNBOUNDED, or None; min n;
    n) of a continuous metric: from the record (drop_ci95, min_n) when the job wrote them,
    else from its outcomes. (None, None, None) for 0/1 outcomes and perplexity (its relative
    change is exp of the NLL delta: no baseline to divide by)."""
    if metric.get("name") == "perplexity":
        return None, None, None
    n = metric.get("n_samples")
    if "min_n" in metric or "drop_ci95" in metric:
        ci = metric.get("drop_ci95")
        return (UNBOUNDED if "drop_ci95" in metric and ci is None else ci), metric.get("min_n"), n
    pair = belonging(metric, outcomes)
    if pair is None or _binary(*pair):
        return None, None, None
    f = continuous_fields(*pair, bool(metric.get("higher_is_better", True)))
    ci = f["drop_ci95"]
    return (UNBOUNDED if ci is None else ci), int(f["min_n"]), pair[0].size


def too_few(min_n: int | None, n: Any) -> str | None:
    """Why no continuous verdict: fewer paired samples than min n (a reason fragment)."""
    if not isinstance(min_n, int) or not isinstance(n, int) or n >= min_n:
        return None
    return (
        f"no verdict on a continuous metric from {n} paired samples: it needs at least {min_n} "
        "(30, or 25 x the squared skewness of the per-sample changes when more, Cochran's "
        "rule: below that a bootstrap interval of the mean does not hold its 95 % when the "
        f"changes are skewed); about {min_n - n} more validation samples would allow one"
    )


def drop_interval_at(metric: Record, outcomes: Any, confidence: float) -> Any:
    """The relative drop's interval (positive = worse) at another confidence level, from the
    outcomes that belong to this metric; None without them, or when unbounded."""
    from runner.core.stats import paired_delta_ci

    pair = belonging(metric, outcomes)
    if pair is None:
        return None
    b, c = pair
    if metric.get("name") == "perplexity":  # exp of the mean NLL difference: a rise is a drop
        lo, hi = paired_delta_ci(b, c, confidence=confidence)
        return math.expm1(lo), math.expm1(hi)
    higher = bool(metric.get("higher_is_better", True))
    if not _binary(b, c):
        return continuous_fields(b, c, higher, confidence).get("drop_ci95")
    lo, hi = (
        x / abs(float(metric["baseline"])) for x in paired_delta_ci(b, c, confidence=confidence)
    )
    return (-hi, -lo) if higher else (lo, hi)
