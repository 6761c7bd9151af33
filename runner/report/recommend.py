"""The recommendation: Pareto fronts over a sweep's table, and the one row to ship per group.

Pure functions over the summary's table (one row per record, verdicts already judged by
runner.report.verdict), so reruns of the same records always recommend the same row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from runner.report.verdict import OBJECTIVES


def _column(df: pd.DataFrame, col: str) -> np.ndarray:
    """A numeric column as float64, with None and non-numbers as NaN."""
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def pareto_front(
    df: pd.DataFrame, metric_col: str, cost_col: str, higher_is_better: bool
) -> pd.Series:
    """Rows no other row beats on both metric and cost (ties stay on; NaN rows never count).

    Row j dominates row i when cost_j <= cost_i and metric_j is at least as good, with one
    of the two strictly better; exact duplicates therefore never knock each other out.
    """
    m, c = _column(df, metric_col), _column(df, cost_col)
    valid = np.isfinite(m) & np.isfinite(c)
    if not higher_is_better:
        m = -m
    mi, mj = m[:, None], m[None, :]
    ci, cj = c[:, None], c[None, :]
    dominated = (cj <= ci) & (mj >= mi) & ((cj < ci) | (mj > mi)) & valid[None, :]
    on_front = valid & ~dominated.any(axis=1)
    return pd.Series(on_front, index=df.index, name=f"pareto_{cost_col}", dtype=bool)


PRECISION_RANK = {"fp32": 4, "bf16": 3, "fp16": 3, "int8": 2, "int4": 1}
COST_TOLERANCE = {"size": 0.01, "memory": 0.05}  # size/memory have no interval: a band


def _speed(pool: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's paired speedup (against the baseline timed in its own job) as (point, lo,
    hi): its interval where the row has one, else the point as a zero-width interval."""
    point = _column(pool, "speedup") if "speedup" in pool else np.full(len(pool), np.nan)
    if not {"speedup_ci_lo", "speedup_ci_hi"} <= set(pool):
        return point, point, point
    lo, hi = _column(pool, "speedup_ci_lo"), _column(pool, "speedup_ci_hi")
    has = np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (hi >= lo)
    return point, np.where(has, lo, point), np.where(has, hi, point)


def _cost_interval(pool: pd.DataFrame, objective: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's objective cost as an interval, lower is better: 1 / the paired speedup's
    interval for latency (never a p50 measured in another job), size or memory within
    COST_TOLERANCE. A row without the figure costs +inf: any measured row beats it."""
    if objective == "latency":
        _, lo, hi = _speed(pool)
        with np.errstate(divide="ignore"):
            c_lo, c_hi = 1.0 / hi, 1.0 / lo
    else:
        cost = _column(pool, OBJECTIVES[objective])
        tol = COST_TOLERANCE[objective]
        c_lo, c_hi = cost * (1 - tol), cost * (1 + tol)
    bad = ~(np.isfinite(c_lo) & np.isfinite(c_hi) & (c_lo > 0))
    return np.where(bad, np.inf, c_lo), np.where(bad, np.inf, c_hi)


def _cost_point(pool: pd.DataFrame, objective: str) -> np.ndarray:
    """The tie rule's cost: 1 / paired speedup for latency, else size or memory (NaN: +inf)."""
    if objective == "latency":
        with np.errstate(divide="ignore"):
            cost = 1.0 / _speed(pool)[0]
    else:
        cost = _column(pool, OBJECTIVES[objective])
    return np.where(np.isfinite(cost) & (cost > 0), cost, np.inf)


def _metric_interval(pool: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's metric interval (baseline + delta CI), oriented so that higher is better."""
    point = _column(pool, "metric")
    ends = []
    for col in ("ci_lo_abs", "ci_hi_abs"):
        end = _column(pool, col) + _column(pool, "baseline_metric") if col in pool else point
        ends.append(np.where(np.isfinite(end), end, point))
    lo, hi = ends
    return (lo, hi) if pool.higher_is_better.iloc[0] else (-hi, -lo)


def contenders(ships: pd.DataFrame, objective: str) -> pd.DataFrame:
    """The ship rows no other ship row beats beyond the intervals: cost first (no other row's
    cost interval lies wholly below, i.e. for latency no speed interval wholly above), then
    the metric among rows whose cost intervals overlap. What remains is a tie.

    Intervals that lie wholly apart form an order without cycles, so neither step can empty
    the pool: a recommendation from it is never clearly slower (larger, heavier) than any
    ship candidate, whatever moment each job was timed in.
    """
    c_lo, c_hi = _cost_interval(ships, objective)
    cheaper = c_hi[None, :] < c_lo[:, None]  # [i, j]: row j clearly cheaper than row i
    first = ~cheaper.any(axis=1)
    m_lo, m_hi = _metric_interval(ships)
    better = m_lo[None, :] > m_hi[:, None]  # [i, j]: row j clearly better on the metric
    # a row j clearly cheaper than i already drops i, and i clearly cheaper than j drops j:
    # among rows both `first`, the cost intervals overlap
    keep = first & ~(better & first[None, :]).any(axis=1)
    return ships[keep]


def _preferred(tied: pd.DataFrame, objective: str) -> Any:
    """The tie rule: PTQ over QAT, then the higher precision, then cost, metric and run key."""
    sign = -1.0 if tied.higher_is_better.iloc[0] else 1.0
    get = tied.get
    ranked = tied.assign(
        _qat=(get("method", pd.Series("ptq", tied.index)) != "ptq").astype(int),
        _prec=-get("precision", pd.Series("", tied.index)).map(PRECISION_RANK).fillna(0),
        _cost=_cost_point(tied, objective),
        _m=sign * tied.metric,
        _key=get("run_key", pd.Series("", tied.index)).astype(str),
    )
    return ranked.sort_values(["_qat", "_prec", "_cost", "_m", "_key"]).index[0]


def _speed_said(ships: pd.DataFrame, best: Any, objective: str) -> str:
    """Under latency: the recommended row's paired speedup and interval, and how many ship
    rows its interval lies wholly above."""
    if objective != "latency":
        return ""
    point, lo, hi = (x[ships.index.get_loc(best)] for x in _speed(ships))
    if not np.isfinite(point):
        return ""
    said = f", {point:.2f}x FP32's speed in its own job"
    said += f" ([{lo:.2f}, {hi:.2f}])" if hi > lo else ""
    slower = int((_speed(ships)[2] < lo).sum())
    return said + (f", clearly faster than {slower} other ship candidate(s)" if slower else "")


def recommend(group: pd.DataFrame, objective: str = "latency") -> tuple[Any, str]:
    """Index of a group's recommended row for the objective, and why; (None, why) when none.

    `group` is summary-table rows of one (model, dataset, target). Only ok "ship" rows are
    candidates, ranked by their intervals (contenders): the paired speedup's for latency, size
    or memory within a small band, then the metric's CI; p50s timed in different jobs never
    count. Among rows no interval separates PTQ beats QAT, then the higher precision wins, so
    reruns agree. Nothing ships: the ok FP32 PTQ baseline row, if any.
    """
    ok = group.status == "ok" if "status" in group else pd.Series(True, group.index)
    ships = group[(group.verdict == "ship") & ok]
    if len(ships):
        on_front = ships[f"pareto_{OBJECTIVES[objective]}"].astype(bool).to_numpy()
        tied = contenders(ships, objective)
        best = _preferred(tied, objective)
        if not on_front.any():
            where = f"no ship candidate is on the {objective} Pareto front; the {objective}-best"
            where += " ship candidate"
        elif on_front[ships.index.get_loc(best)]:
            where = f"the {objective}-best Pareto-optimal ship candidate"
        else:
            where = f"a ship candidate within its intervals of the {objective} Pareto front"
        if len(tied) > 1:
            where += (
                f" ({len(tied) - 1} other(s) not separated from it by the metric or "
                f"{objective} interval: PTQ before QAT, then the higher precision)"
            )
        return best, f"{where}{_speed_said(ships, best, objective)}. {ships.reason[best]}"
    counts = ", ".join(f"{n} {label}" for label, n in group.verdict.value_counts().items())
    base = group.index[(group.verdict == "baseline") & ok]
    if len(base):
        return base[0], f"nothing ships ({counts}): keep the FP32 PTQ baseline"
    return None, (
        f"nothing ships ({counts}) and the group has no ok FP32 PTQ baseline row: nothing to "
        "recommend; run precision=fp32 method=ptq"
    )
