"""runner.policy.gather's degrees of freedom, called directly: a paired t interval's (fewer
than 30 units: blocks of tokens for perplexity, samples otherwise) widens at its look's
boundary with n - 1 degrees of freedom; a binary metric's or a large sample's interval is
normal (None)."""

from __future__ import annotations

import pytest

from runner.policy.gather import t_df


@pytest.mark.parametrize(
    "metric,df",
    [
        ({"name": "perplexity", "ci_blocks": 8, "n_samples": 4095}, 7),
        ({"name": "perplexity", "ci_blocks": 29}, 28),
        ({"name": "perplexity", "ci_blocks": 2}, 1),
        ({"name": "mae", "n_samples": 12}, 11),
        ({"name": "mae", "ci_blocks": None, "n_samples": 12}, 11),
        ({"n_samples": 29}, 28),
    ],
)
def test_a_small_paired_sample_has_n_minus_1_degrees_of_freedom(metric, df):
    got = t_df(metric)
    assert got == df and type(got) is int


@pytest.mark.parametrize(
    "metric",
    [
        {"name": "perplexity", "ci_blocks": 30},
        {"name": "perplexity", "ci_blocks": 1},
        {"name": "perplexity", "ci_blocks": 0, "n_samples": 0},
        {"name": "mae", "n_samples": 5000},
        {"name": "accuracy", "n_samples": 12},
        {"name": "top1_agreement", "ci_blocks": 8},
        {"name": "perplexity"},
        {},
    ],
)
def test_a_binary_metric_or_a_large_or_missing_sample_has_a_normal_interval(metric):
    assert t_df(metric) is None
