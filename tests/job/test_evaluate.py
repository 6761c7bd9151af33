"""Metric functions: accuracy and absolute error per sample, RMSE and R² beside the MAE."""

from __future__ import annotations

import numpy as np
import pytest

from runner.job import evaluate


def test_regression_outcomes_are_absolute_errors():
    out = np.array([[1.0], [5.0], [2.5]], np.float32)
    y = np.array([2.0, 3.0, 2.5], np.float32)
    np.testing.assert_allclose(evaluate.outcomes("regression", out, y), [1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="one value per sample"):
        evaluate.outcomes("regression", np.zeros((3, 2), np.float32), y)


def test_regression_metric_block_is_mae_lower_is_better_with_rmse_and_r2():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    base, cand = np.array([0.0, 0.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    m = evaluate.compare("regression", base, cand, y)
    assert (m["name"], m["higher_is_better"]) == ("mae", False)
    assert m["value"] == 1.0 and m["baseline"] == 0.5
    assert m["extra"]["rmse"] == {"value": 1.0, "baseline": pytest.approx(0.5**0.5)}
    assert m["extra"]["r2"]["value"] == pytest.approx(1 - 1.0 / 1.25)  # var(y) = 1.25
    assert m["extra"]["r2"]["baseline"] == pytest.approx(1 - 0.5 / 1.25)
    assert evaluate.compare("regression", base, cand)["extra"]["r2"]["value"] is None


def test_classification_block_has_no_extra():
    ones = np.ones(4)
    assert "extra" not in evaluate.compare("classification", ones, ones)


def test_predict_feeds_a_fixed_batch_model_its_batch_size():
    class Session:
        class Input:
            name, shape = "x", [2, 3]

        def get_inputs(self):
            return [self.Input()]

        def run(self, _, feed):
            assert len(feed["x"]) <= 2
            return [feed["x"]]

    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    np.testing.assert_array_equal(evaluate.predict(Session(), x), x)


def test_language_model_top1_agreement_counts_scored_positions_only():
    from runner.job.evaluate import compare, outcomes

    mask = np.array([[0, 1, 1, 1], [0, 0, 1, 1]])
    base = np.zeros((2, 4, 2), np.float32)
    cand = np.zeros((2, 4, 2), np.float32)
    base[..., 0], cand[..., 0] = 1.0, 1.1  # NLL per position
    base[..., 1] = [[7, 1, 2, 3], [7, 7, 4, 5]]  # the token ranked first
    cand[..., 1] = [[9, 1, 2, 0], [9, 9, 4, 0]]  # unscored positions differ: not counted
    b, c = (outcomes("language_modeling", o, mask) for o in (base, cand))
    assert len(b) == len(c) == 5  # the scored positions' NLL only
    block = compare("language_modeling", b, c, mask, outputs=(base, cand))
    assert block["extra"]["top1_agreement"]["value"] == pytest.approx(3 / 5)
    assert block["value"] == pytest.approx(np.exp(1.1)) and block["baseline"] == pytest.approx(np.e)
