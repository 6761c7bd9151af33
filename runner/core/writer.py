"""The one writer: every file a command writes goes under that command's output folder.

A command's output folder may be one the user received (a sweep folder, a decide folder to
resume) or one they named on their command line; what is inside it is not theirs. So a
`Writer` rooted at the folder writes a file only at a plain name inside it (a name from a
record is sanitized first), never through a symlink (a planted `decision.md -> ~/.bashrc`
is refused and left alone), never into a sub-folder that is a symlink, and never outside the
root. `root_problem` refuses a root that holds a symlink leading out of it anywhere, for the
commands that run jobs in it (their libraries write files the writer does not name: ONNX
models, Hydra's .hydra/, W&B runs).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from runner.core.safe_io import SymlinkError, printable, safe_name, write_with

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
MAX_SCAN = 100_000  # entries looked at when an output folder is checked for symlinks
# W&B's folder: every run goes into a fresh run folder and W&B replaces its own links
# (latest-run, debug.log, logs/debug-core.log -> ~/.cache/wandb/...); not looked into.
OWN_LINKS = ("wandb",)


class UnsafeOutput(ValueError):
    """An output folder that cannot be written safely; the message names the path and the fix."""


def _symlinks(root: Path) -> Iterator[Path]:
    """Every symlink under root (not followed), up to MAX_SCAN entries looked at."""
    seen, stack = 0, [root]
    while stack:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for e in entries:
            seen += 1
            if seen > MAX_SCAN:
                raise UnsafeOutput(
                    f"{root} holds more than {MAX_SCAN} entries; give an output folder of its own"
                )
            if e.is_symlink():
                yield Path(e.path)
            elif e.is_dir(follow_symlinks=False) and e.name not in OWN_LINKS:
                stack.append(Path(e.path))


def root_problem(root: Path) -> str | None:
    """Why a command may not write into `root` (a symlink, or a folder holding a symlink that
    leads out of it), else None. A link that stays inside is harmless, and so is what W&B
    keeps in its own `wandb/` folder (OWN_LINKS; the folder itself may not be a link); a
    folder that does not exist yet is fine."""
    root = Path(root)
    if root.is_symlink():
        return (
            f"{printable(root)} is a symlink; refusing to write through it "
            f"(name the folder itself: {printable(root.resolve())})"
        )
    if root.exists() and not root.is_dir():
        return f"{printable(root)} is not a folder; name an output folder"
    if root.is_dir():
        inside = root.resolve()
        out = (p for p in _symlinks(root) if not p.resolve().is_relative_to(inside))
        found = next(out, None)
        if found is not None:
            return (
                f"{printable(found)} is a symlink inside the output folder {printable(root)}; "
                "refusing to write through it (remove it, or give a fresh folder)"
            )
    return None


def check_root(root: Path) -> Path:
    """`root` when a command may run jobs in it; UnsafeOutput (one line) otherwise."""
    if why := root_problem(root):
        raise UnsafeOutput(why)
    return Path(root)


class Writer:
    """Writes files under one root folder: plain names only, no symlink followed, nothing
    outside the root. Creates the root (and its parents) when missing."""

    def __init__(self, root: Path | str, *, create: bool = True) -> None:
        root = Path(root)
        if root.is_symlink():
            raise SymlinkError(
                f"{printable(root)} is a symlink; refusing to write through it "
                f"(name the folder itself: {printable(root.resolve())})"
            )
        if create:
            root.mkdir(parents=True, exist_ok=True)
        if root.exists() and not root.is_dir():
            raise UnsafeOutput(f"{printable(root)} is not a folder; name an output folder")
        self.root = root

    @staticmethod
    def name(value: object) -> str:
        """A plain file or folder name: kept when already plain, else sanitized (a record's
        `/abs/x` becomes `abs_x-<hash>`, never a path)."""
        text = str(value)
        return text if _PLAIN.fullmatch(text) else safe_name(text)

    def path(self, name: str) -> Path:
        """root/name for a plain name (one level; sanitized when not plain)."""
        return self.root / self.name(name)

    def dir(self, name: str) -> Writer:
        """A writer for root/name, a real folder inside the root (created; a symlink there is
        refused, not followed)."""
        target = self.path(name)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            target.mkdir()
            return Writer(target, create=False)
        if stat.S_ISLNK(st.st_mode):
            raise SymlinkError(
                f"{printable(target)} is a symlink; refusing to write through it (remove it)"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeOutput(f"{printable(target)} is not a folder; remove it")
        return Writer(target, create=False)

    def write_with(self, name: str, fill: Callable[[Path], object]) -> Path:
        """Let `fill` write a fresh temporary file, then rename it to root/name (a symlink
        already there is refused, not followed)."""
        return write_with(self.path(name), fill)

    def write_text(self, name: str, text: str) -> Path:
        """root/name with `text`, written as write_with does."""
        return self.write_with(name, lambda tmp: tmp.write_text(text))

    def remove(self, pattern: str) -> list[Path]:
        """Remove the entries matching a glob pattern at the root (a symlink goes, not what
        it points to)."""
        gone = []
        for p in sorted(self.root.glob(pattern)):
            if p.is_symlink() or p.is_file():
                p.unlink()
                gone.append(p)
        return gone

    def files(self, pattern: str) -> list[Path]:
        """Regular files at the root matching a pattern (symlinks left out: never read
        through a link a sender planted)."""
        return [p for p in sorted(self.root.glob(pattern)) if p.is_file() and not p.is_symlink()]
