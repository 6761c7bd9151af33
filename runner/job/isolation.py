"""Run a job's heavy steps in a child process, so a crash costs one job and not the sweep.

A segfault in a native kernel, an out-of-memory kill or a hang in the child becomes a `failed`
record with the signal, exit code or timeout; the parent process (and the sweep) goes on.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


class JobCrashed(RuntimeError):
    """The job's process died (signal, exit) or ran past its timeout: no traceback exists."""


def _describe_exit(code: int | None) -> str:
    """A child's exit status in words: the signal name when it was killed."""
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the job's process was killed by signal {name}{hint}"
    return f"the job's process exited with code {code} before reporting a result"


def write_traceback(job_dir: Path, exc: BaseException) -> Path:
    """Append the exception's traceback to the job's log file, for debugging; the console
    only gets the job's one-line status."""
    path = Path(job_dir) / "job.log"
    with open(path, "a") as f:
        f.write("job failed:\n" + "".join(traceback.format_exception(exc)))
    return path


def _child(fn: Callable, args: tuple, job_dir: str, conn: Any) -> None:
    """Child entry point: log like the parent, run `fn(*args)`, send back (status, value)."""
    from runner.core.console import filter_console, route_library_output

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stdout, force=True)
    for handler in logging.getLogger().handlers:
        filter_console(handler)  # the console: the job's own lines; job.log: everything
    file = logging.FileHandler(Path(job_dir) / "job.log")
    file.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(file)
    route_library_output()
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        if type(exc).__name__ != "SkipJob":
            write_traceback(Path(job_dir), exc)
        try:
            conn.send(("raised", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("raised", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def call(fn: Callable, args: tuple, job_dir: Path, timeout_s: float | None) -> Any:
    """`fn(*args)` in a fresh (spawned) process; re-raises its exception, or RuntimeError for
    a crash or a timeout. `fn` and its arguments must be picklable."""
    if mp.get_start_method(allow_none=True) not in (None, *mp.get_all_start_methods()):
        # joblib's loky workers set the start method "loky", which a spawned child inherits
        # in its preparation data and cannot resolve: give the child a standard one.
        mp.set_start_method("spawn", force=True)
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, str(job_dir), send), daemon=True)
    proc.start()
    send.close()
    ready = wait([recv, proc.sentinel], timeout=timeout_s)
    if not ready:
        proc.kill()
        proc.join()
        raise JobCrashed(f"timeout: the job ran past timeout_s={timeout_s:g} s and was killed")
    try:
        kind, value = recv.recv() if recv.poll() else (None, None)
    except EOFError:
        kind, value = None, None
    proc.join()
    if kind == "ok":
        return value
    if kind == "raised":
        raise value
    raise JobCrashed(_describe_exit(proc.exitcode))
