"""Quantization backends: each turns the FP32 baseline into one (precision, method) candidate.

A backend module registers a class with `precision`, `method`, `check(job)` (a reason to skip,
or None) and `quantize(job)` (the path of the candidate ONNX model). The pipeline picks the
backend whose (precision, method) matches the job; adding one is one new file. A backend of
another runtime may serve several precisions (`precisions`) and be used only when asked for
by name (`auto = False`, e.g. method.backend=llama_cpp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.core import registry
from runner.core.config import Config

# Why a combination has no backend: recorded as the job's skip reason.
NO_BACKEND = {
    ("fp32", "qat"): "QAT needs an integer precision: fp32 is the baseline itself (use method=ptq)",
    ("fp16", "qat"): "QAT needs an integer precision: fp16 is a cast of the weights (use "
    "method=ptq)",
    ("int4", "qat"): "no INT4 QAT path to ONNX Runtime: its INT4 kernel (MatMulNBits) is "
    "weight-only and takes round-to-nearest PTQ weights (use method=ptq)",
}


class Backend:
    """Base of the backends: a (precision, method) pair, and no reason to skip by default."""

    precision: str
    method: str

    @staticmethod
    def check(job: Job) -> str | None:
        """Why this job cannot use the backend, or None."""
        return None


@dataclass
class Job:
    """What a backend may use: the config, the FP32 model (torch and ONNX) and the data."""

    cfg: Config
    model: Any  # runner.models.LoadedModel
    splits: Any  # runner.datasets.Splits
    baseline_onnx: Path
    out_dir: Path
    details: dict[str, Any] = field(default_factory=dict)  # recorded in result.json
    session: Any = None  # set by backends whose candidate runs in torch, not ONNX Runtime
    # Per-layer sensitivity: quantize only these layers (exact ONNX node or torch module
    # names), the rest stays float; None quantizes every layer the config allows.
    only: list[str] | None = None
    # Work several jobs of one model may share (sensitivity: the pre-processed graph).
    reuse: dict[str, Any] | None = None


_SEP = ("/", ".", ":")  # what ends a part of a layer name


def _part_of(p: str, name: str) -> bool:
    """`p` occurs in `name` ending at a separator or at the end: `lm_head` and `layers.1/` name
    /lm_head/MatMul and /model/layers.1/..., but node_MatMul_5 does not name node_MatMul_51."""
    start = name.find(p)
    while p and start >= 0:
        end = start + len(p)
        if end == len(name) or p.endswith(_SEP) or name[end] in _SEP:
            return True
        start = name.find(p, start + 1)
    return False


def matches(name: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether a layer name is one of `patterns` (model.keep_float, int8_layers): a pattern
    with `*` is a wildcard over the whole name (`*/down_proj/*`), any other a part of it that
    ends where a part of the name ends (`lm_head`, `/model/layers.3/`, a whole node name)."""
    from fnmatch import fnmatchcase

    return any(fnmatchcase(name, p) if "*" in p else _part_of(p, name) for p in patterns)


def implements(backend: Any, precision: str, method: str) -> bool:
    """Whether a backend serves this precision x method."""
    served = getattr(backend, "precisions", None) or (backend.precision,)
    return precision in served and backend.method == method


def select(
    precision: str, method: str, prefer: list[str] | tuple[str, ...] = (), force: str = "auto"
) -> tuple[str | None, Any, str | None]:
    """(backend name, backend, None) for a combination, or (None, None, why there is none).

    `force` (method.backend) names one backend; otherwise the model's `prefer` list is tried
    first, then every registered backend in registration order that may be picked
    automatically.
    """
    table = dict(registry.items("backend"))
    if force != "auto":
        if force not in table:
            raise ValueError(
                f"method.backend={force} is unknown; valid: auto, {', '.join(sorted(table))}"
            )
        b = table[force]
        if not implements(b, precision, method):
            served = "/".join(getattr(b, "precisions", None) or (b.precision,))
            return None, None, f"backend {force} implements {served} x {b.method} only"
        return force, b, None
    for name in [*prefer, *table]:
        b = table.get(name)
        chosen = name in prefer or getattr(b, "auto", True)
        if b is not None and chosen and implements(b, precision, method):
            return name, b, None
    why = NO_BACKEND.get((precision, method), f"no backend implements {precision} x {method}")
    return None, None, why
