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

from runner.core.stats import (
    agreeing_samples_to_settle,
    blocks_to_settle,
    discordant_samples_to_settle,
    samples_to_settle,
)
from runner.report.outcomes import UNBOUNDED, belonging, continuous_evidence, too_few
from runner.report.outcomes import outcome_threshold as outcome_threshold
from runner.report.paired import centre

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
OBJECTIVES = {"latency": "p50_ms", "size": "size_mb", "memory": "peak_mem_mb"}
PP_METRICS = ("accuracy", "mAP")  # metrics that are proportions: their deltas read in pp


@dataclass(frozen=True)
class Thresholds:
    """Relative-drop limits: below ship_below ships, up to qat_below tries QAT, above stays."""

    ship_below: float = 0.01
    qat_below: float = 0.03
    confidence: float = 0.95
    # A gain: the speedup's interval above this (and, under objective size or memory, the
    # size or memory ratio at least this). Interval below it: no gain; across it: unsettled.
    min_speedup: float = 1.05
    objective: str = "latency"  # what a candidate must gain on: latency | size | memory

    def __post_init__(self) -> None:
        if not 0.0 <= self.ship_below <= self.qat_below:
            raise ValueError(
                f"thresholds need 0 <= ship_below <= qat_below, got "
                f"ship_below={self.ship_below}, qat_below={self.qat_below}"
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective={self.objective!r} is unknown; use one of {', '.join(OBJECTIVES)}"
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
    """The relative drop's interval: metric.drop_ci95 when the job wrote it (continuous
    outcomes: Fieller's, the baseline's noise carried), else metric.ci95 (absolute delta,
    candidate - baseline) over the baseline."""
    own = metric.get("drop_ci95")
    if isinstance(own, (list, tuple)) and len(own) == 2 and None not in own:
        return float(own[0]), float(own[1])
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
    """A relative quantity as a short percentage string, e.g. '0.19 relative %'."""
    return f"{100 * x:.2f} relative %"


def _bar(t: float) -> str:
    """A relative threshold as '1 %' (thresholds are relative drops)."""
    return f"{100 * t:g} %"


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
    unit = "scored tokens" if m.get("name") == "perplexity" else "validation samples"
    if (pair := belonging(m, outcomes)) is None:
        return f"more {unit} would settle it"
    b, c = pair
    thr = outcome_threshold(m, threshold)[0]
    need = samples_to_settle(b, c, thr, conf)
    if need is not None and need <= b.size and bool(np.isin(np.r_[b, c], (0.0, 1.0)).all()):
        n10, n01 = int(np.sum((b == 1) & (c == 0))), int(np.sum((b == 0) & (c == 1)))
        need = discordant_samples_to_settle(n10, n01, b.size, thr, conf)  # Tango is wider here
        if need is not None:
            return (
                f"about {max(need - b.size, 1)} more {unit} (~{need} in all) would settle it "
                "if the candidate keeps its observed rate of disagreement with the baseline"
            )
    if need is not None:
        more = max(need - b.size, 1)
        return f"about {more} more {unit} (~{need} in all) would settle it at 80 % power"
    agree = np.array_equal(b, c) and bool(np.isin(b, (0.0, 1.0)).all())
    need = agreeing_samples_to_settle(b.size, thr, conf) if agree else None
    if need is not None:  # no disagreement: no variance for a power formula
        return (
            f"about {max(need - b.size, 1)} more {unit} (~{need} in all) would settle "
            "it if the candidate keeps agreeing with the baseline on every one"
        )
    return f"more {unit} would settle it"


def _change(m: Record, drop: float) -> str:
    """'accuracy 0.8983 vs 0.9 baseline, -0.17 pp (0.19 relative % drop)'."""
    delta = m["value"] - m["baseline"]
    pp = m.get("name") in PP_METRICS
    absolute = f"{100 * delta:+.2f} pp" if pp else f"{delta:+.4g}"
    word = "drop" if drop > 0 else "gain" if drop < 0 else "change"
    head = f"{m.get('name', 'metric')} {m['value']:.4g} vs {m['baseline']:.4g} baseline"
    return f"{head}, {absolute} ({pct(abs(drop))} {word})"


def _by_drop(
    record: Record, th: Thresholds, sweep: Iterable[Record], outcomes: Any
) -> tuple[str, str]:
    """Ship / try QAT / stay FP16 from the point drop; inconclusive when its CI straddles."""
    m = record["metric"]
    drop = relative_drop(m["value"], m["baseline"], m.get("higher_is_better", True))
    name = m.get("name", "metric")
    if drop is None:
        return "inconclusive", f"the baseline {name} is 0, so a relative drop is undefined"
    head = _change(m, drop)
    ci, min_n, n = continuous_evidence(m, outcomes)
    if (short := too_few(min_n, n)) is not None:
        return "inconclusive", f"{head}, but {short}"
    if ci == UNBOUNDED:
        return "inconclusive", (
            f"{head}, but the baseline's mean is not clear of 0 at this sample count, so the "
            "relative drop has no bounded interval: more validation samples would settle it"
        )
    ci = ci or drop_interval(m)
    straddled = [t for t in (th.ship_below, th.qat_below) if ci and ci[0] < t < ci[1]]
    if straddled:
        t = min(straddled, key=lambda t: abs(t - drop))
        settle = _settle_text(record, t, outcomes, th.confidence)
        return "inconclusive", (
            f"{head}, but its {th.confidence:.0%} CI of the drop [{100 * ci[0]:.2f}, "
            f"{100 * ci[1]:.2f}] relative % straddles the {_bar(t)} threshold: {settle}"
        )
    if drop < th.ship_below:
        loss = "no loss" if drop <= 0 else "a small loss"
        return "ship", f"{loss}: {head}, within the {_bar(th.ship_below)} ship threshold"
    if drop <= th.qat_below:
        band = f"between the {_bar(th.ship_below)} and {_bar(th.qat_below)} thresholds"
        return "try QAT", f"{head}, {band}: {_qat_comparison(record, drop, sweep, th)}"
    return "stay FP16", (
        f"{head}, above the {_bar(th.qat_below)} threshold: stay FP16 or use bigger hardware"
    )


def point_speedup(record: Record) -> float | None:
    """The speedup a verdict quotes: the centre of its interval (geometric, the scale it is
    built on), so the point never falls outside it; the recorded point without one."""
    s = centre(record.get("speedup"), record.get("speedup_ci"))
    return None if math.isnan(s) else s


def speed_call(record: Record, th: Thresholds) -> tuple[str, str]:
    """('gain' | 'none' | 'unsettled' | 'unknown', why) from the speedup and its interval.

    No gain only when the whole interval lies below min_speedup, a gain only when it lies
    above; records without an interval (older ones, compare across processes) use the point.
    """
    s, ci = point_speedup(record), record.get("speedup_ci")
    bar = th.min_speedup
    if s is None:
        return "unknown", "no speed measured"
    if not ci or any(v is None for v in ci):
        verdict_ = "none" if s < bar else "gain"
        return verdict_, f"{s:.2f}x the baseline's speed (no timing interval), bar {bar:.2f}x"
    lo, hi = ci
    said = f"{s:.2f}x the baseline's speed ({th.confidence:.0%} CI [{lo:.2f}, {hi:.2f}]x)"
    if hi < bar:
        return "none", f"{said}, below the {bar:.2f}x that counts as faster"
    if lo > bar:
        return "gain", f"{said}, above {bar:.2f}x"
    runs = (record.get("latency") or {}).get("session_runs")
    need = blocks_to_settle(tuple(ci), runs, bar, th.confidence) if runs else None
    settle = (
        f"about {max(need - runs, 1)} more fresh-session timing runs (~{need} in all, at 80 % "
        "power) would settle it"
        if need
        else "more fresh-session timing runs would settle it"
    )
    return "unsettled", f"speed is inconclusive: {said} straddles the {bar:.2f}x bar; {settle}"


def lean_ratio(record: Record, objective: str) -> tuple[float | None, str]:
    """The gain objective size or memory asks for: (baseline / candidate size or peak memory,
    how to say it); None when the record did not measure it."""
    if objective == "size":
        ratio = record.get("compression")
        return (float(ratio) if ratio else None), "smaller"
    peak, base = record.get("peak_rss_bytes"), record.get("baseline_peak_rss_bytes")
    return (base / peak if peak and base else None), "leaner in peak memory"


def _speed_aside(record: Record) -> str:
    """The speed as an aside: it decides nothing under objective size or memory."""
    s, ci = point_speedup(record), record.get("speedup_ci")
    if s is None:
        return "speed unmeasured"
    shown = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and None not in ci else ""
    return f"speed {s:.2f}x{shown}, which decides nothing here"


def _by_leanness(
    record: Record, th: Thresholds, sweep: Iterable[Record], outcomes: Any
) -> tuple[str, str]:
    """Objective size or memory: the size or memory ratio against the bar, then the metric;
    speed is only reported (a 4x smaller model 0.9x as fast is what this objective wants)."""
    ratio, what = lean_ratio(record, th.objective)
    goal = f"objective={th.objective}"
    if ratio is None:
        fix = "" if th.objective == "size" else " (run with latency.memory_probe=true)"
        return "inconclusive", f"the record has no {th.objective} figure to judge {goal} on{fix}"
    lean = f"{ratio:.2f}x {what} ({_speed_aside(record)})"
    if ratio < th.min_speedup:
        return "no gain", (
            f"{lean}: under the {th.min_speedup:.2f}x that counts as a gain under {goal}; no gain"
        )
    label, reason = _by_drop(record, th, sweep, outcomes)
    return label, f"{lean}; {reason}"


def judge_candidate(
    record: Record,
    thresholds: Thresholds | None = None,
    *,
    sweep: Iterable[Record] = (),
    outcomes: tuple[np.ndarray, np.ndarray] | None = None,
) -> Verdict:
    """Judge an ok candidate: budget, then the objective's gain (speed for latency; size or
    peak memory alone for size / memory), then the metric drop."""
    th = thresholds or Thresholds()
    risky = is_risky_int4(record)
    m = record.get("metric") or {}
    if m.get("value") is None or m.get("baseline") is None:
        label, reason = "inconclusive", "the record has no metric value to judge"
    elif (problem := budget_problem(record)) is not None:
        label, reason = "does not fit", problem
    elif th.objective != "latency":
        label, reason = _by_leanness(record, th, sweep, outcomes)
    else:
        label, reason = _by_speed(record, th, sweep, outcomes)
    share = record.get("quantized_fraction")
    if share is not None and share < PARTIAL_BELOW:
        precision = (record.get("axes") or {}).get("precision")
        reason += f"; only {share:.0%} of the weights are actually stored in {precision}"
    if risky:
        task = record.get("task") or "this"
        reason += f"; INT4 on a {task} task is risky: prefer INT8 + pruning"
    return Verdict(label, reason[0].upper() + reason[1:] + ".", risky)


def _by_speed(
    record: Record, th: Thresholds, sweep: Iterable[Record], outcomes: Any
) -> tuple[str, str]:
    """No gain when the speed interval lies below the bar, inconclusive when it straddles
    (saying what the metric alone would say), else the metric decides."""
    call, why = speed_call(record, th)
    if call == "none":
        return "no gain", f"{why}: no gain"
    label, reason = _by_drop(record, th, sweep, outcomes)
    if call == "unsettled":
        return "inconclusive", f"{why}; on the metric alone: {label} ({reason})"
    return label, reason


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
