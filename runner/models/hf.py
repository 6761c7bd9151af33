"""A Hugging Face transformer encoder from a local directory, or a hub id when online.

`model.path` names a folder written by `save_pretrained` (config, weights, tokenizer), or a hub
id such as sentence-transformers/all-MiniLM-L6-v2, fetched only where the hub is reachable.
The encoder is mean-pooled into sentence embeddings (task: embedding).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from runner.core.config import ModelConfig
from runner.core.gate import hf_folder
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel
from runner.models.minilm import encoder_from_dir

log = logging.getLogger(__name__)


def resolve(path: str | None) -> Path:
    """A local model folder for `model.path`, downloading a hub id when the hub is reachable."""
    if not path:
        raise ValueError("model.path is not set; point it at a local model folder or a hub id")
    local = Path(path).expanduser()
    if local.is_dir():
        if not (local / "config.json").exists():
            raise ValueError(
                f"model.path={path} has no config.json; point it at a folder "
                "written by save_pretrained"
            )
        return local
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path))
    except Exception as exc:  # noqa: BLE001 - offline, unknown id, no permission
        raise ValueError(
            f"model.path={path} is not a local folder and could not be fetched from the hub "
            f"({type(exc).__name__}); download it where there is network and point "
            "model.path at the folder"
        ) from exc


@register("model", "hf")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """The encoder as the FP32 baseline, with its own tokenizer as the input encoding."""
    import torch

    if cfg.task != "embedding":
        raise ValueError(f"model=hf supports model.task=embedding; got {cfg.task}")
    folder = hf_folder(resolve(cfg.path), cfg.trust_remote_code)  # custom code: opt-in only
    log.info("model: transformer encoder from %s", folder)
    module, encode = encoder_from_dir(folder, cfg.max_length, cfg.trust_remote_code)
    h = hashlib.sha256(str(cfg.max_length).encode())
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f.read_bytes())
    sample = encode(splits).x_val
    example = {k: torch.as_tensor(v[:2]) for k, v in sample.items()}
    return LoadedModel(
        module=module, example_input=example, fingerprint=h.hexdigest()[:16], encode=encode
    )
