"""A sweep folder's result records, read as untrusted data: what the summary may rely on.

Every result.json under a folder is read as JSON (never followed through a symlink or out of
the folder), checked field by field for what the summary and compare read, and set aside as
"unreadable" with the reason when malformed; per-sample outcomes load without pickle, only from
the file beside the record.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.record import RESULT_FILE, read
from runner.core.safe_io import one_line

log = logging.getLogger(__name__)
AXES = ("model", "dataset", "precision", "method", "target", "backend")
OUTCOME_KEYS = ("baseline", "candidate")  # arrays in a job's outcomes .npz


# What the summary reads, by block ("" = top level): numbers (or null) and strings (or null)
_NUMBERS = {
    "metric": ("value", "baseline", "delta_abs", "min_n"), "latency": ("p50_ms",),
    "baseline_latency": ("p50_ms",), "target_budget": ("max_latency_ms", "max_memory_mb"),
    "generation": ("ttft_ms", "decode_tokens_per_s", "speedup_decode", "speedup_prefill"),
    "baseline_generation": ("ttft_ms", "decode_tokens_per_s"),
    "": ("speedup", "size_bytes", "compression", "peak_rss_bytes", "quantized_fraction"),
}  # fmt: skip


_STRINGS = {"axes": AXES, "metric": ("name",), "choices": (), "": ("reason", "outcomes_file")}


def _num(x: Any) -> float:
    """A JSON number as a float; NaN for null or anything else."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def _misfit(rec: dict, spec: dict[str, tuple[str, ...]], fits: Any) -> str | None:
    """The first field of `spec` whose value does not fit, as "block.key" (or "block")."""
    for name, keys in spec.items():
        block = rec.get(name) if name else rec
        if block is not None and not isinstance(block, dict):
            return name
        for key in keys:
            if not fits((block or {}).get(key)):
                return f"{name or 'record'}.{key}"
    return None


def _is_number(x: Any) -> bool:
    """A JSON number that fits a float (10**400 does not: it would crash the arithmetic)."""
    try:
        return not math.isnan(_num(x))
    except OverflowError:
        return False


def _strings(x: Any, kind: type) -> bool:
    """None, or a list / dict whose items (keys and values) are all strings."""
    if x is None:
        return True
    items = [*x.keys(), *x.values()] if isinstance(x, dict) else x
    return isinstance(x, kind) and all(isinstance(i, str) for i in items)


def record_problem(rec: dict) -> str | None:
    """Why a record cannot be summarized (a field the summary reads is malformed), else None."""
    if rec.get("status") not in ("ok", "skipped", "failed"):
        return f"unknown status {str(rec.get('status'))[:40]!r}"
    axes = rec.get("axes")
    if not isinstance(axes, dict) or not all(isinstance(axes.get(k), str) for k in AXES[:5]):
        return f"axes must name {', '.join(AXES)} as strings"
    if bad := _misfit(rec, _NUMBERS, lambda x: x is None or _is_number(x)):
        return f"{bad} must be a number"
    if bad := _misfit(rec, _STRINGS, lambda x: x is None or isinstance(x, str)):
        return f"{bad} must be a string"
    if not _strings(rec.get("overrides"), list) or not _strings(rec.get("choices"), dict):
        return "overrides must be a list of strings and choices a mapping of strings"
    m, gen = rec.get("metric") or {}, rec.get("generation") or {}
    pairs = {"metric.ci95": m.get("ci95"), "metric.drop_ci95": m.get("drop_ci95"),
             "speedup_ci": rec.get("speedup_ci")}  # fmt: skip
    pairs.update(
        {f"generation.{k}": gen.get(k) for k in ("speedup_decode_ci", "speedup_prefill_ci")}
    )
    for name, ci in pairs.items():
        two = isinstance(ci, list) and len(ci) == 2
        if ci is not None and not (two and all(_is_number(c) for c in ci)):
            return f"{name} must be two numbers"
    if not isinstance(m.get("higher_is_better", True), bool):
        return "metric.higher_is_better must be true or false"
    if rec["status"] == "ok" and math.isnan(_num(m.get("value")) + _num(m.get("baseline"))):
        return "an ok record needs a metric value and baseline"
    return None


def load_records(root: Path) -> tuple[list[tuple[Path, dict]], list[tuple[Path, str]]]:
    """Every result.json under root as (path, record), and (path, why) for unusable ones."""
    good, bad = [], []
    inside = Path(root).resolve()
    for path in sorted(Path(root).rglob(RESULT_FILE)):
        try:
            if path.is_symlink() or not path.resolve().is_relative_to(inside):
                raise ValueError("a symlink (records are read from the sweep folder only)")
            rec = read(path)
            why = record_problem(rec)
        except (ValueError, OSError) as exc:
            rec, why = None, str(exc).removeprefix(f"{path}: ")
        except Exception as exc:  # noqa: BLE001 - whatever a crafted record trips, never a crash
            rec, why = None, f"malformed ({type(exc).__name__})"
        if why is None:
            good.append((path, rec))
        else:
            log.warning("skipping %s: %s", one_line(path), one_line(why))
            bad.append((path, why))
    return good, bad


def load_outcomes(path: Path, rec: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The job's per-sample (baseline, candidate) outcomes, when its outcomes file is usable."""
    name = rec.get("outcomes_file")
    if not isinstance(name, str) or not Path(name).name or Path(name).name.startswith("."):
        return None
    if Path(name).name != name:  # no path in a record is followed: its file name only
        if Path(name).parent != path.parent:
            log.warning(
                "outcomes_file %r of %s is not beside the record: only a file of that name "
                "beside it is read",
                name,
                one_line(path),
            )
        name = Path(name).name
    if (path.parent / name).is_symlink() or not (path.parent / name).is_file():
        return None
    try:
        with np.load(path.parent / name, allow_pickle=False) as z:
            base, cand = (np.asarray(z[k], dtype=np.float64).ravel() for k in OUTCOME_KEYS)
        if base.size != cand.size or not base.size or not np.isfinite([base, cand]).all():
            raise ValueError("baseline and candidate must be finite and of one non-zero length")
    except Exception as exc:  # an unreadable outcomes file only costs the sample count
        log.warning("ignoring the outcomes of %s: %s", one_line(path), one_line(exc))
        return None
    return base, cand
