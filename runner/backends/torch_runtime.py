"""Run a torch module where the pipeline expects an ONNX Runtime session.

Backends that quantize with torch/torchao keep the model in torch (their kernels have no ONNX
form); this adapter gives it the two methods the pipeline uses, `get_inputs` and `run`, so
evaluation and timing are the same code for both runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Input:
    name: str
    shape: tuple = (None,)
    type: str = "tensor(float)"


class TorchSession:
    """`session.run(None, {name: array})` -> [first output as a numpy array], in eval mode."""

    def __init__(self, module: Any, input_names: list[str], threads: int) -> None:
        self.module, self.names, self.threads = module.eval(), list(input_names), threads

    def get_inputs(self) -> list[_Input]:
        return [_Input(n) for n in self.names]

    def run(self, _outputs: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            out = self.module(*(torch.from_numpy(feed[n]) for n in self.names))
        return [out.float().numpy()]


class TorchLMSession:
    """A transformers causal LM behind the names of optimum's KV-cache export (input_ids,
    attention_mask, position_ids, past_key_values.N.key/value -> logits, present.N.*), so that
    runner.job.lm scores and times a torch candidate with the same prefill / decode code as an
    ONNX one. The cache travels as numpy arrays (zero-copy views of torch tensors)."""

    def __init__(self, lm: Any, threads: int) -> None:
        c = lm.config
        self.lm, self.threads, self.layers = lm.eval(), threads, c.num_hidden_layers
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        kv = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
        past = [
            _Input(f"past_key_values.{i}.{kind}", (None, kv, None, head_dim))
            for i in range(self.layers)
            for kind in ("key", "value")
        ]
        self.inputs = [_Input("input_ids"), _Input("attention_mask"), _Input("position_ids"), *past]

    def get_inputs(self) -> list[_Input]:
        return list(self.inputs)

    def run(self, _outputs: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch
        from transformers import DynamicCache

        torch.set_num_threads(self.threads)
        t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feed.items()}
        pairs = [
            (t[f"past_key_values.{i}.key"], t[f"past_key_values.{i}.value"])
            for i in range(self.layers)
        ]
        cache = DynamicCache.from_legacy_cache(tuple(pairs)) if pairs[0][0].shape[2] else None
        with torch.inference_mode():
            out = self.lm(
                input_ids=t["input_ids"],
                attention_mask=t["attention_mask"],
                position_ids=t["position_ids"],
                past_key_values=cache if cache is not None else DynamicCache(),
                use_cache=True,
            )
        present = [x.float().numpy() for kv in out.past_key_values.to_legacy_cache() for x in kv]
        return [out.logits.float().numpy(), *present]


def quantized_fraction(module: Any) -> float | None:
    """Share of Linear/Embedding/Conv weight elements held as quantized tensor subclasses."""
    import torch

    total = quantized = 0
    for m in module.modules():
        if isinstance(m, torch.nn.Linear | torch.nn.Embedding | torch.nn.Conv2d):
            w = m.weight
            n = int(np.prod(w.shape))
            total += n
            if type(w) not in (torch.Tensor, torch.nn.Parameter) or w.dtype in (
                torch.int8,
                torch.uint8,
            ):
                quantized += n
    return quantized / total if total else None
