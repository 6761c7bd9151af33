"""Baseline cache: the FP32 export, its validation outcomes and its latency, computed once.

Keyed by a content hash of everything that determines them (model weights, data, target,
latency protocol, library versions) and reused by every job of a sweep and by later sweeps.
Entries are written to a temporary folder and renamed into place, and carry checksums that are
verified on every read, so a half-written or corrupted entry is rebuilt, never trusted. The
checksums catch corruption, not tampering: whoever can write the cache can recompute them, so
a cache is only as trustworthy as the people who can write to it. Entries hold no pickles
(numpy arrays load with allow_pickle=False), a symlink in an entry is never followed, and a
malformed entry is rebuilt rather than crashing the job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import Config
from runner.models import file_sha256

log = logging.getLogger(__name__)
_FILES = ("model.onnx", "outcomes.npy", "outputs.npy")


@dataclass
class Baseline:
    """The cached FP32 baseline of one (model, dataset, target, evaluation settings)."""

    onnx_path: Path
    outcomes: np.ndarray
    outputs: np.ndarray  # raw model outputs on the validation split (embeddings, logits)
    info: dict[str, Any]  # latency, size_bytes, peak_rss_bytes, key
    cache_hit: bool


def key(cfg: Config, model_fp: str, data_fp: str) -> str:
    """Content hash of everything the baseline's numbers depend on."""
    import importlib.metadata as md

    spec = {
        "model": asdict(cfg.model),
        "dataset": asdict(cfg.dataset),
        "target": asdict(cfg.target),
        "latency": asdict(cfg.latency),
        "weights": model_fp,
        "data": data_fp,
        "versions": [md.version(p) for p in ("torch", "onnx", "onnxruntime")],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def _regular(path: Path) -> Path:
    """The path when it is a regular file and no symlink (a FIFO or /dev/zero would hang)."""
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path.name} is not a regular file")
    return path


def _check_info(info: Any) -> dict[str, Any]:
    """The entry's metadata when it has the shape the pipeline reads, else ValueError."""
    ok = isinstance(info, dict) and isinstance(info.get("sha256"), dict)
    size, peak = (info.get(k) if ok else None for k in ("size_bytes", "peak_rss_bytes"))
    ok = ok and type(size) is int and 0 < size < 2**63 and (peak is None or type(peak) is int)
    if not ok:
        raise ValueError("malformed baseline.json")
    return info


def read(entry: Path) -> Baseline | None:
    """The entry if it is complete and its checksums match, else None (with a warning)."""
    meta = entry / "baseline.json"
    if not meta.exists() and not meta.is_symlink():
        return None
    try:
        if entry.is_symlink():
            raise ValueError("the entry is a symlink")
        info = _check_info(json.loads(_regular(meta).read_text()))
        for name in _FILES:
            if file_sha256(_regular(entry / name)) != info["sha256"].get(name):
                raise ValueError(f"checksum mismatch in {name}")
        outcomes, outputs = (np.load(entry / n, allow_pickle=False) for n in _FILES[1:])
        if not all(a.dtype.kind in "biuf" for a in (outcomes, outputs)):
            raise ValueError("arrays must be numeric")
    except Exception as exc:  # noqa: BLE001 - any malformed entry is rebuilt, never a crash
        why = " ".join(str(exc).split())[:200]
        log.warning("baseline: cache entry %s is corrupt (%s); rebuilding it", entry.name, why)
        return None
    return Baseline(entry / "model.onnx", outcomes, outputs, info, cache_hit=True)


def write(
    entry: Path, onnx_src: Path, outcomes: np.ndarray, outputs: np.ndarray, info: dict[str, Any]
) -> Baseline:
    """Write an entry atomically (temp folder + rename); an existing valid entry wins a race."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    from runner.core.onnx_utils import copy_model

    copy_model(onnx_src, tmp / "model.onnx")
    np.save(tmp / "outcomes.npy", outcomes)
    np.save(tmp / "outputs.npy", outputs)
    info = {**info, "sha256": {n: file_sha256(tmp / n) for n in _FILES}}
    (tmp / "baseline.json").write_text(json.dumps(info, indent=2))
    if entry.is_symlink():  # replaced, never followed
        entry.unlink()
    elif entry.exists():
        if (theirs := read(entry)) is not None:  # a parallel job wrote a valid entry first:
            shutil.rmtree(tmp, ignore_errors=True)  # keep it, jobs may be reading it now
            return theirs
        shutil.rmtree(entry)
    try:
        os.replace(tmp, entry)
    except OSError:  # another process renamed a complete entry first
        shutil.rmtree(tmp, ignore_errors=True)
    # The arrays in memory are what was written: no need to re-read and re-hash the entry.
    return Baseline(entry / "model.onnx", outcomes, outputs, info, cache_hit=False)
