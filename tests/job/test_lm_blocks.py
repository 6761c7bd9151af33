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


def by_hand(diff: np.ndarray, blocks: int, t: float = T15) -> tuple[float, float]:
    """t interval (quantile `t`) over the means of `blocks` consecutive, (nearly) equal
    blocks, in Python floats."""
    diff = [float(v) for v in diff]
    size, extra = divmod(len(diff), blocks)
    means, start = [], 0
    for k in range(blocks):
        stop = start + size + (1 if k < extra else 0)
        means.append(sum(diff[start:stop]) / (stop - start))
        start = stop
    m = sum(means) / blocks
    sd = math.sqrt(sum((v - m) ** 2 for v in means) / (blocks - 1))
    return m - t * sd / math.sqrt(blocks), m + t * sd / math.sqrt(blocks)


def pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-token NLLs of a baseline and a candidate, float32 as window_scores stores them."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 1.5, n)
    cand = base + 0.01 + 0.3 * ar1(n, 0.7, rng)
    return base.astype(np.float32), cand.astype(np.float32)


def test_the_interval_is_a_t_interval_over_block_means():
    """Float32 scores are summed in float64 (a float32 mean of 128 values is off by ~1e-7)."""
    base, cand = pair(2048, 3)
    diff = cand.astype(np.float64) - base.astype(np.float64)
    (lo, hi), blocks = nll_delta_ci(base, cand)
    assert blocks == 2048 // BLOCK_TOKENS == 16
    assert (lo, hi) == pytest.approx(by_hand(diff, 16), rel=1e-9)
    assert nll_delta_ci(base[:2047], cand[:2047])[1] == 15  # 2,047 tokens: 15 blocks
    # another confidence and another block size, each against its own t quantile (scipy's)
    assert nll_delta_ci(base, cand, confidence=0.90)[0] == pytest.approx(
        by_hand(diff, 16, t=1.753050355692572), rel=1e-6
    )
    assert nll_delta_ci(base, cand, block=256) == (
        pytest.approx(by_hand(diff, 8, t=2.364624251592784), rel=1e-6),
        8,
    )


def test_two_blocks_are_enough_for_a_block_interval():
    base, cand = pair(32, 6)
    diff = cand.astype(np.float64) - base.astype(np.float64)
    got = nll_delta_ci(base, cand, block=16)
    assert got == (pytest.approx(by_hand(diff, 2, t=12.706204736174694), rel=1e-6), 2)


def test_under_two_blocks_the_interval_is_over_the_tokens():
    """20 tokens in blocks of 16 make one block: the paired t interval over the 20 tokens."""
    base, cand = pair(20, 7)
    diff = cand.astype(np.float64) - base.astype(np.float64)
    assert nll_delta_ci(base, cand, block=16) == (
        pytest.approx(by_hand(diff, 20, t=2.0930240544083087), rel=1e-6),
        20,
    )
    assert nll_delta_ci(base, cand, block=16, confidence=0.90)[0] == pytest.approx(
        by_hand(diff, 20, t=1.7291328115213682), rel=1e-6
    )


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
    assert block_means(np.arange(5.0), 8).tolist() == [2.0]  # fewer values than a block: one


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
