"""Model sources: each module registers a loader that returns the FP32 baseline model.

A loader is `load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel`,
registered as ("model", NAME). Architectures that a torch_file state_dict can be loaded into
are registered as ("arch", NAME) with `build(cfg: ModelConfig, splits: Splits) -> nn.Module`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """The FP32 baseline as a torch module and/or an ONNX file, plus what identifies it."""

    module: Any  # torch.nn.Module, or None for an ONNX file (untyped: no torch import here)
    example_input: Any  # a batch of inputs (tensor or array), used for export and QAT
    fingerprint: str  # content hash of the weights: part of every cache key
    onnx_path: str | None = None  # when set, the baseline is this file instead of an export
    encode: Any = None  # Splits -> Splits: model-specific input encoding (a tokenizer)


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in chunks (model files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line, for a one-line error message."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:limit]


def existing_file(path: str | None, what: str) -> Path:
    """`model.path` as an existing file, or a one-line error that says what to point it at."""
    if not path:
        raise ValueError(f"model.path is not set; point model.path at {what}")
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"model.path={path} does not exist; point model.path at {what}")
    return p


def untrainable(cfg: Any, why: str) -> None:
    """A model QAT cannot train: the data gets no QAT training share (calibration and
    validation share it), so the verdicts rest on as many samples as the data allows."""
    if cfg.dataset.train_fraction > 0:
        log.info(
            "data: no QAT training split (%s): dataset.train_fraction %g -> 0, validation gets it",
            why,
            cfg.dataset.train_fraction,
        )
        cfg.dataset.train_fraction = 0.0


def check_output_width(width: int, task: str, num_classes: int, source: str) -> None:
    """The model's output width must be the number of classes (1 for regression)."""
    want = 1 if task == "regression" else num_classes
    if width != want:
        what = "a regression needs 1" if task == "regression" else f"the data has {want} classes"
        raise ValueError(
            f"{source} outputs {width} values per sample but {what}; for an image folder the "
            "class folders (sorted by name) must match the model's outputs one to one"
        )


def train_or_load(name: str, model: Any, cfg: Any, splits: Any, cache_dir: Path) -> str:
    """Train an embedded model once per (recipe, data) and cache it; returns its weights' hash."""
    import torch

    from runner.core.train import TASK_LOSS, train_epochs

    spec = {"cfg": asdict(cfg), "data": splits.fingerprint(), "torch": torch.__version__}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "models" / f"{name}-{key}.pt"
    if path.exists():
        try:  # weights only: no code from the cache; a corrupt file is retrained, not trusted
            model.load_state_dict(torch.load(path, weights_only=True))
            log.info("model: cache hit %s", path.name)
            model.eval()
            return file_sha256(path)[:16]
        except Exception as exc:  # noqa: BLE001
            log.warning("model: cached weights %s are unreadable (%s); retraining", path, exc)
    log.info("model: training %s on %d samples (first use only)", name, len(splits.x_train))
    model.train()
    train_epochs(
        model,
        splits.x_train,
        splits.y_train,
        epochs=cfg.train_epochs,
        lr=cfg.train_lr,
        batch=cfg.train_batch,
        seed=cfg.seed,
        desc=f"train {name}",
        loss=TASK_LOSS[cfg.task],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    model.eval()
    return file_sha256(path)[:16]  # the weights, not the recipe


def torch_output_width(module: Any, example: Any) -> int:
    """Output values per sample of a torch module on an example batch."""
    import torch

    with torch.no_grad():
        out = module(torch.as_tensor(example))
    return int(out.reshape(len(out), -1).shape[1])
