"""Library notices reach the job's log, never the console by a handler of their own."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from runner.core.console import LIBRARY_LOGGING, ConsoleFilter, route_library_output


@pytest.mark.parametrize("module", LIBRARY_LOGGING)
def test_a_library_notice_goes_through_logging_and_not_its_own_console_handler(module, monkeypatch):
    lib = pytest.importorskip(module)
    lib.enable_default_handler()
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    lib._get_library_root_logger().handlers[0].setStream(stderr)  # the library's own handler
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = seen.append
    logging.getLogger().addHandler(catcher)
    try:
        route_library_output()
        lib.get_logger(module.split(".")[0] + ".x").warning("Found different candidate ONNX")
    finally:
        logging.getLogger().removeHandler(catcher)
    assert "Found different candidate" not in stderr.getvalue()  # not printed by the library
    (record,) = [r for r in seen if "Found different candidate" in r.getMessage()]
    assert not ConsoleFilter().filter(record)  # and the job's console filter keeps it off


def test_transformers_progress_bars_are_off_when_the_console_is_not_a_terminal(monkeypatch):
    tl = pytest.importorskip("transformers.utils.logging")
    tl.enable_progress_bar()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a TTY
    route_library_output()
    assert not tl.is_progress_bar_enabled()
    tl.enable_progress_bar()


def test_a_library_modules_own_bar_is_off_when_the_console_is_not_a_terminal(monkeypatch):
    import types

    from tqdm.auto import tqdm

    from runner.core.console import quiet_bars

    module = types.SimpleNamespace(tqdm=tqdm)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)  # not a TTY
    quiet_bars(module)
    quiet_bars(module)  # twice: still one layer
    assert list(module.tqdm(range(3), desc="Converting", file=out)) == [0, 1, 2]
    assert out.getvalue() == ""  # drawn nothing
    assert module.tqdm.func is tqdm
