"""Hand-made result records for the summarizer's tests, each validated against the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import assert_valid_record

BASE_P50 = 0.06
BASE_SIZE = 1_400_000


def value_for_drop(drop: float, baseline: float = 0.9, higher_is_better: bool = True) -> float:
    """The metric value that is `drop` (relative, positive = worse) away from the baseline."""
    return baseline * (1 - drop) if higher_is_better else baseline * (1 + drop)


def make_record(
    precision: str = "int8",
    method: str = "ptq",
    *,
    drop: float = 0.002,
    baseline: float = 0.9,
    ci_drop: tuple[float, float] | None = None,
    p50: float = 0.03,
    size: int = 360_000,
    peak: int = 90_000_000,
    status: str = "ok",
    reason: str | None = None,
    higher_is_better: bool = True,
    name: str = "accuracy",
    task: str = "classification",
    model: str = "digits_cnn",
    target: str = "cpu_x86",
    speedup_ci: tuple[float, float] | None = None,
    session_runs: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A schema-valid record; `drop` and `ci_drop` are relative drops (positive = worse);
    `speedup_ci` and `session_runs` (timing runs behind it) are left out unless given."""
    sign = -1.0 if higher_is_better else 1.0  # delta_abs = sign * drop * |baseline|
    value = value_for_drop(drop, baseline, higher_is_better)
    lo, hi = ci_drop if ci_drop is not None else (drop - 0.001, drop + 0.001)
    ci = sorted([sign * lo * abs(baseline), sign * hi * abs(baseline)])
    ok = status == "ok"
    lat = {"p50_ms": p50, "p90_ms": p50 * 1.2, "p99_ms": p50 * 1.5, "throughput": 1000 / p50,
           "batch": 1, "threads": 1}  # fmt: skip
    if session_runs:
        lat["session_runs"] = session_runs
    choices = {"model": model, "dataset": "digits", "precision": precision, "method": method,
               "target": target, "tracking": "none"}  # fmt: skip
    rec = {
        "schema_version": 1, "run_key": f"{model}-{precision}-{method}-{target}",
        "status": status, "reason": reason,
        "axes": {"model": model, "dataset": "digits", "precision": precision, "method": method,
                 "target": target, "backend": "ort_static_qdq" if ok else None},
        "task": task,
        "metric": {"name": name, "higher_is_better": higher_is_better, "value": value,
                   "baseline": baseline, "delta_abs": value - baseline,
                   "delta_rel": (value - baseline) / abs(baseline), "ci95": ci,
                   "n_samples": 500} if ok else None,
        "latency": lat if ok else None, "baseline_latency": {**lat, "p50_ms": BASE_P50},
        "speedup": BASE_P50 / p50 if ok else None, "size_bytes": size if ok else None,
        "baseline_size_bytes": BASE_SIZE, "compression": BASE_SIZE / size if ok else None,
        "quantized_fraction": 0.99 if ok else None, "peak_rss_bytes": peak if ok else None,
        "target_budget": {"max_latency_ms": None, "max_memory_mb": None},
        "timings": {"quantize_s": 1.0, "eval_s": 0.1, "total_s": 2.0}, "env": {},
        "artifact": "model.onnx" if ok else None, "outcomes_file": None,
        "overrides": [f"precision={precision}", f"method={method}"], "choices": choices,
    }  # fmt: skip
    if speedup_ci is not None:
        rec["speedup_ci"] = list(speedup_ci)
    rec.update(extra)
    assert_valid_record(rec)
    return rec


def baseline_record(**kw: Any) -> dict[str, Any]:
    """The FP32 PTQ reference row: no drop, the baseline's own latency and size."""
    return make_record("fp32", "ptq", drop=0.0, p50=BASE_P50, size=BASE_SIZE, **kw)


def write_job(root: Path, name: str, record: dict[str, Any], outcomes: tuple | None = None) -> Path:
    """Write record (and its outcomes .npz) as root/name/result.json, like one Hydra job."""
    job = root / name
    job.mkdir(parents=True, exist_ok=True)
    if outcomes is not None:
        np.savez(job / "outcomes.npz", baseline=outcomes[0], candidate=outcomes[1])
        record = {**record, "outcomes_file": "outcomes.npz"}
    (job / "result.json").write_text(json.dumps(record))
    return job / "result.json"


def flips(n: int, base_right: int, n10: int, n01: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes of n samples: base right on base_right, n10 then lost, n01 others gained."""
    base = np.zeros(n)
    base[:base_right] = 1
    cand = base.copy()
    cand[:n10] = 0
    cand[base_right : base_right + n01] = 1
    return base, cand
