"""A job's measurements against its baseline: latency (baseline and candidate interleaved in
one process, over fresh-session runs), the speed ratio and its interval, size, memory and the
share of weights really stored in the target precision.

Two timers with one shape: `time_calls` (one call = one batch through the model) and
`time_generation` (a language model as it is deployed: prefill, then KV-cache decode).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from runner.core import batches
from runner.core.config import Config
from runner.core.lm_graph import is_kv_graph
from runner.core.onnx_utils import model_size, quantized_fraction
from runner.job import cache, lm, measure, placement
from runner.targets import make_session

log = logging.getLogger(__name__)


def measure_candidate(
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
    timer = time_generation if generation else time_calls
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
        sample = timing_input(cfg, x, generation, y)
        record["peak_rss_bytes"] = measure.peak_rss(artifact, cfg.target, sample)
        record["baseline_peak_rss_bytes"] = base.info.get("peak_rss_bytes")


def timing_input(cfg: Config, x, generation: bool, y=None):
    """What one timed call runs on: the generation prompt, or the first validation batch."""
    if generation:
        return {"input_ids": lm.prompt_of(x, cfg.model.prompt_tokens, y)}
    return first_batch(x, cfg.target.batch, cfg.model.latency_tokens)


def time_calls(cfg: Config, record: dict, fresh, x, _y=None) -> tuple:
    """One call = one batch through the model: the paired speedup over fresh runs (the centre
    of its interval, never the ratio of p50s pooled over runs) and that interval."""
    from runner.core.stats import paired_speedup, speedup_interval

    sample = first_batch(x, cfg.target.batch, cfg.model.latency_tokens)
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
    return lat_base, lat, paired_speedup(*timed.rounds), speedup_interval(*timed.rounds)


def time_generation(cfg: Config, record: dict, fresh, x, y=None) -> tuple:
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


def first_batch(x, batch: int, tokens: int | None = None):
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
