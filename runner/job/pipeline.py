"""The one orchestrator: load -> baseline -> quantize -> evaluate -> measure -> record.

Every job ends with a result.json, whatever happens: a combination the host or the runtime
cannot run is `skipped` with the reason, an exception in a backend is `failed` with the error,
and the sweep goes on to the next job.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from runner import backends
from runner.core import batches, registry
from runner.core import record as results
from runner.core.config import Config, problems
from runner.core.console import quiet_console
from runner.core.lm_graph import is_kv_graph
from runner.core.onnx_utils import baseline_onnx, model_size
from runner.core.safe_io import npz, save_npz
from runner.core.writer import Writer, check_root
from runner.job import cache, evaluate, isolation, measure, placement, timing
from runner.targets import describe, implementation, make_session

log = logging.getLogger(__name__)
# Libraries whose INFO lines drown the job's own progress output.
for _name in (
    "onnxruntime.quantization",
    "torchao",
    "onnx_ir",
    "onnxscript",
    "torch.utils._pytree",
):
    logging.getLogger(_name).setLevel(logging.ERROR)


class SkipJob(Exception):
    """The combination cannot run here; the message is the recorded reason."""


def new_record(cfg: Config, overrides: list[str], choices: dict[str, str]) -> dict[str, Any]:
    """A record with every required field, filled in as the job goes."""
    return {
        "schema_version": results.SCHEMA_VERSION,
        "run_key": results.run_key(cfg),
        "status": "failed",
        "reason": "did not finish",
        "axes": {
            "model": cfg.model.name,
            "dataset": cfg.dataset.name,
            "precision": cfg.precision.name,
            "method": cfg.method.name,
            "target": cfg.target.name,
            "backend": None,
        },
        "task": cfg.model.task,
        "metric": None,
        "latency": None,
        "baseline_latency": None,
        "speedup": None,
        "size_bytes": None,
        "baseline_size_bytes": None,
        "compression": None,
        "quantized_fraction": None,
        "peak_rss_bytes": None,
        "target_budget": {
            "max_latency_ms": cfg.target.max_latency_ms,
            "max_memory_mb": cfg.target.max_memory_mb,
            "max_size_mb": cfg.target.max_size_mb,
        },
        "timings": {"quantize_s": None, "eval_s": None, "total_s": None},
        "env": results.environment(),
        "artifact": None,
        "outcomes_file": None,
        "overrides": list(overrides),
        "choices": dict(choices),
        "details": {},
    }


def run(
    cfg: Config,
    job_dir: Path,
    overrides: list[str],
    choices: dict[str, str],
    *,
    multirun: bool = False,
    job_num: int | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> dict:
    """Run one job end to end and write its result.json; never raises for a job's failure.

    A job whose result.json already says ok for the same run_key is not run again (resume),
    unless `force=true`. A job folder that is a symlink or holds one is refused (ValueError):
    the job's files would land where the link points.
    """
    started = time.perf_counter()
    job_dir = check_root(Path(job_dir))
    job_dir.mkdir(parents=True, exist_ok=True)
    quiet_console()  # library notices to the log file; the console keeps the job's own lines
    previous = _previous_ok(cfg, job_dir)
    if previous is not None:
        log.info(
            "resume: %s already ok (run_key %s); force=true re-runs it",
            job_dir.name,
            previous["run_key"],
        )
        return previous
    record = new_record(cfg, overrides, choices)
    isolated = cfg.isolation == "process" or (cfg.isolation == "auto" and multirun)
    try:
        if bad := problems(cfg):
            raise ValueError("; ".join(bad))
        if isolated:
            record = isolation.call(_run, (cfg, job_dir, record, job_num), job_dir, cfg.timeout_s)
        else:
            _run(cfg, job_dir, record, job_num)
        record.update(status="ok", reason=None)
    except SkipJob as exc:
        record.update(status="skipped", reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - isolate the job, record the error, go on
        if not isolated:
            isolation.write_traceback(job_dir, exc)
        record.update(status="failed", reason=failure_reason(exc))
    record["timings"]["total_s"] = round(time.perf_counter() - started, 3)
    results.write(job_dir, record)
    if on_record is not None:  # the caller's tracker (W&B): after the record is on disk
        on_record(record)
    (log.error if record["status"] == "failed" else log.info)("%s", status_line(record))
    return record


def validate(cfg: Config, overrides: list[str], outcomes_to: Path | None = None) -> dict:
    """The job with no quantization (runner.validate): the model is loaded, scored on every
    validation sample and timed by the code that makes a sweep's baseline (`baseline`), and
    recorded as its own reference (delta 0, speedup and compression 1). ValueError with a
    one-line message for bad input. `outcomes_to`: also save the per-sample outcomes there
    (baseline = candidate), so runner.compare can pair two validated models."""
    from runner.core.onnx_utils import weight_precision

    started = time.perf_counter()
    if bad := problems(cfg):
        raise ValueError("; ".join(bad))
    record = new_record(cfg, overrides, {})
    lat = cfg.latency
    with placement.hold(lat.isolation, cfg.target.threads, lat.lock_dir):
        splits, model, base = load(cfg)
        latency = dict(base.info["latency"] or {}) or None
        placement.mark(latency)
    precision, bits = weight_precision(base.onnx_path)
    record["axes"].update(precision=precision, method="validate", backend="onnxruntime")
    out = base.outcomes
    record.update(
        status="ok",
        reason=None,
        metric=evaluate.own_metric(cfg.model.task, out, splits.y_val),
        outcomes=evaluate.outcome_summary(out),
        n_samples=int(len(out)),
        latency=latency,
        speedup=1.0,
        size_bytes=base.info["size_bytes"],
        compression=1.0,
        peak_rss_bytes=base.info.get("peak_rss_bytes"),
        details={"weight_bits": {str(k): v for k, v in bits.items()}},
    )
    record["splits"] = {"train": 0, "calibration": 0, "validation": batches.rows(splits.x_val)}
    if outcomes_to is not None:
        save_npz(outcomes_to, baseline=out, candidate=out)
        record["outcomes_file"] = str(outcomes_to)
    record["timings"]["total_s"] = round(time.perf_counter() - started, 3)
    return record


def failure_reason(exc: BaseException) -> str:
    """The recorded reason: an input error's own message (it names the problem and the fix),
    otherwise the exception's type and message, pointing at the traceback in job.log."""
    if isinstance(exc, (ValueError, isolation.JobCrashed)):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (traceback in job.log)"


def precheck(cfg: Config) -> None:
    """Path and format checks of the model and the data, before anything heavy is loaded; a
    model source may also fill in data settings it can read off the model (image shape)."""
    for kind, name in (("model_check", cfg.model.name), ("dataset_check", cfg.dataset.name)):
        check = registry.find(kind, name)
        if check is not None:
            check(cfg)


def _previous_ok(cfg: Config, job_dir: Path) -> dict | None:
    """The job's earlier record if it is ok for the same run_key (and force is off)."""
    path = job_dir / results.RESULT_FILE
    if cfg.force or not path.exists():
        return None
    try:
        rec = results.read(path)
    except ValueError as exc:
        log.warning("resume: ignoring %s (%s); re-running the job", path, exc)
        return None
    return rec if rec.get("status") == "ok" and rec.get("run_key") == results.run_key(cfg) else None


def _inject_fault(fault: str | None, job_num: int | None) -> None:
    """Test hook: fail on purpose in the way `fault` names, for job `@N` only if given."""
    if not fault:
        return
    kind, _, only = fault.partition("@")
    if only and str(job_num) != only:
        return
    log.warning("fault injection: %s", kind)
    if kind == "raise":
        raise RuntimeError("fault injected by the test hook `fault=raise`")
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)  # dereference NULL: SIGSEGV, as a crashing native kernel would
    if kind == "hang":
        time.sleep(3600)


def _run(cfg: Config, job_dir: Path, record: dict[str, Any], job_num: int | None = None) -> dict:
    """Steps 2-7 of a job, filling `record`; raises SkipJob when the combination cannot run.

    The target and backend are checked first; the rest runs where `placement` puts the job
    (on cores of its own, or with its timing in the machine's serial queue).
    """
    target = implementation(cfg.target)
    why = target.unavailable(cfg.target)
    if why:
        raise SkipJob(why)
    name, backend, why = backends.select(
        cfg.precision.name, cfg.method.name, cfg.model.prefer_backends, cfg.method.backend
    )
    if backend is None or (why := target.unsupported(cfg.target, name)):
        raise SkipJob(why)
    record["axes"]["backend"] = name
    lat = cfg.latency
    with placement.hold(lat.isolation, cfg.target.threads, lat.lock_dir):
        return _steps(cfg, job_dir, record, job_num, name, backend)


def _steps(cfg: Config, job_dir: Path, record: dict, job_num: int | None, name: str, backend):
    """Load, baseline, quantize, evaluate, measure: the job's work once it may run."""

    splits, model, base = load(cfg)
    record["splits"] = {
        "train": batches.rows(splits.x_train),
        "calibration": batches.rows(splits.x_calib),
        "validation": batches.rows(splits.x_val),
        # rows 0 .. selection_rows - 1 of the validation split chose (decide); these judge
        "selection_rows": cfg.dataset.selection_rows,
    }

    job = backends.Job(cfg, model, splits, base.onnx_path, job_dir)
    why = backend.check(job)
    if why:
        raise SkipJob(why)
    log.info("quantize: %s x %s with %s", cfg.precision.name, cfg.method.name, name)
    t0 = time.perf_counter()
    _inject_fault(cfg.fault, job_num)
    artifact = backend.quantize(job)
    record["timings"]["quantize_s"] = round(time.perf_counter() - t0, 3)
    record["details"] = {**job.details, "target": describe(cfg.target)}
    for warning in job.details.get("warnings", []):
        log.warning("%s", warning)
    record["qat"] = job.details.get("qat")

    t0 = time.perf_counter()
    session = job.session or make_session(artifact, cfg.target)
    # the FP32 row is the baseline file itself: its outputs are the cached baseline's
    out = base.outputs if name == "ort_fp32" else evaluate.predict(session, splits.x_val)
    cand = evaluate.outcomes(cfg.model.task, out, splits.y_val, reference=base.outputs)
    record["timings"]["eval_s"] = round(time.perf_counter() - t0, 3)
    record["metric"] = evaluate.compare(
        cfg.model.task, base.outcomes, cand, splits.y_val, outputs=(base.outputs, out)
    )
    outcomes = npz(baseline=base.outcomes, candidate=cand)
    Writer(job_dir, create=False).write_with(results.OUTCOMES_FILE, outcomes)
    record["outcomes_file"] = results.OUTCOMES_FILE
    timing.measure_candidate(cfg, record, base, artifact, session, splits.x_val, splits.y_val)
    if Path(artifact).resolve().parent != Path(job_dir).resolve():  # the baseline itself
        record["artifact"] = str(Path(artifact).resolve())
    return record


def load(cfg: Config) -> tuple[Any, Any, cache.Baseline]:
    """The job's data splits, FP32 model and cached baseline (what every candidate shares),
    after the model's and the data's own checks (which may settle data settings: an ONNX
    model's image size, no QAT share for a model QAT cannot train)."""
    import torch

    precheck(cfg)
    torch.set_num_threads(cfg.torch_threads)
    splits = registry.get("dataset", cfg.dataset.name)(cfg.dataset)
    model = registry.get("model", cfg.model.name)(cfg.model, splits, Path(cfg.cache_dir))
    if model.encode is not None:  # e.g. tokenize raw text with the model's own tokenizer
        splits = model.encode(splits)
    splits = verdict_rows(splits, cfg.dataset.selection_rows)
    return splits, model, baseline(cfg, model, splits)


def verdict_rows(splits: Any, selection: int) -> Any:
    """The validation rows after the first `selection` (set apart for selection): the rows a
    job is judged on; ValueError (one line) when none would be left."""
    if selection <= 0:
        return splits
    total = batches.rows(splits.x_val)
    if selection >= total:
        raise ValueError(
            f"dataset.selection_rows={selection} leaves no validation rows to judge on (the "
            f"split has {total}); lower it"
        )
    y = None if splits.y_val is None else np.asarray(splits.y_val)[selection:]
    return dataclasses.replace(
        splits, x_val=batches.take(splits.x_val, slice(selection, None)), y_val=y
    )


def baseline(cfg: Config, model, splits) -> cache.Baseline:
    """The FP32 baseline from the cache, or exported, evaluated and timed once and cached."""
    entry = (
        Path(cfg.cache_dir) / "baselines" / cache.key(cfg, model.fingerprint, splits.fingerprint())
    )
    hit = cache.read(entry)
    if hit is not None:
        log.info("baseline: cache hit %s", entry.name)
        return hit
    log.info("baseline: cache miss; exporting, evaluating and timing the FP32 model")
    with tempfile.TemporaryDirectory() as tmp:
        path = baseline_onnx(model, Path(tmp) / "model.onnx")
        session = make_session(path, cfg.target)
        out = evaluate.predict(session, splits.x_val)
        outcomes = evaluate.outcomes(cfg.model.task, out, splits.y_val, reference=out)
        generation = cfg.model.task == "language_modeling" and is_kv_graph(session)
        sample = timing.timing_input(cfg, splits.x_val, generation, splits.y_val)
        latency = None  # a language model is timed in each job only, interleaved (generation)
        if not generation:
            with placement.timing():
                (times,) = measure.time_models(
                    [measure.session_runner(session, sample)], cfg.latency
                )
            latency = measure.latency_stats(times, cfg.target.batch, cfg.target.threads)
        info = {
            "key": entry.name,
            "metric": evaluate.value(cfg.model.task, outcomes),
            "latency": latency,
            "size_bytes": model_size(path),
            "peak_rss_bytes": measure.peak_rss(path, cfg.target, sample)
            if cfg.latency.memory_probe
            else None,
        }
        return cache.write(entry, path, outcomes, out, info)


def status_line(rec: dict[str, Any]) -> str:
    """One line per job: axes, status, metric, delta, speedup, size."""
    a = rec["axes"]
    head = f"{a['model']}/{a['dataset']} {a['precision']} x {a['method']} on {a['target']}"
    if rec["status"] != "ok":
        reason = (str(rec["reason"]).strip().splitlines() or [""])[0]
        return f"{head}: {rec['status'].upper()} - {reason}"
    m = rec["metric"]
    lo, hi = m["ci95"]
    scale, unit, digits = (100, " pp", 2) if m["name"] == "accuracy" else (1, "", 4)
    return (
        f"{head} [{a['backend']}]: ok {m['name']} {m['value']:.4f} "
        f"(delta {m['delta_abs'] * scale:+.{digits}f}{unit}, "
        f"95% CI [{lo * scale:+.{digits}f}, {hi * scale:+.{digits}f}]) "
        f"speedup {rec['speedup']:.2f}x size {rec['size_bytes'] / 1e6:.2f} MB "
        f"({rec['compression']:.1f}x smaller) quantized {rec['quantized_fraction'] or 0:.0%}"
    )
