"""The perplexity interval over blocks of consecutive scored tokens (runner.job.lm), checked
against a computation written out here and against coverage on dependent token series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.job import evaluate
from runner.job.lm import BLOCK_TOKENS, block_means, nll_delta_ci

T15 = 2.131449546  # Student t, 97.5 % quantile, 15 degrees of freedom (tables)


def ar1(n: int, phi: float, rng) -> np.ndarray:
    """A stationary AR(1) series with unit innovations: neighbouring tokens' NLL differences
    move together, as they do within one text."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def by_hand(diff: np.ndarray, blocks: int) -> tuple[float, float]:
    """t interval over the means of `blocks` consecutive, (nearly) equal blocks."""
    size, extra = divmod(len(diff), blocks)
    means, start = [], 0
    for k in range(blocks):
        stop = start + size + (1 if k < extra else 0)
        means.append(sum(diff[start:stop]) / (stop - start))
        start = stop
    m = sum(means) / blocks
    sd = math.sqrt(sum((v - m) ** 2 for v in means) / (blocks - 1))
    return m - T15 * sd / math.sqrt(blocks), m + T15 * sd / math.sqrt(blocks)


def test_the_interval_is_a_t_interval_over_block_means():
    rng = np.random.default_rng(3)
    base = rng.gamma(2.0, 1.5, 2048)
    cand = base + 0.01 + 0.3 * ar1(2048, 0.7, rng)
    (lo, hi), blocks = nll_delta_ci(base, cand)
    assert blocks == 2048 // BLOCK_TOKENS == 16
    assert (lo, hi) == pytest.approx(by_hand(cand - base, 16), rel=1e-5)
    assert nll_delta_ci(base[:2047], cand[:2047])[1] == 15  # 2,047 tokens: 15 blocks


def test_the_record_carries_the_block_interval_through_exp():
    rng = np.random.default_rng(4)
    base = rng.gamma(2.0, 1.5, 2048)
    cand = base + 0.02 + 0.3 * ar1(2048, 0.7, rng)
    m = evaluate.compare("language_modeling", base, cand)
    (lo, hi), blocks = nll_delta_ci(base, cand)
    b = math.exp(base.mean())
    assert m["ci95"] == pytest.approx([b * math.expm1(lo), b * math.expm1(hi)])
    assert m["ci_blocks"] == blocks == 16 and m["n_samples"] == 2048
    assert block_means(np.arange(10.0), 3).tolist() == [1.5, 5.0, 8.0]


def test_blocks_cover_where_tokens_do_not():
    """Dependent tokens (AR(1), phi 0.8), true mean 0, 400 texts of 2,048 tokens: the block
    interval holds its 95 % roughly; a per-token normal interval misses most of the time."""
    rng = np.random.default_rng(5)
    block_hits = token_hits = 0
    reps = 400
    for _ in range(reps):
        d = ar1(2048, 0.8, rng)
        (lo, hi), _ = nll_delta_ci(np.zeros(2048), d)
        block_hits += lo < 0 < hi
        half = 1.96 * d.std(ddof=1) / math.sqrt(len(d))
        token_hits += abs(d.mean()) < half
    assert block_hits / reps > 0.90
    assert token_hits / reps < 0.70
