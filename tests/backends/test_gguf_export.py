"""The FP32 language model written as a GGUF file (runner.backends.gguf_export), tested always:
the file reads back with the same tensors, and transformers loads it as the same model."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.test_causal_lm import save_tiny_llama


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    folder = save_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")
    return AutoModelForCausalLM.from_pretrained(folder).eval(), folder


def test_the_gguf_reads_back_with_the_same_tensors_names_and_metadata(tiny_lm, tmp_path):
    from gguf import GGUFReader

    from runner.backends import gguf_export

    lm, folder = tiny_lm
    path = gguf_export.write(lm, folder / "tokenizer.json", tmp_path / "m.gguf")
    reader = GGUFReader(path)
    got = {
        t.name: np.array(t.data).reshape(list(reversed(t.shape.tolist()))) for t in reader.tensors
    }
    c = lm.config
    assert len(got) == 3 + 9 * c.num_hidden_layers  # embedding, norm, lm_head, 9 per layer
    state = {k: v.numpy() for k, v in lm.state_dict().items()}
    np.testing.assert_array_equal(got["token_embd.weight"], state["model.embed_tokens.weight"])
    np.testing.assert_array_equal(
        got["blk.1.ffn_down.weight"], state["model.layers.1.mlp.down_proj.weight"]
    )
    q = state["model.layers.0.self_attn.q_proj.weight"]
    assert not np.array_equal(got["blk.0.attn_q.weight"], q)  # rows permuted...
    assert sorted(map(tuple, got["blk.0.attn_q.weight"])) == sorted(map(tuple, q))  # ...not changed
    assert all(t.tensor_type.name == "F32" for t in reader.tensors)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert fields["general.architecture"] == "llama"
    assert fields["llama.attention.head_count_kv"] == c.num_key_value_heads
    assert len(fields["tokenizer.ggml.tokens"]) == c.vocab_size


def test_transformers_loads_the_written_gguf_as_the_same_model(tiny_lm, tmp_path):
    """An independent reader (transformers' GGUF loader, which undoes llama.cpp's Q/K row
    order) gets back every weight: a wrong permutation or name would not."""
    import torch
    from transformers import AutoModelForCausalLM

    from runner.backends import gguf_export

    lm, folder = tiny_lm
    gguf_export.write(lm, folder / "tokenizer.json", tmp_path / "m.gguf")
    back = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="m.gguf", dtype=torch.float32)
    want = lm.state_dict()
    for key, value in back.state_dict().items():
        torch.testing.assert_close(value, want[key], rtol=0, atol=0, msg=key)


def test_a_model_llama_cpp_cannot_take_is_refused_in_one_line():
    from transformers import GPT2Config, LlamaConfig

    from runner.backends.gguf_export import unsupported

    assert "this one is gpt2" in unsupported(GPT2Config())
    assert unsupported(LlamaConfig()) is None
    assert "rope_scaling" in unsupported(
        LlamaConfig(rope_scaling={"rope_type": "linear", "factor": 2.0})
    )


def test_the_llama_cpp_backend_says_why_it_cannot_run(monkeypatch, tmp_path):
    """Without the extra a job is skipped with the fix named; a bad GGUF type is refused in one
    line; a model that is not a language model is skipped."""
    import sys
    from types import SimpleNamespace

    from runner.backends import Job
    from runner.backends.llama_cpp import LlamaCpp
    from tests.conftest import typed

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp -> ImportError
    lm = SimpleNamespace(module=SimpleNamespace(config=None))
    job = Job(typed("model=smollm2", "precision=int4"), lm, None, tmp_path, tmp_path)
    assert "make llama" in LlamaCpp.check(job)
    bad = Job(
        typed("model=smollm2", "precision=int4", "precision.gguf_type=Q3_X"),
        lm,
        None,
        tmp_path,
        tmp_path,
    )
    with pytest.raises(ValueError, match="precision.gguf_type=Q3_X is not a llama.cpp type"):
        LlamaCpp.check(bad)
    cnn = Job(typed("precision=int8"), lm, None, tmp_path, tmp_path)
    assert "causal language models" in LlamaCpp.check(cnn)
