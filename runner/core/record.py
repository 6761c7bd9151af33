"""The result record: one result.json per job, written atomically; the summarizer reads these."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runner.core.config import Config

SCHEMA_VERSION = 1
RESULT_FILE = "result.json"
OUTCOMES_FILE = "outcomes.npz"
# Config keys that do not change what a job measures: left out of the run key.
_NOT_IN_KEY = (
    "tracking",
    "summary",
    "fault",
    "cache_dir",
    "torch_threads",
    "isolation",
    "timeout_s",
    "force",
    "expected",
)


def run_key(cfg: Config) -> str:
    """Hash of the resolved config that determines the result."""
    d = {k: v for k, v in asdict(cfg).items() if k not in _NOT_IN_KEY}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def write(job_dir: Path, record: dict[str, Any]) -> Path:
    """Write `record` as job_dir/result.json through the writer rooted at the job's folder:
    a fresh temporary file renamed into place (a reader never sees half a file), a symlink
    planted at result.json refused, not followed."""
    from runner.core.writer import Writer

    text = json.dumps(record, indent=2, default=_jsonable) + "\n"

    def fill(tmp: Path) -> None:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return Writer(job_dir).write_with(RESULT_FILE, fill)


def read(path: Path) -> dict[str, Any]:
    """Read one record; ValueError if it is not a result record of a known schema version."""
    from runner.core.gate import read_json

    try:
        rec = read_json(Path(path), follow=True)  # bounded: a record is data, never a bomb
    except (OSError, ValueError) as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: not a readable result.json ({why})") from exc
    if not isinstance(rec, dict) or rec.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: not a result record with schema_version {SCHEMA_VERSION}")
    return rec


def artifact_path(record: dict[str, Any], job_dir: Path) -> Path | None:
    """The candidate model file a record names: beside the record (its job folder), or the
    cached baseline itself for the FP32 row (an absolute path)."""
    name = record.get("artifact")
    if not isinstance(name, str) or not name:
        return None
    return Path(name) if Path(name).is_absolute() else Path(job_dir) / name


def _jsonable(obj: Any) -> Any:
    """numpy scalars and paths as plain JSON values."""
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def _git_sha() -> str | None:
    """The project's commit, when run from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=True,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_flags() -> list[str]:
    """The CPU features that decide which quantized kernels exist (x86 and Arm)."""
    wanted = {
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "amx_int8",
        "amx_bf16",
        "avx_vnni",
        "asimd",
        "asimddp",
        "i8mm",
        "bf16",
        "sve",
    }
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return sorted(flags & wanted)


def environment() -> dict[str, Any]:
    """Versions, CPU flags, GPU and git sha: what a reader needs to trust or redo a number."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for pkg in ("torch", "torchao", "onnx", "onnxruntime", "numpy", "hydra-core"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {
        "versions": versions,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_flags": _cpu_flags(),
        "gpu": None,
        "git_sha": _git_sha(),
    }
