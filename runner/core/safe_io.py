"""Writing into folders and text that someone else may have prepared.

A sweep folder received from someone else is hostile input: a file name may be a symlink to
a file of the receiver's, an axis value may be `../../x` or `m;touch x;`, and a record string
may carry Markdown, HTML or newlines. These helpers write without following a symlink, turn
any value into a safe file name, and escape strings for Markdown and one-line YAML comments.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_MD_SPECIAL = re.compile(r"([\\`*\[\]|])")  # links, images, code, emphasis, cells
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
# C0 and C1 control characters (ESC starts a terminal escape sequence; CSI is also \x9b) and the
# bidirectional overrides that make a terminal or an editor show text in another order.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class SymlinkError(OSError):
    """Refused to write through a symlink."""


def refuse_symlink(path: Path) -> None:
    """SymlinkError when the path is a symlink (a write would land on its target)."""
    if Path(path).is_symlink():
        raise SymlinkError(f"{path} is a symlink; refusing to write through it (remove it)")


def write_with(path: Path, writer: Callable[[Path], object]) -> Path:
    """Let `writer` fill a fresh temporary file beside `path`, then rename it into place.

    The rename replaces a file but never follows a symlink; a symlink already at `path` is
    refused rather than replaced, so the sender learns nothing and the receiver loses nothing.
    """
    path = Path(path)
    refuse_symlink(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        refuse_symlink(path)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write text to path without following a symlink (see write_with)."""
    return write_with(path, lambda tmp: tmp.write_text(text))


def safe_name(value: object, limit: int = 60) -> str:
    """A file-name part from any value: [A-Za-z0-9_.-] only, no leading dot, hashed if changed."""
    text = str(value)
    clean = _UNSAFE_NAME.sub("_", text).lstrip(".")[:limit] or "x"
    if clean == text:
        return clean
    return f"{clean}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def one_line(value: object, limit: int = 300) -> str:
    """A value as a single line without control characters (for YAML comments and logs)."""
    text = _LINE_BREAKS.sub(" ", str(value))
    text = _CONTROL.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(value: object) -> str:
    """Text for the console with every terminal control character replaced by `?` (line
    breaks and tabs kept): a record's string may carry escape sequences that retitle,
    clear or rewrite the receiver's terminal."""
    return _UNPRINTABLE.sub("?", str(value))


class PrintableFormatter(logging.Formatter):
    """A logging formatter whose lines pass through `printable` (file names and record
    strings in log lines come from received folders)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def console_logging(level: int = logging.WARNING, fmt: str = "%(levelname)s: %(message)s") -> None:
    """logging.basicConfig for a command's console, with control characters replaced."""
    handler = logging.StreamHandler()
    handler.setFormatter(PrintableFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler])


def npz(**arrays: object) -> Callable[[Path], None]:
    """A filler for write_with: np.savez into the file itself (np.savez given a path would
    add `.npz` to a name without it)."""

    def fill(tmp: Path) -> None:
        import numpy as np

        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return fill


def save_npz(path: Path, **arrays: object) -> Path:
    """np.savez into `path` itself (no .npz added), without following a symlink there."""
    return write_with(path, npz(**arrays))


def md_escape(value: object) -> str:
    """A record string made inert in Markdown: one line, HTML entities, specials escaped."""
    text = one_line(value, 500).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)
