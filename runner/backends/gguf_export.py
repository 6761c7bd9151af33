"""The FP32 baseline of a Llama-architecture language model as an F32 GGUF file (the `gguf`
package), the way llama.cpp's own converter writes one: its tensor names, the query and key rows
permuted into its rotary layout, the hyper-parameters, and the tokenizer (byte-level BPE: token
list, types, merges, special ids). llama.cpp then quantizes that file with its own quantizer.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
ARCHITECTURES = ("llama", "mistral")  # model types llama.cpp runs as its `llama` architecture
GLOBAL = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
LAYER = {
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
CONTROL, NORMAL, USER_DEFINED, UNUSED = 3, 1, 4, 5  # gguf.TokenType values


def unsupported(config: Any) -> str | None:
    """Why this model cannot be written as a llama.cpp GGUF here, or None."""
    kind = getattr(config, "model_type", "?")
    if kind not in ARCHITECTURES:
        return (
            f"llama_cpp writes GGUF files for Llama-architecture models "
            f"({', '.join(ARCHITECTURES)}); this one is {kind}: convert it with llama.cpp's "
            "convert_hf_to_gguf.py instead"
        )
    if getattr(config, "rope_scaling", None):
        return "llama_cpp: rope_scaling is not written to the GGUF here; use a model without it"
    return None


def tensor_names(layers: int) -> dict[str, str]:
    """transformers' parameter names (without .weight) -> llama.cpp's tensor names."""
    names = dict(GLOBAL)
    for i in range(layers):
        names.update({f"model.layers.{i}.{a}": f"blk.{i}.{b}" for a, b in LAYER.items()})
    return names


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    """Query / key rows in llama.cpp's rotary order (its converter's permute; transformers
    undoes it when it loads a GGUF)."""
    return (
        w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


def tensors(lm: Any) -> dict[str, np.ndarray]:
    """The GGUF tensors of a Llama causal LM: float32, llama.cpp's names and row order; a tied
    lm_head is left out (llama.cpp reads token_embd for it)."""
    c = lm.config
    names = tensor_names(c.num_hidden_layers)
    tied = getattr(c, "tie_word_embeddings", False)
    out = {}
    for key, value in lm.state_dict().items():
        stem = key.removesuffix(".weight")
        if stem == "lm_head" and tied:
            continue
        if stem not in names:
            raise ValueError(f"llama_cpp: no GGUF name for the parameter {key}")
        x = value.detach().float().numpy()
        if stem.endswith("q_proj"):
            x = permute(x, c.num_attention_heads)
        elif stem.endswith("k_proj"):
            x = permute(x, c.num_key_value_heads or c.num_attention_heads)
        out[names[stem] + ".weight"] = np.ascontiguousarray(x, dtype=np.float32)
    return out


def vocabulary(tokenizer_json: Path, size: int) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges) of a byte-level BPE tokenizer.json, the list padded to the
    embedding's `size` rows with unused tokens."""
    tok = json.loads(Path(tokenizer_json).read_text())
    model = tok.get("model", {})
    if model.get("type") != "BPE":
        raise ValueError(
            f"llama_cpp writes byte-level BPE tokenizers only; {tokenizer_json} holds a "
            f"{model.get('type')} model"
        )
    tokens, types = [f"[PAD{i}]" for i in range(size)], [UNUSED] * size
    for text, i in model["vocab"].items():
        if i < size:
            tokens[i], types[i] = text, NORMAL
    for added in tok.get("added_tokens", []):
        if added["id"] < size:
            tokens[added["id"]] = added["content"]
            types[added["id"]] = CONTROL if added.get("special") else USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return tokens, types, merges


def _hyperparameters(w: Any, c: Any) -> None:
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_rope_dimension_count(head_dim)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads or c.num_attention_heads)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(getattr(c, "rope_theta", 10000.0))
    w.add_vocab_size(c.vocab_size)


def write(lm: Any, tokenizer_json: Path, path: Path, name: str = "model") -> Path:
    """Write a Llama causal LM (transformers, FP32) and its tokenizer as an F32 GGUF."""
    import gguf

    c = lm.config
    if why := unsupported(c):
        raise ValueError(why)
    tokens, types, merges = vocabulary(tokenizer_json, c.vocab_size)
    path = Path(path)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    _hyperparameters(w, c)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for key, value in (("bos", c.bos_token_id), ("eos", c.eos_token_id), ("pad", c.pad_token_id)):
        if isinstance(value, int):
            getattr(w, f"add_{key}_token_id")(value)
    w.add_add_bos_token(False)  # the runner feeds token ids itself
    for tensor_name, x in tensors(lm).items():
        w.add_tensor(tensor_name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    log.info("llama_cpp: wrote %s (%.0f MB, F32)", path.name, path.stat().st_size / 1e6)
    return path


TYPE_BITS = {"F32": 32, "F16": 16, "BF16": 16, "Q8_0": 8, "Q6_K": 6}
TYPE_BITS |= dict.fromkeys(("Q5_0", "Q5_1", "Q5_K"), 5) | dict.fromkeys(("Q4_0", "Q4_1", "Q4_K"), 4)
TYPE_BITS |= {"Q3_K": 3, "Q2_K": 2}


def stored_types(path: Path) -> tuple[dict[str, int], dict[int, int]]:
    """What a GGUF file holds: tensors per llama.cpp type, and weight elements (2-D tensors)
    per storage width in bits."""
    from gguf import GGUFReader

    counts: dict[str, int] = {}
    widths: dict[int, int] = {}
    for t in GGUFReader(path).tensors:
        kind = t.tensor_type.name
        counts[kind] = counts.get(kind, 0) + 1
        if len(t.shape) == 2:
            bits = TYPE_BITS.get(kind, 32)
            widths[bits] = widths.get(bits, 0) + int(t.n_elements)
    return counts, widths
