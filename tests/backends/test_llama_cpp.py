"""llama.cpp as a runtime (method.backend=llama_cpp) on a tiny random Llama: its logits against
transformers', the KV-cache interface's rewind and resync, what llama.cpp's quantizer really
wrote, and a job through the real pipeline. Needs the optional extra (`make llama`)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "llama_cpp", reason="llama.cpp is not installed (make llama)", exc_type=ImportError
)

from tests.backends.test_gguf_export import tiny_lm  # noqa: E402,F401 - the module fixture
from tests.job.test_lm_pipeline import lm_job, tiny_llama  # noqa: E402,F401 - fixtures


@pytest.fixture(scope="module")
def f32(tiny_lm, tmp_path_factory):  # noqa: F811
    from runner.backends import gguf_export

    lm, folder = tiny_lm
    return gguf_export.write(
        lm, folder / "tokenizer.json", tmp_path_factory.mktemp("g") / "f32.gguf"
    )


def logits_of(lm, ids: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return lm(torch.as_tensor(ids)).logits.float().numpy()


def test_llama_cpp_on_the_f32_gguf_gives_transformers_logits(tiny_lm, f32):  # noqa: F811
    from runner.backends.llama_runtime import LlamaCppSession
    from runner.core.lm_graph import KVGraph

    lm, _ = tiny_lm
    graph = KVGraph(LlamaCppSession(f32, threads=1, n_ctx=64))
    ids = np.random.default_rng(0).integers(3, lm.config.vocab_size, size=(1, 24))
    logits, past = graph.step(ids, graph.empty())
    want = logits_of(lm, ids)
    # llama.cpp keeps its KV cache in float16: agreement to about 1 % of the logit range
    np.testing.assert_allclose(logits, want, atol=1e-2 * np.abs(want).max())
    assert past[0].shape == (1, 1, 24, 1)  # the cache that travels: the 24 token ids
    # one more token through the cache = the same position of a full forward pass
    nxt = np.array([[5]])
    step, _ = graph.step(nxt, past)
    full = logits_of(lm, np.concatenate([ids, nxt], axis=1))
    np.testing.assert_allclose(step[0, 0], full[0, -1], atol=1e-2 * np.abs(full).max())


def test_the_cache_rewinds_and_resyncs_to_the_tokens_it_is_given(f32):
    """The decode protocol reuses the prompt's cache for every timed call; a cache of other
    tokens (another window) must be rebuilt, not continued."""
    from runner.backends.llama_runtime import LlamaCppSession
    from runner.core.lm_graph import KVGraph

    graph = KVGraph(LlamaCppSession(f32, threads=1, n_ctx=64))
    prompt = np.arange(3, 19)[None]
    _, cache = graph.step(prompt, graph.empty())
    first, later = graph.step(np.array([[7]]), cache)
    graph.step(np.array([[8]]), later)  # llama.cpp now holds 18 tokens
    again, _ = graph.step(np.array([[7]]), cache)  # back to the prompt's 16
    np.testing.assert_array_equal(again, first)
    other = np.arange(20, 36)[None]
    _, other_cache = KVGraph(LlamaCppSession(f32, 1, 64)).step(other, graph.empty())
    fresh, _ = KVGraph(LlamaCppSession(f32, 1, 64)).step(np.array([[7]]), other_cache)
    synced, _ = graph.step(np.array([[7]]), other_cache)  # this session held the prompt
    np.testing.assert_allclose(synced, fresh, rtol=1e-5, atol=1e-5)


def test_the_record_says_what_llama_cpp_wrote(f32, tmp_path):
    from gguf import GGUFReader

    from runner.backends.gguf_export import stored_types
    from runner.backends.llama_cpp import quantize_gguf

    out = quantize_gguf(f32, tmp_path / "q.gguf", "Q4_K_M", threads=1)
    types, widths = stored_types(out)
    read = [t.tensor_type.name for t in GGUFReader(out).tensors]
    assert types == {k: read.count(k) for k in set(read)}
    assert "Q4_K" not in types  # 64-wide rows: llama.cpp falls back from its K-quants
    two_d = [t for t in GGUFReader(out).tensors if len(t.shape) == 2]
    assert sum(widths.values()) == sum(int(t.n_elements) for t in two_d)


def test_a_llama_cpp_job_runs_through_the_pipeline_beside_the_onnx_baseline(lm_job):  # noqa: F811
    rec, job_dir = lm_job("precision=int8", "method.backend=llama_cpp")
    assert rec["status"] == "ok", rec["reason"]
    assert rec["axes"]["backend"] == "llama_cpp" and rec["details"]["gguf_type"] == "Q8_0"
    assert rec["artifact"] == "model-Q8_0.gguf"
    assert rec["size_bytes"] == (job_dir / "model-Q8_0.gguf").stat().st_size
    m = rec["metric"]
    assert m["name"] == "perplexity" and abs(m["delta_rel"]) < 0.05  # Q8_0 is close to F32
    assert rec["generation"]["decode_tokens_per_s"] > 0 and rec["speedup"] > 0
    assert rec["baseline_generation"]["decode_calls"] >= 2  # the ONNX baseline, interleaved


def test_llama_cpp_is_never_picked_unless_asked_for():
    from runner.backends import select

    assert select("int8", "ptq")[0] != "llama_cpp"
    assert select("int4", "ptq", force="llama_cpp")[0] == "llama_cpp"
    assert (
        "implements fp32/fp16/int8/int4 x ptq only" in select("int8", "qat", force="llama_cpp")[2]
    )
