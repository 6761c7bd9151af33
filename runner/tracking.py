"""Experiment tracking behind one call: `log_record`. `none` does nothing; `wandb` logs a run.

W&B runs offline (files under the job dir, `wandb sync` uploads them later) unless the user is
logged in, or sets tracking.mode=online / offline explicitly.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from runner.schema import TrackingConfig

log = logging.getLogger(__name__)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a/b": 1}, numbers and strings only: what a tracker can chart."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, name + "/"))
        elif isinstance(v, (int, float, str, bool)) and v is not None:
            out[name] = v
    return out


def wandb_mode(cfg: TrackingConfig) -> str:
    """online when asked or logged in (API key or netrc entry), else offline."""
    if cfg.mode in ("online", "offline", "disabled"):
        return cfg.mode
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if netrc.exists() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def log_record(cfg: TrackingConfig, job_dir: Path, record: dict[str, Any]) -> None:
    """Send one job's record to the tracker; tracking problems never fail the job."""
    if cfg.name == "none":
        return
    if cfg.name != "wandb":
        raise ValueError(f"unknown tracking {cfg.name!r}; valid: none, wandb")
    try:
        import wandb

        axes = record["axes"]
        run = wandb.init(
            project=cfg.project,
            dir=str(job_dir),
            mode=wandb_mode(cfg),
            reinit="finish_previous",
            name="-".join(str(axes[k]) for k in ("model", "precision", "method", "target")),
            group=record.get("sweep"),
            config={"axes": axes, "overrides": record["overrides"]},
        )
        flat = flatten(
            {
                k: record.get(k)
                for k in (
                    "status",
                    "metric",
                    "latency",
                    "speedup",
                    "size_bytes",
                    "compression",
                    "quantized_fraction",
                    "peak_rss_bytes",
                )
            }
        )
        run.log(flat)
        run.summary.update(flat)
        run.finish()
    except Exception as exc:  # noqa: BLE001 - the result.json is already written
        log.warning("tracking: wandb logging failed (%s); result.json is unaffected", exc)
