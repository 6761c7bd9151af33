"""Latency, size and memory, measured the same way for the baseline and every candidate."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from runner.core.config import LatencyConfig, TargetConfig

log = logging.getLogger(__name__)


def latency_stats(times_s: list[float], batch: int, threads: int) -> dict[str, float | int]:
    """p50/p90/p99 in ms and throughput in samples/s from per-call wall times."""
    t = np.asarray(times_s) * 1e3
    p50 = float(np.percentile(t, 50))
    return {
        "p50_ms": p50,
        "p90_ms": float(np.percentile(t, 90)),
        "p99_ms": float(np.percentile(t, 99)),
        "throughput": batch * 1e3 / p50,
        "batch": batch,
        "threads": threads,
        "runs": len(t),
    }


SESSION_RUNS = 5  # fresh session pairs the speed interval is built from (latency.session_runs)


class Timings(list):
    """Per-call wall times, one list per model (a plain list of lists), plus `rounds`:
    rounds[model][k] is that model's calls in the k-th unit of interleaving (a block round
    for time_models, a whole run with fresh sessions for time_runs)."""

    rounds: list[list[list[float]]]


def time_models(fns: list[Callable[[], object]], cfg: LatencyConfig) -> Timings:
    """Time several models interleaved, so drift and noise on the host hit them all alike.

    Returns one list of per-call wall times per model, in `fns` order; the blocks they came
    from ride along as `.rounds`.
    """
    rounds = time_blocks(fns, cfg)
    out = Timings([t for block in blocks for t in block] for blocks in rounds)
    out.rounds = rounds
    return out


def time_runs(
    make_fns: Callable[[int], list[Callable[[], object]]], cfg: LatencyConfig, runs: int
) -> Timings:
    """time_models over `runs` fresh sets of sessions, each with 1/runs of the time budget.

    Two sessions of one model can differ by several percent for as long as they live
    (where their buffers landed in memory), so blocks within one session pair cannot show
    that noise; runs with fresh sessions can. Returns the per-call times pooled over runs,
    with `.rounds[model][run]` holding each run's calls (stats.speedup_interval's input).
    """
    share = replace(
        cfg,
        min_runs=max(1, math.ceil(cfg.min_runs / runs)),
        min_seconds=cfg.min_seconds / runs,
    )
    per_run = [time_models(make_fns(i), share) for i in range(max(1, runs))]
    out = Timings([t for run in per_run for t in run[m]] for m in range(len(per_run[0])))
    out.rounds = [[list(run[m]) for run in per_run] for m in range(len(per_run[0]))]
    return out


def time_blocks(fns: list[Callable[[], object]], cfg: LatencyConfig) -> list[list[list[float]]]:
    """Interleaved timing kept by round: result[model][round] is that model's block of calls.

    After `warmup` untimed calls each, the models take turns in blocks of about 10 ms of calls
    until every one has at least `min_runs` calls and `min_seconds` of timed work. Every other
    round runs the models in reverse order, so going first or second favours none of them;
    the spread of per-round ratios is what the speed interval is built from.
    """
    block = []
    for fn in fns:
        warm = []
        for _ in range(max(cfg.warmup, 1)):
            t0 = time.perf_counter()
            fn()
            warm.append(time.perf_counter() - t0)
        # the median, not the mean: a first session's first calls are slow (thread pool,
        # allocations), and a block sized from them would hold fewer calls than its twin's
        per_call = float(np.median(warm))
        block.append(max(1, min(1000, int(0.01 / max(per_call, 1e-7)))))
    rounds: list[list[list[float]]] = [[] for _ in fns]
    runs, spent = [0 for _ in fns], [0.0 for _ in fns]
    while min(runs) < cfg.min_runs or min(spent) < cfg.min_seconds:
        order = range(len(fns)) if len(rounds[0]) % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            times = []
            for _ in range(block[i]):
                t0 = time.perf_counter()
                fns[i]()
                times.append(time.perf_counter() - t0)
            rounds[i].append(times)
            runs[i] += len(times)
            spent[i] += sum(times)
    return rounds


def session_runner(session, x) -> Callable[[], object]:
    """A zero-argument call that runs `session` once on the batch `x`."""
    from runner.core import batches

    feed = batches.feed(session, x)
    return lambda: session.run(None, feed)


def peak_rss(model: Path, target: TargetConfig, sample) -> int | None:
    """Peak resident memory of a fresh process that loads `model` and runs it on `sample`.

    A separate process, because the sweep's own process holds torch, earlier models and caches.
    """
    import tempfile

    from runner.core import batches

    fd, name = tempfile.mkstemp(prefix="memprobe-", suffix=".npz")  # never beside the model:
    os.close(fd)  # that may be the shared baseline cache
    sample_path = Path(name)
    batches.save(sample_path, sample)
    cmd = [
        sys.executable,
        "-m",
        "runner.job.memprobe",
        str(model),
        str(sample_path),
        target.provider,
        str(target.threads),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
        return int(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_bytes"])
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError) as exc:
        log.warning("memory probe failed for %s: %s", model, exc)
        return None
    finally:
        sample_path.unlink(missing_ok=True)
