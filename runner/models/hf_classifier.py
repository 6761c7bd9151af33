"""A Hugging Face sequence classifier (sentiment, topic, intent...) from a local folder.

`model.path` names a folder written by `save_pretrained` (config, weights, tokenizer) of an
AutoModelForSequenceClassification, or a hub id, fetched only where the hub is reachable.
Each text is tokenized to `model.max_length` tokens by the model's own tokenizer; the model's
class scores (logits) are the output, exported to ONNX like every torch model here. Labels
that the data names (a jsonl file with label "positive") are mapped by the model's own
`label2id` (case-insensitive), integer labels are the class ids themselves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel
from runner.models.hf import resolve

log = logging.getLogger(__name__)


def logits_module(model: Any) -> Any:
    """The classifier as a module of (input_ids, attention_mask) -> class scores."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits().eval()


def label_map(classes: list[str] | None, label2id: dict[str, int], n_labels: int) -> Any:
    """Data label index -> model class id: by name where the data names its labels."""
    if classes is None or all(c.isdigit() for c in classes):
        return None  # integer labels: the class ids themselves
    ids = {str(k).lower(): int(v) for k, v in label2id.items()}
    missing = [c for c in classes if c.lower() not in ids]
    if missing:
        raise ValueError(
            f"the data's labels {missing[:10]} are not classes of the model "
            f"({', '.join(sorted(ids))}); relabel the data with the model's class names or ids"
        )
    return np.asarray([ids[c.lower()] for c in classes], dtype=np.int64)


@register("model", "hf_classifier")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """The classifier as the FP32 baseline, its tokenizer and label names as the encoding."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if cfg.task != "text_classification":
        raise ValueError(
            f"model=hf_classifier needs model.task=text_classification; got {cfg.task}"
        )
    folder = resolve(cfg.path)
    log.info("model: sequence classifier from %s", folder)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
    n_labels = int(model.config.num_labels)
    mapping = label_map(splits.classes, model.config.label2id, n_labels)

    def tokenize(texts: Any) -> dict[str, np.ndarray]:
        enc = tok(list(texts), padding="max_length", truncation=True,
                  max_length=cfg.max_length, return_tensors="np")  # fmt: skip
        return {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}

    def encode(s: Splits) -> Splits:
        y_tr, y_va = (
            (s.y_train, s.y_val) if mapping is None else (mapping[s.y_train], mapping[s.y_val])
        )
        if len(y_va) and int(np.max(y_va)) >= n_labels:
            raise ValueError(
                f"label {int(np.max(y_va))} is beyond the model's {n_labels} classes; use labels "
                f"0..{n_labels - 1} or the model's class names"
            )
        return dataclasses.replace(
            s, x_train=tokenize(s.x_train), x_calib=tokenize(s.x_calib), x_val=tokenize(s.x_val),
            y_train=y_tr, y_val=y_va, num_classes=n_labels,
        )  # fmt: skip

    h = hashlib.sha256(str(cfg.max_length).encode())
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f.read_bytes())
    sample = tokenize(splits.x_val[:2])
    example = {k: torch.as_tensor(v) for k, v in sample.items()}
    return LoadedModel(
        module=logits_module(model),
        example_input=example,
        fingerprint=h.hexdigest()[:16],
        encode=encode,
    )
