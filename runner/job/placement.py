"""Honest latency when jobs share a machine: each job is timed pinned, serially, or contended.

- pinned: the job holds `target.threads` cores that no other job of ours on this machine holds
  (one lock file per core), and runs on them alone (CPU affinity) from quantize to timing.
- serial: the job's timing runs under one machine-wide lock, so no two jobs time at once;
  quantize and evaluate still run side by side.
- contended: neither (`latency.isolation=off`): parallel jobs' latencies are not comparable.

The locks are flock()s on files in `latency.lock_dir` (default: a folder in the system's temp
dir), so they bind every sweep on the machine and vanish with a killed job's process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
MODES = ("auto", "pinned", "serial", "off")
POLL_S = 0.2


@dataclass
class Placement:
    """How this process's timing is isolated: the recorded `latency.isolation` and cores."""

    mode: str = "contended"
    cores: list[int] = field(default_factory=list)
    folder: Path | None = None  # where the machine's lock files are


_current = Placement()  # one job per process: the pipeline's timing code reads it


def current() -> Placement:
    """The placement of the job running in this process."""
    return _current


def lock_dir(configured: str | None) -> Path:
    """The folder of this machine's lock files (created on first use)."""
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / _user_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _user_dir() -> str:
    return f"quant-sweep-runner-locks-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def choose(mode: str, threads: int, cores: list[int]) -> str:
    """pinned | serial | contended for a job of `threads` threads on a machine with `cores`.

    auto pins where the machine has room for two such jobs side by side, else times serially.
    """
    if mode == "off":
        return "contended"
    can_pin = hasattr(os, "sched_setaffinity") and len(cores) >= threads
    if mode == "pinned" and can_pin:
        return "pinned"
    if mode == "auto" and can_pin and len(cores) >= 2 * threads:
        return "pinned"
    return "serial"


def _try_lock(path: Path) -> Any:
    """An open file holding an exclusive lock on `path`, or None if another holds it."""
    f = open(path, "a+")  # noqa: SIM115 - held open as long as the lock is
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def claim_cores(folder: Path, cores: list[int], n: int) -> tuple[list[int], list[Any]]:
    """Wait until `n` of `cores` are free on this machine; return them and their held locks."""
    waited = False
    while True:
        got: list[tuple[int, Any]] = []
        for core in cores:
            f = _try_lock(folder / f"core-{core}.lock")
            if f is not None:
                got.append((core, f))
                if len(got) == n:
                    return [c for c, _ in got], [f for _, f in got]
        for _, f in got:  # all or nothing: never sit on some cores while waiting for more
            f.close()
        if not waited:
            log.info("placement: waiting for %d free core(s) of %s", n, cores)
            waited = True
        time.sleep(POLL_S)


@contextlib.contextmanager
def hold(mode: str, threads: int, configured_dir: str | None = None) -> Iterator[Placement]:
    """For a whole job: pick the isolation, and in pinned mode claim cores and run on them."""
    global _current
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    chosen = choose(mode, threads, allowed)
    folder = lock_dir(configured_dir) if chosen != "contended" else None
    locks: list[Any] = []
    previous = _current
    try:
        if chosen == "pinned":
            cores, locks = claim_cores(folder, allowed, threads)
            os.sched_setaffinity(0, cores)
            log.info("placement: pinned to core(s) %s", cores)
        else:
            cores = []
        _current = Placement(chosen, cores, folder)
        yield _current
    finally:
        _current = previous
        if locks and allowed:
            os.sched_setaffinity(0, allowed)
        for f in locks:
            f.close()


@contextlib.contextmanager
def timing() -> Iterator[None]:
    """Around a timed section: serial jobs take the machine-wide lock alone; pinned ones share
    it (so a serial job never times beside them); contended ones take nothing."""
    if _current.mode == "contended" or _current.folder is None:
        yield
        return
    kind = fcntl.LOCK_EX if _current.mode == "serial" else fcntl.LOCK_SH
    with open(_current.folder / "timing.lock", "a+") as f:
        fcntl.flock(f, kind)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def mark(*latencies: dict | None) -> None:
    """Record the isolation (and the pinned cores) in each latency block."""
    for lat in latencies:
        if lat is not None:
            lat["isolation"] = _current.mode
            lat["cores"] = list(_current.cores)
