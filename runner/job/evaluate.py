"""Pure metric functions: per-sample outcomes, so deltas get paired confidence intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

# task -> (metric name, higher is better); the metric is the mean of the per-sample outcomes
METRICS = {
    "classification": ("accuracy", True),
    "regression": ("mae", False),
    "embedding": ("cosine_to_fp32", True),
    "language_modeling": ("perplexity", False),
}


def predict(session: Any, x: Any, batch: int = 64) -> np.ndarray:
    """Run an ONNX Runtime session over `x` in batches; returns the stacked first output.

    A model whose batch dimension is fixed (an export with batch 1) is fed that many at a time,
    the last batch padded with copies of its last sample whose outputs are dropped.
    """
    from runner.core import batches
    from runner.core.lm_graph import is_kv_graph
    from runner.job.lm import window_scores

    if is_kv_graph(session):  # a decoder with a KV cache: NLL and top-1 token per position
        return window_scores(session, x)
    inp = session.get_inputs()[0]
    dim = inp.shape[0] if inp.shape else None
    fixed = dim if isinstance(dim, int) and dim > 0 else None
    step, outs, total = fixed or batch, [], batches.rows(x)
    for i in range(0, total, step):
        idx = np.arange(i, min(i + step, total))
        n = len(idx)
        if fixed and n < fixed:
            idx = np.concatenate([idx, np.repeat(idx[-1:], fixed - n)])
        outs.append(session.run(None, batches.feed(session, batches.take(x, idx)))[0][:n])
    return np.concatenate(outs).astype(np.float32)


def task_plugin(task: str) -> Any:
    """The registered task object for a task beyond the four above (runner/tasks), or None."""
    from runner.core import registry

    return None if task in METRICS else registry.find("task", task)


def value(task: str, outcomes: np.ndarray) -> float:
    """One model's metric from its outcomes: their mean, or what a registered task says."""
    plugin = task_plugin(task)
    return float(plugin.value(outcomes) if plugin else outcomes.mean())


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `a` with the same row of `b`."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)


def nearest_neighbours(e: np.ndarray) -> np.ndarray:
    """Index of each row's nearest other row by cosine similarity."""
    n = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    sim = n @ n.T
    np.fill_diagonal(sim, -np.inf)
    return sim.argmax(axis=1)


def outcomes(
    task: str, outputs: np.ndarray, y: np.ndarray | None, reference: np.ndarray | None = None
) -> np.ndarray:
    """Per-sample outcome whose mean is the metric: 1/0 correctness, absolute error, or the
    cosine of an embedding to the FP32 baseline's (`reference`) for the same input; a
    registered task (runner/tasks) returns its own evidence."""
    if (plugin := task_plugin(task)) is not None:
        return plugin.outcomes(outputs, y, reference)
    if task == "language_modeling":  # per-token NLL of every scored token (y is the mask)
        nll = outputs[..., 0] if outputs.ndim == 3 else outputs
        return nll.astype(np.float64)[np.asarray(y) == 1]
    if task == "embedding":
        if reference is None:
            raise ValueError("embedding fidelity needs the FP32 baseline's embeddings")
        return cosine_rows(outputs, reference)
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
    from runner.core import registry

    valid = ", ".join([*METRICS, *registry.names("task")])
    raise ValueError(f"unknown task {task!r}; valid: {valid}")


def regression_extra(abs_err: np.ndarray, y: np.ndarray | None) -> dict[str, float | None]:
    """RMSE (from the absolute errors) and R² (needs the targets' variance) of one model."""
    mse = float(np.mean(np.square(abs_err)))
    var = float(np.var(y)) if y is not None and len(y) else 0.0
    return {"rmse": mse**0.5, "r2": 1.0 - mse / var if var > 0 else None}


def compare(
    task: str,
    base: np.ndarray,
    cand: np.ndarray,
    y: np.ndarray | None = None,
    outputs: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The result record's `metric` block: value, baseline, deltas and the paired 95 % CI.

    Regression adds `extra: {rmse: {value, baseline}, r2: {value, baseline}}`; R² needs `y`.
    A language model scored through its KV-cache graph adds `top1_agreement`: the share of
    scored positions where the candidate ranks the same next token first as the baseline.
    """
    from runner.core.continuous import continuous_fields
    from runner.core.stats import paired_delta_ci

    if (plugin := task_plugin(task)) is not None:  # e.g. mAP: a bootstrap over images
        return plugin.compare(base, cand, y, outputs)
    name, higher = METRICS[task]
    value, baseline = float(cand.mean()), float(base.mean())
    delta = value - baseline
    if task == "language_modeling":  # over blocks of consecutive tokens, not tokens
        from runner.job.lm import nll_delta_ci

        (lo, hi), blocks = nll_delta_ci(base, cand)
    else:
        (lo, hi), blocks = paired_delta_ci(base, cand), None
    if task == "language_modeling":  # perplexity = exp(mean NLL); CI mapped through exp
        value, baseline = float(np.exp(value)), float(np.exp(baseline))
        lo, hi = baseline * (np.exp(lo) - 1), baseline * (np.exp(hi) - 1)
        delta = value - baseline
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
    if task != "language_modeling":  # continuous outcomes: drop_ci95 (Fieller) and min_n
        block.update(continuous_fields(base, cand, higher))
    if blocks is not None:
        block["ci_blocks"] = blocks  # the perplexity interval's blocks of scored tokens
    if task == "regression":
        ext_c, ext_b = regression_extra(cand, y), regression_extra(base, y)
        block["extra"] = {k: {"value": ext_c[k], "baseline": ext_b[k]} for k in ext_c}
    if task == "language_modeling" and outputs is not None and outputs[0].ndim == 3:
        scored = np.asarray(y) == 1  # the same next token ranked first as by FP32?
        top = [o[..., 1][scored] for o in outputs]
        agree = float(np.mean(top[0] == top[1]))
        block["extra"] = {"top1_agreement": {"value": agree, "baseline": 1.0}}
    if task == "embedding" and outputs is not None:  # same nearest neighbour as FP32?
        agree = float(np.mean(nearest_neighbours(outputs[0]) == nearest_neighbours(outputs[1])))
        block["extra"] = {"nn_agreement": {"value": agree, "baseline": 1.0}}
    return block


def own_metric(task: str, out: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    """A model judged against itself (runner.validate): the metric block with delta 0, and
    `value_ci95`, the interval of its own metric (mean of the per-sample outcomes)."""
    from runner.core.stats import mean_ci

    block = compare(task, out, out, y)
    lo, hi = mean_ci(out)
    block.update(ci95=None, delta_rel=0.0, value_ci95=[lo, hi])
    if "extra" in block:
        block["extra"] = {k: v["value"] for k, v in block["extra"].items()}
    return block


def outcome_summary(out: np.ndarray) -> dict[str, float]:
    """Per-sample outcomes in a few numbers (1/0 correctness, or absolute errors)."""
    q = np.percentile(out, [50, 90])
    return {
        "mean": float(out.mean()),
        "std": float(out.std()),
        "min": float(out.min()),
        "p50": float(q[0]),
        "p90": float(q[1]),
        "max": float(out.max()),
    }
