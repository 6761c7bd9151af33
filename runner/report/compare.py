"""Two result records side by side, A the reference (`python -m runner.compare A.json B.json`).

The validate-then-compare step users otherwise script by hand: B's metric against A's with a
paired CI when both jobs kept per-sample outcomes of the same length, latency and size ratios,
and the verdict B would get if A were its baseline.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.record import read
from runner.core.stats import paired_delta_ci
from runner.report.records import load_outcomes, record_problem
from runner.report.verdict import MB, Thresholds, Verdict, judge_candidate

log = logging.getLogger(__name__)


def load(path: Path) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    """A record and its outcomes; ValueError with a one-line message when it is unusable."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    rec = read(path)
    why = record_problem(rec)
    if why:
        raise ValueError(f"{path}: not a usable result record ({why})")
    return rec, load_outcomes(path, rec)


def _fmt(x: Any, spec: str, scale: float = 1.0) -> str:
    """A number for the side-by-side table; '-' when missing."""
    ok = isinstance(x, (int, float)) and not isinstance(x, bool)
    return format(x / scale, spec) if ok else "-"


def side_by_side(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> str:
    """The two records' axes, status, metric, latency, size and memory in two columns."""
    ma, mb = a.get("metric") or {}, b.get("metric") or {}
    la, lb = a.get("latency") or {}, b.get("latency") or {}
    rows = [("", "A (reference)", "B"), ("file", *names)]
    rows += [(k, str(a["axes"].get(k)), str(b["axes"].get(k))) for k in a["axes"]]
    rows += [
        ("status", a["status"], b["status"]),
        (str(ma.get("name") or mb.get("name") or "metric"), _fmt(ma.get("value"), ".4g"),
         _fmt(mb.get("value"), ".4g")),
        ("own baseline", _fmt(ma.get("baseline"), ".4g"), _fmt(mb.get("baseline"), ".4g")),
        ("own Δ CI95", _ci(ma.get("ci95")), _ci(mb.get("ci95"))),
        ("p50 ms", _fmt(la.get("p50_ms"), ".4g"), _fmt(lb.get("p50_ms"), ".4g")),
        ("own speedup", _fmt(a.get("speedup"), ".2f"), _fmt(b.get("speedup"), ".2f")),
        ("size MB", _fmt(a.get("size_bytes"), ".3f", MB), _fmt(b.get("size_bytes"), ".3f", MB)),
        ("peak MB", _fmt(a.get("peak_rss_bytes"), ".0f", MB),
         _fmt(b.get("peak_rss_bytes"), ".0f", MB)),
    ]  # fmt: skip
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    return "\n".join(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}" for r in rows)


def _ci(ci: Any, spec: str = "+.4g") -> str:
    """A CI as '[lo, hi]' (an absolute delta's by default)."""
    return f"[{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci else "-"


def _ratio(num: Any, den: Any) -> float | None:
    """num / den when both are positive numbers."""
    ok = all(isinstance(x, (int, float)) and x > 0 for x in (num, den))
    return num / den if ok else None


def metric_delta_ci(
    ma: dict[str, Any], outcomes: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float]:
    """Paired CI of B's metric minus A's, in the metric's own units, as the record does it.

    Perplexity is exp(mean NLL) of per-token NLLs: the NLL interval [lo, hi] maps to
    A's perplexity * (exp(lo) - 1, exp(hi) - 1), which contains B - A exactly when the NLL
    interval contains the mean NLL difference.
    """
    lo, hi = paired_delta_ci(*outcomes)
    if ma.get("name") == "perplexity":
        base = math.exp(float(np.mean(outcomes[0])))
        return base * math.expm1(lo), base * math.expm1(hi)
    return lo, hi


def versus(
    a: dict[str, Any],
    b: dict[str, Any],
    outcomes: tuple[np.ndarray, np.ndarray] | None,
    th: Thresholds,
) -> tuple[list[str], Verdict | None]:
    """B against A: delta with its paired CI (when outcomes pair up), ratios and a verdict."""
    ma, mb = a.get("metric") or {}, b.get("metric") or {}
    if a["status"] != "ok" or b["status"] != "ok":
        return [f"cannot compare: A is {a['status']}, B is {b['status']}"], None
    key_a, key_b = (
        (ma.get("name"), ma.get("higher_is_better")),
        (mb.get("name"), mb.get("higher_is_better")),
    )
    if key_a != key_b:
        return [f"cannot compare: A measures {key_a[0]}, B measures {key_b[0]}"], None
    ci = metric_delta_ci(ma, outcomes) if outcomes else None
    delta = mb["value"] - ma["value"]
    rel = f" ({delta / abs(ma['value']):+.2%})" if ma["value"] else ""
    how = f"paired, {len(outcomes[0])} samples" if outcomes else "no paired outcomes"
    lines = [f"B vs A: {ma['name']} {delta:+.4g}{rel}, 95% CI {_ci(ci)} ({how})"]
    if not outcomes:
        lines.append(f"  each against its own baseline: A {_ci(ma.get('ci95'))}, "
                     f"B {_ci(mb.get('ci95'))}")  # fmt: skip
    speed, speed_ci, how_timed = speed_ratio(a, b)
    size = _ratio(a.get("size_bytes"), b.get("size_bytes"))
    shown = f" {_ci(speed_ci, '.2f')}" if speed_ci else ""
    lines.append(f"latency ratio A/B: {_fmt(speed, '.2f')}x{shown} ({how_timed})   "
                 f"size ratio A/B: {_fmt(size, '.2f')}x")  # fmt: skip
    as_candidate = {
        **b,
        "metric": {**mb, "baseline": ma["value"], "delta_abs": delta,
                   "ci95": list(ci) if ci else None},
        "speedup": speed, "speedup_ci": list(speed_ci) if speed_ci else None,
        "compression": size, "baseline_peak_rss_bytes": a.get("peak_rss_bytes"),
    }  # fmt: skip
    for key in ("drop_ci95", "min_n"):  # B's own-baseline figures: not against A
        as_candidate["metric"].pop(key, None)
    return lines, point_guard(judge_candidate(as_candidate, th, outcomes=outcomes), outcomes)


ON_THE_DROP = ("ship", "try QAT", "stay FP16")


def point_guard(v: Verdict, outcomes: Any) -> Verdict:
    """Without paired outcomes B's drop against A is a bare point (no interval pairs two
    records' samples): a verdict that rests on the drop becomes inconclusive, saying why."""
    if outcomes or v.label not in ON_THE_DROP:
        return v
    return Verdict(
        "inconclusive",
        f"Without paired outcomes the drop of B against A is a point estimate with no "
        f"interval, and no verdict rests on a point (it alone would say {v.label}: "
        f"{v.reason.rstrip('.')}); keep both jobs' per-sample outcomes on the same validation "
        "samples (outcomes.npz beside each result.json) to judge it.",
        v.risky_int4,
    )


def speed_ratio(a: dict[str, Any], b: dict[str, Any]) -> tuple[Any, Any, str]:
    """B's speed over A's: from each job's paired speedup against the FP32 it timed beside it
    when both have an interval (the two intervals combined on the log scale; the machine's
    load in each job cancels), else the p50 ratio of two jobs (no interval)."""
    ia, ib = a.get("speedup_ci"), b.get("speedup_ci")
    if ia and ib and min(*ia, *ib) > 0:
        la, lb = (math.log(lo * hi) / 2 for lo, hi in (ia, ib))  # the centres, log scale
        ha, hb = (math.log(hi / lo) / 2 for lo, hi in (ia, ib))  # the half-widths
        half = math.hypot(ha, hb)
        ci = (math.exp(lb - la - half), math.exp(lb - la + half))
        return math.exp(lb - la), ci, "from each job's paired speedup against its FP32"
    p50 = _ratio((a.get("latency") or {}).get("p50_ms"), (b.get("latency") or {}).get("p50_ms"))
    return p50, None, "p50s of two jobs, no interval"


def _paired(oa: Any, ob: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """A's and B's candidate outcomes as a pair, when both exist with equal length."""
    if oa is None or ob is None:
        return None
    if np.ndim(oa[1]) != 1 or np.ndim(ob[1]) != 1:  # a corpus metric's evidence (mAP)
        log.warning("A's and B's evidence is not per-sample outcomes: no paired CI")
        return None
    if len(oa[1]) != len(ob[1]) or not (np.isfinite(oa[1]).all() and np.isfinite(ob[1]).all()):
        log.warning("A's and B's outcomes do not pair up (length or NaN): no paired CI")
        return None
    return oa[1], ob[1]
