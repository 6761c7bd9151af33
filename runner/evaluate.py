"""Pure metric functions: per-sample outcomes, so deltas get paired confidence intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

# task -> (metric name, higher is better); the metric is the mean of the per-sample outcomes
METRICS = {"classification": ("accuracy", True), "regression": ("mae", False)}


def predict(session: Any, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Run an ONNX Runtime session over `x` in batches; returns the stacked first output.

    A model whose batch dimension is fixed (an export with batch 1) is fed that many at a time,
    the last batch padded with copies of its last sample whose outputs are dropped.
    """
    inp = session.get_inputs()[0]
    dim = inp.shape[0] if inp.shape else None
    fixed = dim if isinstance(dim, int) and dim > 0 else None
    step, outs = fixed or batch, []
    for i in range(0, len(x), step):
        chunk = x[i : i + step]
        n = len(chunk)
        if fixed and n < fixed:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - n, axis=0)])
        outs.append(session.run(None, {inp.name: chunk})[0][:n])
    return np.concatenate(outs).astype(np.float32)


def outcomes(task: str, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample outcome whose mean is the metric: 1/0 correctness, or absolute error."""
    if task == "classification":
        return (outputs.argmax(axis=1) == y).astype(np.float64)
    if task == "regression":
        pred = outputs.reshape(len(y), -1)
        if pred.shape[1] != 1:
            raise ValueError(
                f"a regression model must output one value per sample, this one gives "
                f"{pred.shape[1]}; use model.task=classification for class scores"
            )
        return np.abs(pred[:, 0].astype(np.float64) - np.asarray(y, dtype=np.float64))
    raise ValueError(f"unknown task {task!r}; valid: {', '.join(METRICS)}")


def regression_extra(abs_err: np.ndarray, y: np.ndarray | None) -> dict[str, float | None]:
    """RMSE (from the absolute errors) and R² (needs the targets' variance) of one model."""
    mse = float(np.mean(np.square(abs_err)))
    var = float(np.var(y)) if y is not None and len(y) else 0.0
    return {"rmse": mse**0.5, "r2": 1.0 - mse / var if var > 0 else None}


def compare(
    task: str, base: np.ndarray, cand: np.ndarray, y: np.ndarray | None = None
) -> dict[str, Any]:
    """The result record's `metric` block: value, baseline, deltas and the paired 95 % CI.

    Regression adds `extra: {rmse: {value, baseline}, r2: {value, baseline}}`; R² needs `y`.
    """
    from runner.stats import paired_delta_ci

    name, higher = METRICS[task]
    value, baseline = float(cand.mean()), float(base.mean())
    delta = value - baseline
    lo, hi = paired_delta_ci(base, cand)
    block: dict[str, Any] = {
        "name": name,
        "higher_is_better": higher,
        "value": value,
        "baseline": baseline,
        "delta_abs": delta,
        "delta_rel": delta / abs(baseline) if baseline else None,
        "ci95": [float(lo), float(hi)],
        "n_samples": int(len(cand)),
    }
    if task == "regression":
        ext_c, ext_b = regression_extra(cand, y), regression_extra(base, y)
        block["extra"] = {k: {"value": ext_c[k], "baseline": ext_b[k]} for k in ext_c}
    return block
