"""The summary table's speed columns from paired ratios, never from figures of different jobs.

Each job times the FP32 baseline and its candidate interleaved, so its speedup is a paired
ratio; its own p50 (tok/s, TTFT) depends on how busy the machine was while that job ran. The
table therefore shows one reference per group (the median of the baseline figures its jobs
measured) scaled by each row's paired ratio: a row that is 2x faster than FP32 in its job
shows half FP32's p50 and twice its tok/s, whichever job was timed in a quieter moment.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from runner.core.stats import interval_centre
from runner.report.records import _num

# shown column -> (the job's own figure, its baseline's figure, ratio column, scales as)
SCALED = {
    "p50_ms": ("p50_ms_job", "base_p50_ms", "speedup", "divide"),
    "ttft_ms": ("ttft_ms_job", "base_ttft_ms", "speedup_prefill", "divide"),
    "decode_tps": ("decode_tps_job", "base_decode_tps", "speedup_decode", "multiply"),
}


def centre(point: Any, ci: Any) -> float:
    """A ratio's point as the centre of its interval (geometric, as the interval is built on
    the log scale), so it never falls outside it; the recorded point without an interval."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = _num(ci[0]), _num(ci[1])
        if 0 < lo <= hi < math.inf:
            return interval_centre(lo, hi)
    return _num(point)


def speed_fields(rec: dict, baseline_row: bool) -> dict[str, float]:
    """One row's paired ratios (interval centres) and the raw figures they are scaled from."""
    lat, base_lat = rec.get("latency") or {}, rec.get("baseline_latency") or {}
    gen, base_gen = rec.get("generation") or {}, rec.get("baseline_generation") or {}
    ratios = {
        "speedup": centre(rec.get("speedup"), rec.get("speedup_ci")),
        "speedup_prefill": centre(gen.get("speedup_prefill"), gen.get("speedup_prefill_ci")),
        "speedup_decode": centre(gen.get("speedup_decode"), gen.get("speedup_decode_ci")),
    }
    if baseline_row:  # FP32 timed against itself: 1 by definition, its own figures
        ratios = dict.fromkeys(ratios, 1.0)
        gen = base_gen or gen
    return {
        **ratios,
        "p50_ms_job": _num(lat.get("p50_ms")),
        "base_p50_ms": _num(base_lat.get("p50_ms")),
        "ttft_ms_job": _num(gen.get("ttft_ms")),
        "base_ttft_ms": _num(base_gen.get("ttft_ms")),
        "decode_tps_job": _num(gen.get("decode_tokens_per_s")),
        "base_decode_tps": _num(base_gen.get("decode_tokens_per_s")),
    }


def scale_to_reference(df: pd.DataFrame, group: tuple[str, ...]) -> pd.DataFrame:
    """Fill the shown p50_ms / ttft_ms / decode_tps columns: the group's reference (median of
    its jobs' baseline figures) scaled by each row's paired ratio; the job's own figure only
    where the record has no ratio or no baseline figure to scale."""
    out = df.copy()
    for shown, (own, base, ratio, how) in SCALED.items():
        ref = out.groupby(list(group), sort=False)[base].transform("median")
        r = pd.to_numeric(out[ratio], errors="coerce")
        scaled = ref / r if how == "divide" else ref * r
        ok = np.isfinite(scaled.to_numpy(dtype=float)) & (r > 0).to_numpy()
        out[shown] = np.where(ok, scaled, out[own])
    return out
