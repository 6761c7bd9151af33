"""GPTQ rounding: error feedback lowers the layer's output error below round-to-nearest."""

from __future__ import annotations

import numpy as np
import pytest

from runner.gptq import gptq


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(64, 32)).astype(np.float32)  # [K in, N out], as ORT passes it
    x = rng.normal(size=(2000, 64)) @ rng.normal(size=(64, 64))  # correlated activations
    return w, x, x.T @ x * 2 / len(x)


def _out_err(x, w, q):
    return float(np.mean((x @ q - x @ w) ** 2))


def test_with_an_identity_hessian_gptq_is_round_to_nearest():
    w, _, _ = _problem()
    q = gptq(w, np.eye(64), group_size=32)
    for g in (slice(0, 32), slice(32, 64)):  # every value on its group's 16-level grid
        for col in range(w.shape[1]):
            assert len(np.unique(q[g, col])) <= 16
    lo, hi = np.minimum(w[:32].min(0), 0), np.maximum(w[:32].max(0), 0)
    step = (hi - lo) / 15
    zero = np.round(-lo / step)  # an integer zero point: 0.0 is exactly on the grid
    rtn = step * (np.clip(np.round(w[:32] / step) + zero, 0, 15) - zero)
    np.testing.assert_allclose(q[:32], rtn, atol=1e-5)


def test_error_feedback_halves_the_output_error_on_correlated_inputs():
    w, x, h = _problem()
    rtn = _out_err(x, w, gptq(w, np.eye(64)))
    assert _out_err(x, w, gptq(w, h.copy())) < 0.7 * rtn


def test_onnxruntime_own_gptq_is_no_better_than_rtn_which_is_why_we_swap_it():
    from onnxruntime.quantization.neural_compressor import weight_only

    w, x, h = _problem(1)
    theirs = weight_only.gptq(
        w.copy(),
        h.copy(),
        num_bits=4,
        group_size=32,
        scheme="asym",
        blocksize=128,
        percdamp=0.01,
        actorder=False,
        mse=False,
        perchannel=True,
    )
    rtn = gptq(w, np.eye(64))
    assert _out_err(x, w, theirs) == pytest.approx(_out_err(x, w, rtn), rel=1e-3)
