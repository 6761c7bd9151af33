"""Text classification (`model.task=text_classification`): accuracy, macro-F1 beside it.

The model gives one score per class for each text; accuracy's per-sample outcomes are 0/1, so
the delta's interval is the paired Tango score interval every accuracy gets. Macro-F1 (the
mean over classes of each class's F1, the figure for unbalanced labels) is reported in
`metric.extra` for both models when their outputs are at hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from runner.core.registry import register


def macro_f1(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean F1 over the classes present in the labels or the predictions."""
    pred, y = np.asarray(pred), np.asarray(y)
    scores = []
    for c in np.union1d(pred, y):
        tp = float(np.sum((pred == c) & (y == c)))
        fp, fn = float(np.sum((pred == c) & (y != c))), float(np.sum((pred != c) & (y == c)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else 0.0


@register("task", "text_classification")
class TextClassification:
    """Accuracy (paired Tango interval), macro-F1 beside it."""

    name, higher_is_better = "accuracy", True

    @staticmethod
    def outcomes(outputs: np.ndarray, y: Any, reference: Any = None) -> np.ndarray:
        if y is None:
            raise ValueError("text classification needs labels: a jsonl file with text and label")
        return (np.asarray(outputs).argmax(axis=1) == np.asarray(y)).astype(np.float64)

    @staticmethod
    def value(outcomes: np.ndarray) -> float:
        return float(np.mean(outcomes))

    @staticmethod
    def compare(base: np.ndarray, cand: np.ndarray, y: Any = None, outputs: Any = None) -> dict:
        from runner.core.stats import paired_delta_ci

        value, baseline = float(cand.mean()), float(base.mean())
        lo, hi = paired_delta_ci(base, cand)
        block: dict[str, Any] = {
            "name": "accuracy",
            "higher_is_better": True,
            "value": value,
            "baseline": baseline,
            "delta_abs": value - baseline,
            "delta_rel": (value - baseline) / baseline if baseline else None,
            "ci95": [float(lo), float(hi)],
            "n_samples": int(len(cand)),
        }
        if outputs is not None and y is not None:
            f1 = [macro_f1(np.asarray(o).argmax(axis=1), y) for o in outputs]
            block["extra"] = {"macro_f1": {"value": f1[1], "baseline": f1[0]}}
        return block
