"""The Python API, for notebooks and scripts: one job, one sweep, one summary.

    import runner
    rec = runner.run(["model=digits_cnn", "precision=int8"])     # the result record (a dict)
    folder = runner.sweep(["precision=fp32,int8", "method=ptq,qat"])  # the sweep folder
    df = runner.summarize(folder)          # one row per job with its verdict (a DataFrame)

The same overrides as on the command line, the same pipeline and the same files on disk:
`run` is `python -m runner OVERRIDES` in this process, `sweep` is `python -m runner -m
OVERRIDES` (in a child process, so Hydra's launcher and the summary run as they do in a
shell), `summarize` is `python -m runner.summarize FOLDER`.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _progress(verbose: bool) -> Iterator[None]:
    """The runner's progress lines on stderr for the call, unless the caller set up logging."""
    logger = logging.getLogger("runner")
    if not verbose or logger.handlers or logging.getLogger().handlers:
        yield
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _checked(overrides: Sequence[str]) -> list[str]:
    """The overrides as a list; ValueError (one line) for a flag, a bare word or an unknown
    `+key` (the command line refuses the same)."""
    from runner.core.compose import refused

    if isinstance(overrides, str):
        raise ValueError(f"overrides must be a list of strings, e.g. [{overrides!r}]")
    over = [str(o) for o in overrides]
    if why := refused(over):
        raise ValueError(why)
    return over


def run(
    overrides: Sequence[str] = (), out: str | Path | None = None, *, verbose: bool = True
) -> dict[str, Any]:
    """One job (one point of the grid), run in this process; its result record, also written
    as OUT/result.json (default: outputs/runs/<date_time>_<model>_<precision>_<method>_<target>).
    A job that cannot run returns a record with status skipped or failed and the reason; bad
    overrides raise ValueError before anything runs."""
    from runner.core.compose import compose
    from runner.job import pipeline
    from runner.report.tracking import log_record

    over = _checked(overrides)
    cfg, choices = compose(over)
    if out is None:
        axes = (cfg.model.name, cfg.precision.name, cfg.method.name, cfg.target.name)
        out = Path("outputs/runs") / "_".join([time.strftime("%Y-%m-%d_%H-%M-%S"), *axes])
    folder = Path(out)
    logged = partial(log_record, cfg.tracking, folder, config=cfg)
    with _progress(verbose):
        return pipeline.run(cfg, folder, over, choices, on_record=logged)


def sweep(
    overrides: Sequence[str] = (), out: str | Path | None = None, *, verbose: bool = True
) -> Path:
    """A multirun over the overrides' grid (`precision=fp32,int8 method=ptq,qat`), each job
    in its own process as `python -m runner -m` runs it, ending with the summary; the sweep
    folder (default: outputs/sweeps/<date_time>). A sweep with failed jobs still returns its
    folder (their records say why); RuntimeError when the sweep could not run at all,
    ValueError when the folder is or holds a symlink."""
    from runner.core.writer import check_root

    over = _checked(overrides)
    folder = Path(out) if out else Path("outputs/sweeps") / time.strftime("%Y-%m-%d_%H-%M-%S")
    check_root(folder)  # ValueError for a symlink there: the jobs would write through it
    cmd = [sys.executable, "-m", "runner", "-m", *over, f"hydra.sweep.dir={folder}"]
    done = subprocess.run(
        cmd, stdout=None if verbose else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if verbose and done.stderr:
        sys.stderr.write(done.stderr)
    if not folder.is_dir():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the sweep did not run: {last}")
    return folder


def summarize(
    folder: str | Path,
    objective: str = "latency",
    *,
    ship_below: float = 0.01,
    qat_below: float = 0.03,
    min_speedup: float = 1.05,
) -> Any:
    """The sweep's summary table as a pandas DataFrame (one row per job: axes, metric, delta
    and its interval, speed, size, memory, verdict, reason, Pareto marks), after writing
    summary.md, summary.csv, pareto.png and recommended.yaml into the folder."""
    from runner.recipes.export import summarize_sweep
    from runner.report.verdict import Thresholds

    if not Path(folder).is_dir():
        raise ValueError(f"{folder} is not a directory; give a sweep output folder")
    th = Thresholds(ship_below, qat_below, min_speedup=min_speedup, objective=objective)
    return summarize_sweep(Path(folder), objective=objective, thresholds=th).table
