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
