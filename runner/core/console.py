"""What a job shows on the console: its own progress lines, and a library's only when they are
errors. Library notices (transformers' tokenizer notes, torch's tracer warnings, deprecations)
go to the job's log file, where a reader who needs them finds them."""

from __future__ import annotations

import logging
from typing import Any


class ConsoleFilter(logging.Filter):
    """Passes the runner's own records, and any other logger's from ERROR up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("runner") or record.levelno >= logging.ERROR


# Libraries with transformers-style logging: their own root logger and console handler.
LIBRARY_LOGGING = ("transformers.utils.logging", "optimum.utils.logging")


def route_library_output() -> None:
    """Python warnings and transformers' own console handler into logging (so the job's
    console filter keeps them off the console and its log file keeps them). Safe to call
    again; a library is only touched once something imported it. Off a terminal,
    transformers' own progress bars (GGUF dequantization, ...) are switched off."""
    import sys

    logging.captureWarnings(True)
    for name in LIBRARY_LOGGING:  # each keeps its own console handler unless told
        lib = sys.modules.get(name)
        if lib is not None:
            lib.disable_default_handler()
            lib.enable_propagation()
    tl = sys.modules.get("transformers.utils.logging")
    if tl is not None and not sys.stderr.isatty():
        tl.disable_progress_bar()  # a bar redrawn into a log file is one unreadable line


def quiet_bars(module: Any) -> None:  # a module, or its name (imported here)
    """Off a terminal, the tqdm bars a library module draws itself (transformers' GGUF
    dequantization, which its logging settings do not reach) are switched off: redrawn into
    a log they are one unreadable line."""
    import functools
    import sys

    if isinstance(module, str):
        import importlib

        module = importlib.import_module(module)
    bar = getattr(module, "tqdm", None)
    if bar is None or sys.stderr.isatty() or getattr(bar, "quiet", False):
        return
    quiet = functools.partial(bar, disable=True)
    quiet.quiet = True  # type: ignore[attr-defined]
    module.tqdm = quiet


def filter_console(handler: logging.Handler) -> None:
    """Give a console handler the job's filter (once)."""
    if not any(isinstance(f, ConsoleFilter) for f in handler.filters):
        handler.addFilter(ConsoleFilter())


def quiet_console() -> None:
    """For a job in this process: the console handlers of the root logger (stdout / stderr
    stream handlers, as Hydra sets them up) get the job's filter; library output is routed."""
    import sys

    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stdout, sys.stderr):
            filter_console(handler)
    route_library_output()
