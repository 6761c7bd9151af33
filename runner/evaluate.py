"""Pure metric functions: per-sample outcomes, so deltas get paired confidence intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

# task -> (metric name, higher is better)
METRICS = {"classification": ("accuracy", True)}


def predict(session: Any, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Run an ONNX Runtime session over `x` in batches; returns the stacked first output."""
    name = session.get_inputs()[0].name
    outs = [session.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def outcomes(task: str, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample outcome whose mean is the metric (1/0 correctness for classification)."""
    if task == "classification":
        return (outputs.argmax(axis=1) == y).astype(np.float64)
    raise ValueError(f"unknown task {task!r}; valid: {', '.join(METRICS)}")


def compare(task: str, base: np.ndarray, cand: np.ndarray) -> dict[str, Any]:
    """The result record's `metric` block: value, baseline, deltas and the paired 95 % CI."""
    from runner.stats import paired_delta_ci

    name, higher = METRICS[task]
    value, baseline = float(cand.mean()), float(base.mean())
    delta = value - baseline
    lo, hi = paired_delta_ci(base, cand)
    return {
        "name": name,
        "higher_is_better": higher,
        "value": value,
        "baseline": baseline,
        "delta_abs": delta,
        "delta_rel": delta / abs(baseline) if baseline else None,
        "ci95": [float(lo), float(hi)],
        "n_samples": int(len(cand)),
    }
