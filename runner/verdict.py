"""The decision framework: one verdict per result record, and Pareto fronts over a sweep.

Pure functions over result records (dicts shaped as runner/result.schema.json says), so
the summarizer, the compare command and the tests all judge a candidate the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from runner.stats import samples_to_settle

LABELS = (
    "ship",
    "try QAT",
    "stay FP16",
    "no gain",
    "inconclusive",
    "does not fit",
    "baseline",
    "skipped",
    "failed",
)
PARTIAL_BELOW = 0.9  # a quantized_fraction under this is called out in the reason
MB = 1_000_000  # megabyte as the size and memory columns and budgets count it (decimal)
Record = Mapping[str, Any]


@dataclass(frozen=True)
class Thresholds:
    """Relative-drop limits: below ship_below ships, up to qat_below tries QAT, above stays."""

    ship_below: float = 0.01
    qat_below: float = 0.03
    confidence: float = 0.95
    # Below this speedup a candidate is not faster in any way that survives timing noise.
    min_speedup: float = 1.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.ship_below <= self.qat_below:
            raise ValueError(
                f"thresholds need 0 <= ship_below <= qat_below, got "
                f"ship_below={self.ship_below}, qat_below={self.qat_below}"
            )


@dataclass(frozen=True)
class Verdict:
    """What to do with one candidate, and one sentence with the numbers that say why."""

    label: str
    reason: str
    risky_int4: bool = False


def relative_drop(value: float, baseline: float, higher_is_better: bool) -> float | None:
    """Direction-aware relative drop (positive = worse); None when the baseline is 0."""
    if baseline == 0:
        return None
    delta = (baseline - value) if higher_is_better else (value - baseline)
    return delta / abs(baseline)


def drop_interval(metric: Record) -> tuple[float, float] | None:
    """Turn metric.ci95 (absolute delta, candidate - baseline) into a relative-drop interval."""
    ci, base = metric.get("ci95"), metric.get("baseline")
    if not ci or base is None or base == 0 or any(v is None for v in ci):
        return None
    lo, hi = (float(v) / abs(base) for v in ci)
    return (-hi, -lo) if metric.get("higher_is_better", True) else (lo, hi)


def is_baseline(record: Record) -> bool:
    """The FP32 PTQ job is the sweep's reference row."""
    axes = record.get("axes") or {}
    return axes.get("precision") == "fp32" and axes.get("method") == "ptq"


def is_risky_int4(record: Record) -> bool:
    """INT4 outside language modelling loses too much for too little: flag it."""
    if (record.get("axes") or {}).get("precision") != "int4":
        return False
    task = record.get("task")
    if task is None:
        name = str((record.get("metric") or {}).get("name", "")).lower()
        task = "language_modeling" if name in ("perplexity", "ppl") else None
    return task != "language_modeling"


def budget_problem(record: Record) -> str | None:
    """Say how the candidate exceeds the target's latency, memory or size budget, if it does."""
    budget = record.get("target_budget") or {}
    max_ms, max_mb = budget.get("max_latency_ms"), budget.get("max_memory_mb")
    p50 = (record.get("latency") or {}).get("p50_ms")
    rss = record.get("peak_rss_bytes")
    max_size, size = budget.get("max_size_mb"), record.get("size_bytes")
    if max_ms is not None and p50 is not None and p50 > max_ms:
        return f"p50 latency {p50:.3g} ms exceeds the target's {max_ms:g} ms budget"
    if max_mb is not None and rss is not None and rss / MB > max_mb:
        return f"peak memory {rss / MB:.1f} MB exceeds the target's {max_mb:g} MB budget"
    if max_size is not None and size is not None and size / MB > max_size:
        return f"model size {size / MB:.1f} MB exceeds the target's {max_size:g} MB budget"
    return None


def pct(x: float) -> str:
    """A relative quantity as a short percentage string."""
    return f"{100 * x:.2f}%"


def _qat_comparison(record: Record, drop: float, sweep: Iterable[Record], th: Thresholds) -> str:
    """How the sweep's QAT run with the same other axes compares, for a 'try QAT' reason."""
    axes = record.get("axes") or {}
    if axes.get("method") == "qat":
        return "this already is QAT: more epochs or a gentler precision may close the gap"
    keys = ("model", "dataset", "precision", "target")
    for other in sweep:
        o_axes = other.get("axes") or {}
        if o_axes.get("method") != "qat" or any(o_axes.get(k) != axes.get(k) for k in keys):
            continue
        m = other.get("metric") or {}
        if other.get("status") != "ok" or m.get("value") is None or m.get("baseline") is None:
            return f"the sweep's QAT run is {other.get('status')}: {other.get('reason')}"
        qdrop = relative_drop(m["value"], m["baseline"], m.get("higher_is_better", True))
        if qdrop is None:
            return "the sweep's QAT run has no usable baseline to compare"
        word = "better" if qdrop < drop else "no better"
        ships = ", which ships" if qdrop < th.ship_below else ""
        return f"the sweep's QAT run drops {pct(qdrop)}, {word} than this{ships}"
    return "the sweep ran no QAT for this combination: add method=qat"


def _settle_text(
    record: Record, threshold: float, outcomes: tuple[np.ndarray, np.ndarray] | None, conf: float
) -> str:
    """'about N more validation samples would settle it', when the outcomes allow counting."""
    m = record["metric"]
    if outcomes is not None:
        b, c = (np.asarray(a, dtype=float) for a in outcomes)
        same_scale = b.size == c.size and b.size > 0
        same_scale = same_scale and math.isclose(b.mean(), m["baseline"], rel_tol=1e-3)
        same_scale = same_scale and math.isclose(c.mean(), m["value"], rel_tol=1e-3)
        if same_scale:
            sign = -1.0 if m.get("higher_is_better", True) else 1.0
            need = samples_to_settle(b, c, sign * threshold * abs(m["baseline"]), conf)
            if need is not None:
                more = max(need - b.size, 1)
                return f"about {more} more validation samples (~{need} in all) would settle it"
    return "more validation samples would settle it"


def _by_drop(
    record: Record, th: Thresholds, sweep: Iterable[Record], outcomes: Any
) -> tuple[str, str]:
    """Ship / try QAT / stay FP16 from the point drop; inconclusive when its CI straddles."""
    m = record["metric"]
    drop = relative_drop(m["value"], m["baseline"], m.get("higher_is_better", True))
    name = m.get("name", "metric")
    if drop is None:
        return "inconclusive", f"the baseline {name} is 0, so a relative drop is undefined"
    change = f"a {pct(abs(drop))} {'drop' if drop >= 0 else 'gain'}"
    head = f"{name} {m['value']:.4g} vs {m['baseline']:.4g} baseline, {change}"
    ci = drop_interval(m)
    straddled = [t for t in (th.ship_below, th.qat_below) if ci and ci[0] < t < ci[1]]
    if straddled:
        t = min(straddled, key=lambda t: abs(t - drop))
        settle = _settle_text(record, t, outcomes, th.confidence)
        return "inconclusive", (
            f"{head}, but its {th.confidence:.0%} CI [{pct(ci[0])}, {pct(ci[1])}] straddles the "
            f"{pct(t)} threshold: {settle}"
        )
    if drop < th.ship_below:
        return "ship", f"{head}, below the {pct(th.ship_below)} ship threshold"
    if drop <= th.qat_below:
        band = f"between {pct(th.ship_below)} and {pct(th.qat_below)}"
        return "try QAT", f"{head}, {band}: {_qat_comparison(record, drop, sweep, th)}"
    return "stay FP16", f"{head}, above {pct(th.qat_below)}: stay FP16 or use bigger hardware"


def judge_candidate(
    record: Record,
    thresholds: Thresholds | None = None,
    *,
    sweep: Iterable[Record] = (),
    outcomes: tuple[np.ndarray, np.ndarray] | None = None,
) -> Verdict:
    """Judge an ok candidate against its baseline: budget, speed, then the metric drop."""
    th = thresholds or Thresholds()
    risky = is_risky_int4(record)
    m = record.get("metric") or {}
    if m.get("value") is None or m.get("baseline") is None:
        label, reason = "inconclusive", "the record has no metric value to judge"
    elif (problem := budget_problem(record)) is not None:
        label, reason = "does not fit", problem
    elif record.get("speedup") is not None and record["speedup"] < th.min_speedup:
        label = "no gain"
        reason = (
            f"{record['speedup']:.2f}x the baseline's speed, under the {th.min_speedup:.2f}x "
            "that counts as faster: no gain"
        )
    else:
        label, reason = _by_drop(record, th, sweep, outcomes)
    share = record.get("quantized_fraction")
    if share is not None and share < PARTIAL_BELOW:
        precision = (record.get("axes") or {}).get("precision")
        reason += f"; only {share:.0%} of the weights are actually stored in {precision}"
    if risky:
        task = record.get("task") or "this"
        reason += f"; INT4 on a {task} task is risky: prefer INT8 + pruning"
    return Verdict(label, reason[0].upper() + reason[1:] + ".", risky)


def verdict(
    record: Record,
    thresholds: Thresholds | None = None,
    *,
    sweep: Iterable[Record] = (),
    outcomes: tuple[np.ndarray, np.ndarray] | None = None,
) -> Verdict:
    """The verdict of one record within its sweep (for the QAT comparison)."""
    status = record.get("status")
    if status in ("skipped", "failed"):
        reason = record.get("reason") or f"the job {status} without a reason"
        return Verdict(status, reason)
    if is_baseline(record):
        m = record.get("metric") or {}
        value = m.get("value") if m.get("value") is not None else m.get("baseline")
        shown = "n/a" if value is None else f"{value:.4g}"
        return Verdict("baseline", f"FP32 PTQ reference: {m.get('name', 'metric')} {shown}.")
    return judge_candidate(record, thresholds, sweep=sweep, outcomes=outcomes)


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


OBJECTIVES = {"latency": "p50_ms", "size": "size_mb", "memory": "peak_mem_mb"}


def recommend(group: pd.DataFrame, objective: str = "latency") -> tuple[Any, str]:
    """Index of a group's best Pareto-optimal ship row for the objective, else of its baseline.

    `group` is summary-table rows of one (model, dataset, target): columns verdict, metric,
    higher_is_better, p50_ms and the objective's cost with its pareto_<cost> marks. Returns
    (index or None when nothing ships and there is no baseline row, why).
    """
    cost = OBJECTIVES[objective]
    ships = group[group.verdict == "ship"]
    on_front = ships[ships[f"pareto_{cost}"].astype(bool)]
    pool = on_front if len(on_front) else ships
    if len(pool):
        sign = -1.0 if pool.higher_is_better.iloc[0] else 1.0
        ranked = pool.assign(_m=sign * pool.metric).sort_values([cost, "_m", "p50_ms"])
        best = ranked.index[0]
        return best, f"the {objective}-best Pareto-optimal ship candidate. {pool.reason[best]}"
    counts = ", ".join(f"{n} {label}" for label, n in group.verdict.value_counts().items())
    base = group.index[group.verdict == "baseline"]
    why = f"nothing ships ({counts}): keep the FP32 PTQ baseline"
    return (base[0], why) if len(base) else (None, f"{why} (the sweep ran none)")
