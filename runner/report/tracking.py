"""Experiment tracking behind two calls: `log_record` per job and `log_sweep` per multirun.

`none` does nothing; `wandb` logs one W&B run per job, shaped for sweep views (axes as
top-level config keys, the runs of a sweep in one group), and one `summary` run per sweep with
the table, the Pareto plot and the recommendation. Runs are offline (files under the job dir,
`wandb sync` uploads them later) unless the user is logged in or sets tracking.mode. W&B never
fails a job: a problem costs one warning line, and start-up waits at most tracking.timeout_s.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any

from runner.core.config import TrackingConfig

log = logging.getLogger(__name__)
AXES = ("model", "dataset", "precision", "method", "target", "backend")
# Record blocks whose numbers go to the run summary as they are (flattened "block/key").
_BLOCKS = ("latency", "baseline_latency", "generation", "baseline_generation", "timings")
_NUMBERS = (
    "speedup",
    "size_bytes",
    "baseline_size_bytes",
    "compression",
    "peak_rss_bytes",
    "baseline_peak_rss_bytes",
    "quantized_fraction",
)
_SWEEP_FILES = ("summary.csv", "summary.md", "recommended*.yaml", "pareto.png")


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


def interval(x: Any) -> tuple[float, float] | None:
    """A confidence interval as (low, high), whether stored as [lo, hi] or {low/lo, high/hi}."""
    if isinstance(x, dict):
        x = (x.get("low", x.get("lo")), x.get("high", x.get("hi")))
    if isinstance(x, (list, tuple)) and len(x) == 2:
        lo, hi = x
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            return float(lo), float(hi)
    return None


def _number(x: Any) -> float | None:
    """x as a finite float, else None."""
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    return float(x) if ok else None


def sweep_group(sweep_dir: Path) -> str:
    """The W&B group of a sweep: its directory's name (a date, or wandb-<sweep id>)."""
    return Path(sweep_dir).resolve().name


def job_context(
    job_dir: Path, config: Any = None, multirun: bool = False
) -> tuple[dict[str, Any], str | None]:
    """The job's config as W&B shows it and its sweep group.

    The config is the one the job ran with, handed over by the caller (a typed Config or a
    mapping); nothing is read from the job folder, which may be a received one to resume
    (a planted .hydra/config.yaml with `${oc.env:SECRET}` must never be resolved). A
    multirun job, or one started by a W&B agent, belongs to its parent (sweep) directory.
    """
    import dataclasses

    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        resolved = dataclasses.asdict(config)
    else:
        resolved = dict(config or {})
    in_sweep = multirun or bool(os.environ.get("WANDB_SWEEP_ID"))
    return resolved, sweep_group(Path(job_dir).parent) if in_sweep else None


def job_config(record: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """W&B config: the axes as top-level keys (to group, filter and chart by), the resolved
    config, and the job's overrides."""
    axes = record.get("axes") or {}
    precision = resolved.get("precision") or {}
    algorithm = precision.get("int4_algorithm") if precision.get("bits") == 4 else None
    return {
        **{k: axes.get(k) for k in AXES},
        "algorithm": algorithm or "-",
        "config": resolved,
        "overrides": list(record.get("overrides") or []),
    }


def job_summary(record: dict[str, Any], verdict: str | None = None) -> dict[str, Any]:
    """W&B summary: metric with baseline, Δ and CI, speed ratio with its interval, latency,
    size, memory, quantized fraction, verdict and status (each only where measured)."""
    m = record.get("metric") or {}
    out: dict[str, Any] = {"status": record.get("status"), "verdict": verdict or "-"}
    if record.get("reason"):
        out["reason"] = str(record["reason"])
    for key in ("name", "higher_is_better"):
        if m.get(key) is not None:
            out[f"metric/{key}"] = m[key]
    for key, value in m.items():
        if _number(value) is not None and key != "higher_is_better":
            out[f"metric/{key}"] = value
    value, base = _number(m.get("value")), _number(m.get("baseline"))
    if "metric/delta_abs" not in out and value is not None and base is not None:
        out["metric/delta_abs"] = value - base
    if ci := interval(m.get("ci95")):
        out["metric/ci95_low"], out["metric/ci95_high"] = ci
    for key in _NUMBERS:
        if (x := _number(record.get(key))) is not None:
            out[key] = x
    if ci := interval(record.get("speedup_ci")):
        out["speedup_ci_low"], out["speedup_ci_high"] = ci
    for block in _BLOCKS:
        if isinstance(record.get(block), dict):
            out.update(flatten({block: record[block]}))
    return out


def _verdict(record: dict[str, Any], resolved: dict[str, Any]) -> str | None:
    """The job's verdict on its own (no sweep to compare QAT with), under its thresholds."""
    from runner.report.verdict import Thresholds, verdict

    s = resolved.get("summary") or {}
    try:
        th = Thresholds(
            s.get("ship_below", 0.01),
            s.get("qat_below", 0.03),
            min_speedup=s.get("min_speedup", 1.05),
        )
    except (TypeError, ValueError):
        th = Thresholds()
    return verdict(record, th).label


def _start(cfg: TrackingConfig, run_dir: Path, **kwargs: Any) -> Any:
    """wandb.init with W&B's console chatter off (unless tracking.verbose) and a bounded
    start-up wait; its files go to run_dir/wandb, a real folder inside run_dir (the writer
    refuses a symlink there)."""
    import wandb

    from runner.core.writer import Writer

    Writer(run_dir, create=False).dir("wandb")
    if not cfg.verbose:  # some lines (login) are printed before the settings apply
        logging.getLogger("wandb").setLevel(logging.ERROR)
        os.environ.setdefault("WANDB_SILENT", "true")
    settings = wandb.Settings(
        silent=not cfg.verbose,
        console="auto" if cfg.verbose else "off",
        init_timeout=cfg.timeout_s,
        x_service_wait=cfg.timeout_s,
        x_file_stream_timeout_seconds=cfg.timeout_s,
    )
    return wandb.init(
        project=cfg.project,
        dir=str(run_dir),
        mode=wandb_mode(cfg),
        reinit="finish_previous",
        settings=settings,
        **kwargs,
    )


def _warn(what: str, exc: BaseException) -> None:
    """The one warning line a W&B problem costs."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    log.warning(
        "tracking: W&B %s failed (%s: %s); results on disk are unaffected",
        what,
        type(exc).__name__,
        first,
    )


def log_record(
    cfg: TrackingConfig,
    job_dir: Path,
    record: dict[str, Any],
    *,
    config: Any = None,
    multirun: bool = False,
) -> None:
    """Send one job's record (and `config`, the config it ran with) to the tracker; tracking
    problems never fail the job."""
    if cfg.name == "none":
        return
    if cfg.name != "wandb":
        raise ValueError(f"unknown tracking {cfg.name!r}; valid: none, wandb")
    try:
        resolved, group = job_context(job_dir, config, multirun)
        axes = record.get("axes") or {}
        run = _start(
            cfg,
            Path(job_dir),
            name="-".join(str(axes.get(k)) for k in ("model", "precision", "method", "target")),
            group=group,
            job_type=f"{axes.get('precision')}-{axes.get('method')}",
            tags=[str(axes.get("model")), str(axes.get("target"))],
            config=job_config(record, resolved),
        )
        try:
            run.summary.update(job_summary(record, _verdict(record, resolved)))
        finally:
            run.finish()
    except Exception as exc:  # noqa: BLE001 - the result.json is already written
        _warn("logging of this job", exc)


def log_sweep(cfg: TrackingConfig, sweep_dir: Path, summary: Any) -> None:
    """One `summary` run in the sweep's group: the table as a wandb.Table, pareto.png as an
    image, and summary.csv / summary.md / recommended*.yaml as an artifact."""
    if cfg.name != "wandb":
        return
    try:
        import wandb

        from runner.core.writer import Writer

        sweep_dir, group = Path(sweep_dir), sweep_group(sweep_dir)
        run = _start(cfg, sweep_dir, name=f"{group}-summary", group=group, job_type="summary")
        try:
            table = summary.table
            data: dict[str, Any] = {"jobs": len(table)}
            if len(table):
                data["summary_table"] = wandb.Table(dataframe=table.astype(str))
            if pareto := Writer(sweep_dir, create=False).files("pareto.png"):
                data["pareto"] = wandb.Image(str(pareto[0]))
            run.log(data)
            recs = [
                f"{r.record['axes']['precision']}/{r.record['axes']['method']}"
                for r in summary.recommendations
            ]
            run.summary.update({"jobs": len(table), "recommended": ", ".join(recs) or "-"})
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"sweep-{group}")
            art = wandb.Artifact(name, type="sweep-summary")
            files = Writer(sweep_dir, create=False)
            for pattern in _SWEEP_FILES:  # regular files only: never a planted link's target
                for path in files.files(pattern):
                    art.add_file(str(path))
            run.log_artifact(art)
        finally:
            run.finish()
    except Exception as exc:  # noqa: BLE001 - the summary files are already written
        _warn("summary run", exc)


def tracking_config(node: Any) -> TrackingConfig:
    """The TrackingConfig of a composed config's `tracking` node (DictConfig or dict)."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return TrackingConfig(**dict(data or {}))
