"""A language model through the real pipeline (tiny random Llama, no download): the record's
generation figures, the decode / prefill speedup they imply, perplexity from the timed graph,
top-1 agreement, and torch candidates timed through the same KV-cache code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FAST, choices_of, typed
from tests.models.test_causal_lm import STRIDE, TOKENS, WINDOW, save_tiny_llama


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lm_pipeline")
    return save_tiny_llama(root / "model"), root / "cache"


@pytest.fixture
def lm_job(tiny_llama, tmp_path):
    """Run one job on the tiny Llama with fast timing; returns (record, job dir)."""
    from runner.job import pipeline

    folder, cache = tiny_llama

    def _run(*overrides: str, name: str = "job") -> tuple[dict, Path]:
        ov = [
            "model=hf_causal_lm",
            f"model.path={folder}",
            f"model.window={WINDOW}",
            f"model.stride={STRIDE}",
            f"model.eval_tokens={TOKENS}",
            f"model.calib_tokens={2 * WINDOW}",
            "model.prompt_tokens=16",
            "model.new_tokens=8",
            "latency.session_runs=2",
            "dataset.max_samples=300",
            f"cache_dir={cache}",
            *FAST,
            *overrides,
        ]
        out = tmp_path / name
        return pipeline.run(typed(*ov), out, list(overrides), choices_of(overrides)), out

    return _run


def _paired(gen: dict, base: dict, kind: str) -> float:
    """Geometric mean over runs of baseline / candidate median call time."""
    b, c = (np.asarray(g[f"{kind}_run_ms"]) for g in (base, gen))
    assert len(b) == len(c) == 2  # latency.session_runs
    return float(np.exp(np.mean(np.log(b / c))))


def test_an_int8_job_records_generation_figures_and_ranks_on_decode_speed(lm_job):
    rec, _ = lm_job("precision=int8")
    assert rec["status"] == "ok", rec["reason"]
    assert rec["axes"]["backend"] == "ort_int8_matmulnbits"
    gen, base = rec["generation"], rec["baseline_generation"]
    for g in (gen, base):
        assert g["prompt_tokens"] == 16 and g["new_tokens"] == 8
        assert g["ttft_ms"] > 0 and g["decode_tokens_per_s"] > 0
        assert 0 < g["decode_token_p50_ms"] <= g["decode_token_p90_ms"]
        assert g["decode_calls"] >= 2  # at least one timed decode per session run
    # the verdict's speedup is the decode ratio, baseline time over candidate time, paired
    # within each fresh-session run (geometric mean), inside its own interval
    assert rec["speedup"] == pytest.approx(_paired(gen, base, "decode"), rel=1e-9)
    assert rec["speedup"] == gen["speedup_decode"]
    lo, hi = rec["speedup_ci"]
    assert lo <= rec["speedup"] <= hi
    assert gen["speedup_prefill"] == pytest.approx(_paired(gen, base, "prefill"), rel=1e-9)
    # the latency block is per decode token: 8 steps per timed call
    assert rec["latency"]["unit"] == "decode token"
    assert rec["latency"]["runs"] == 8 * gen["decode_calls"]
    # perplexity of every evaluation token after the first, and the top-1 agreement
    m = rec["metric"]
    assert m["name"] == "perplexity" and m["n_samples"] == TOKENS - 1
    assert 0.5 <= m["extra"]["top1_agreement"]["value"] <= 1.0
    assert abs(m["delta_rel"]) < 0.15  # a random wide-init model: 8 bits still stay close


def test_summary_lm_speed_prefill_ranks_on_time_to_first_token(lm_job):
    rec, _ = lm_job("precision=int8", "summary.lm_speed=prefill")
    assert rec["status"] == "ok", rec["reason"]
    gen, base = rec["generation"], rec["baseline_generation"]
    assert rec["speedup"] == pytest.approx(_paired(gen, base, "prefill"), rel=1e-9)
    assert rec["latency"]["unit"] == "prefill"
    assert rec["latency"]["runs"] == rec["generation"]["prefill_calls"] >= 2


def test_the_fp32_row_is_the_baseline_and_int4_scores_from_its_own_graph(lm_job):
    fp32, _ = lm_job("precision=fp32", name="fp32")
    int4, out = lm_job("precision=int4", "precision.symmetric=true", name="int4")
    assert fp32["status"] == int4["status"] == "ok", (fp32["reason"], int4["reason"])
    assert fp32["metric"]["delta_abs"] == 0.0
    assert fp32["metric"]["extra"]["top1_agreement"]["value"] == 1.0
    # a random model at 4 bits: its own graph was scored, not the baseline's
    assert int4["metric"]["value"] != fp32["metric"]["value"]
    assert int4["metric"]["extra"]["top1_agreement"]["value"] < 1.0
    base, cand = (np.load(out / "outcomes.npz")[k] for k in ("baseline", "candidate"))
    assert np.exp(cand.mean()) == pytest.approx(int4["metric"]["value"])
    assert np.exp(base.mean()) == pytest.approx(fp32["metric"]["value"])


def test_a_torchao_candidate_generates_through_the_same_kv_cache_code(lm_job):
    rec, _ = lm_job("precision=int8", "method.backend=torchao_int8_dynamic")
    assert rec["status"] == "ok", rec["reason"]
    assert rec["details"]["runtime"] == "torch (eager)"
    assert rec["generation"]["decode_calls"] >= 2 and rec["generation"]["ttft_ms"] > 0
    assert rec["metric"]["n_samples"] == TOKENS - 1
    assert abs(rec["metric"]["delta_rel"]) < 0.1
