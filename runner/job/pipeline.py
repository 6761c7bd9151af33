"""The one orchestrator: load -> baseline -> quantize -> evaluate -> measure -> record.

Every job ends with a result.json, whatever happens: a combination the host or the runtime
cannot run is `skipped` with the reason, an exception in a backend is `failed` with the error,
and the sweep goes on to the next job.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from runner import backends
from runner.core import batches, registry
from runner.core import record as results
from runner.core.config import Config, problems
from runner.core.lm_graph import is_kv_graph
from runner.core.onnx_utils import baseline_onnx, model_size, quantized_fraction
from runner.job import cache, evaluate, isolation, lm, measure, placement
from runner.report import tracking
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
) -> dict:
    """Run one job end to end and write its result.json; never raises for a job's failure.

    A job whose result.json already says ok for the same run_key is not run again (resume),
    unless `force=true`.
    """
    started = time.perf_counter()
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
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
    tracking.log_record(cfg.tracking, job_dir, record)
    (log.error if record["status"] == "failed" else log.info)("%s", status_line(record))
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
    precheck(cfg)
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
    np.savez(job_dir / results.OUTCOMES_FILE, baseline=base.outcomes, candidate=cand)
    record["outcomes_file"] = results.OUTCOMES_FILE
    _measure(cfg, record, base, artifact, session, splits.x_val, splits.y_val)
    return record


def load(cfg: Config) -> tuple[Any, Any, cache.Baseline]:
    """The job's data splits, FP32 model and cached baseline (what every candidate shares)."""
    import torch

    torch.set_num_threads(cfg.torch_threads)
    splits = registry.get("dataset", cfg.dataset.name)(cfg.dataset)
    model = registry.get("model", cfg.model.name)(cfg.model, splits, Path(cfg.cache_dir))
    if model.encode is not None:  # e.g. tokenize raw text with the model's own tokenizer
        splits = model.encode(splits)
    return splits, model, baseline(cfg, model, splits)


def _measure(
    cfg: Config, record: dict, base: cache.Baseline, artifact: Path, session, x, y=None
) -> None:
    """Latency (baseline and candidate interleaved in one process), size, memory, storage.

    `y`: the validation labels (a language model's scoring mask: where its text really ends)."""
    onnx = artifact.suffix == ".onnx"  # else a torch candidate (torchao backends)

    def fresh(run: int) -> list:  # fresh sessions each run, made in alternating order
        made = [lambda: make_session(base.onnx_path, cfg.target), lambda: session]
        if run > 0 and onnx:  # a torch candidate (torchao) cannot be rebuilt: it is kept
            made[1] = lambda: make_session(artifact, cfg.target)
        order = (0, 1) if run % 2 == 0 else (1, 0)
        sessions = {i: made[i]() for i in order}
        return [sessions[0], sessions[1]]

    generation = cfg.model.task == "language_modeling" and is_kv_graph(session)
    timer = _time_generation if generation else _time_calls
    with placement.timing():
        lat_base, lat, speedup, speedup_ci = timer(cfg, record, fresh, x, y)
    size = model_size(artifact)
    record.update(
        latency=lat,
        baseline_latency=lat_base,
        speedup=speedup,
        speedup_ci=list(speedup_ci) if speedup_ci else None,
        size_bytes=size,
        baseline_size_bytes=base.info["size_bytes"],
        compression=base.info["size_bytes"] / size,
        quantized_fraction=quantized_fraction(artifact, cfg.precision.bits)
        if onnx
        else record["details"].get(
            "quantized_fraction_torch", record["details"].get("quantized_fraction")
        ),
        artifact=artifact.name,
    )
    placement.mark(record["latency"], record["baseline_latency"])
    if cfg.latency.memory_probe and onnx:  # the probe process runs ONNX Runtime only
        sample = _timing_input(cfg, x, generation, y)
        record["peak_rss_bytes"] = measure.peak_rss(artifact, cfg.target, sample)
        record["baseline_peak_rss_bytes"] = base.info.get("peak_rss_bytes")


def _timing_input(cfg: Config, x, generation: bool, y=None):
    """What one timed call runs on: the generation prompt, or the first validation batch."""
    if generation:
        return {"input_ids": lm.prompt_of(x, cfg.model.prompt_tokens, y)}
    return _batch(x, cfg.target.batch, cfg.model.latency_tokens)


def _time_calls(cfg: Config, record: dict, fresh, x, _y=None) -> tuple:
    """One call = one batch through the model: p50 ratio and its interval over fresh runs."""
    from runner.core.stats import speedup_interval

    sample = _batch(x, cfg.target.batch, cfg.model.latency_tokens)
    log.info(
        "latency: timing baseline and candidate (batch %d, %d thread(s))",
        cfg.target.batch,
        cfg.target.threads,
    )

    def fns(run: int) -> list:
        return [measure.session_runner(s, sample) for s in fresh(run)]

    timed = measure.time_runs(fns, cfg.latency, cfg.latency.session_runs)
    lat_base, lat = (measure.latency_stats(t, cfg.target.batch, cfg.target.threads) for t in timed)
    lat["session_runs"] = len(timed.rounds[0])
    return lat_base, lat, lat_base["p50_ms"] / lat["p50_ms"], speedup_interval(*timed.rounds)


def _time_generation(cfg: Config, record: dict, fresh, x, y=None) -> tuple:
    """A language model as it is deployed: prefill of the prompt, then greedy decode through
    the KV cache, baseline and candidate interleaved over fresh session runs.

    Each run warms every call once (a short decode), then times one prefill and one decode of
    `new_tokens` tokens per model (a decode call is itself new_tokens timed steps). The speedup
    verdicts rank on is summary.lm_speed's: the decode tokens/s ratio, or the prefill (TTFT)
    ratio.
    """
    from dataclasses import replace

    from runner.core.stats import paired_speedup, speedup_interval

    m = cfg.model
    prompt = lm.prompt_of(x, m.prompt_tokens, y)
    log.info(
        "latency: generation, prefill %d tokens then %d decode tokens with the KV cache "
        "(%d thread(s), %d runs)",
        prompt.shape[1],
        m.new_tokens,
        cfg.target.threads,
        cfg.latency.session_runs,
    )
    steps: list[list[float]] = [[], []]  # decode step times (not the sessions: let them go)

    def fns(run: int) -> list:
        made = [lm.Generation(s, prompt, m.new_tokens) for s in fresh(run)]
        for i, g in enumerate(made):
            g.token_times = steps[i]
        return lm.runners(made)  # prefill base, prefill cand, decode base, decode cand

    runs = cfg.latency.session_runs
    protocol = replace(cfg.latency, warmup=1, min_runs=runs, min_seconds=0.0)
    timed = measure.time_runs(fns, protocol, runs)
    shape = {"prompt_tokens": int(prompt.shape[1]), "new_tokens": m.new_tokens}
    figures = [lm.generation_figures(timed[i], timed[2 + i], steps[i], shape) for i in (0, 1)]
    record["baseline_generation"], record["generation"] = figures
    ratio, ci = {}, {}
    for k, (b, c) in {"prefill": (0, 1), "decode": (2, 3)}.items():
        ratio[k] = paired_speedup(timed.rounds[b], timed.rounds[c])  # paired within each run
        ci[k] = speedup_interval(timed.rounds[b], timed.rounds[c])
        figures[1][f"speedup_{k}"] = ratio[k]
        figures[1][f"speedup_{k}_ci"] = list(ci[k]) if ci[k] else None
        for i, who in ((b, 0), (c, 1)):  # each run's median call, the ratios' inputs
            figures[who][f"{k}_run_ms"] = [float(np.median(r) * 1e3) for r in timed.rounds[i]]
    speed = cfg.summary.lm_speed  # the latency block: per decode token, or per prefill
    per_call = steps if speed == "decode" else [timed[0], timed[1]]
    lat_base, lat = (measure.latency_stats(t, 1, cfg.target.threads) for t in per_call)
    for block in (lat_base, lat):
        block.update(session_runs=runs, unit="decode token" if speed == "decode" else "prefill")
    log.info(
        "generation: TTFT %.0f -> %.0f ms, decode %.1f -> %.1f tokens/s (%.2fx)",
        figures[0]["ttft_ms"],
        figures[1]["ttft_ms"],
        figures[0]["decode_tokens_per_s"],
        figures[1]["decode_tokens_per_s"],
        ratio["decode"],
    )
    return lat_base, lat, ratio[speed], ci[speed]


def _batch(x, batch: int, tokens: int | None = None):
    """The first `batch` validation samples (cut to `tokens` positions for sequence models),
    the timing input; a clear error if impossible."""
    if not 1 <= batch <= batches.rows(x):
        raise ValueError(
            f"target.batch={batch} must be between 1 and the {batches.rows(x)} validation "
            "samples; set target.batch to a value in that range"
        )
    sample = batches.take(x, slice(0, batch))
    if tokens and isinstance(sample, dict):
        sample = {k: np.ascontiguousarray(v[:, :tokens]) for k, v in sample.items()}
    return sample


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
        sample = _timing_input(cfg, splits.x_val, generation, splits.y_val)
        latency = None  # a language model is timed in each job only, interleaved (generation)
        if not generation:
            with placement.timing():
                (times,) = measure.time_models(
                    [measure.session_runner(session, sample)], cfg.latency
                )
            latency = measure.latency_stats(times, cfg.target.batch, cfg.target.threads)
        info = {
            "key": entry.name,
            "metric": float(outcomes.mean()),
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
