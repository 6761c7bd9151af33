"""The files of a recipe folder, read as bounded data before Hydra is allowed to load them.

Hydra may load any YAML file in the folder a recipe names (`--config-dir`), hidden ones
included, and a defaults entry such as `- ../x` reaches beyond it. So every YAML file there,
dot-files and dot-folders included, is checked first: a regular file (no symlink, FIFO or
device), bounded in size and in alias expansion (runner.core.gate.read_yaml), and defaults
entries that only pick options of the axes' groups and plain, visible names in the folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from runner.core.gate import AXES, Refused, expanded_nodes, read_yaml

__all__ = ["RecipeError", "defaults_problem", "expanded_nodes", "prescan", "yaml_files"]
RecipeError = Refused  # a refused recipe: the message names the file, the problem and the fix
MAX_FILES = 500
MAX_DEPTH = 3  # D/x.yaml, D/group/x.yaml, D/hydra/group/x.yaml
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # no hidden name, no path
_KEY = re.compile(r"(?:(override|optional)\s+)?/?([A-Za-z0-9_-]+)")


def yaml_files(folder: Path) -> list[Path]:
    """Every YAML file Hydra could load from a config folder, hidden ones included."""
    found: list[Path] = []
    stack = [(Path(folder), 0)]
    while stack:
        here, depth = stack.pop()
        for p in sorted(here.iterdir()):
            if p.suffix in (".yaml", ".yml"):
                found.append(p)
            elif depth + 1 < MAX_DEPTH and p.is_dir():
                if p.is_symlink():
                    raise RecipeError(f"recipe folder {folder}: {p} is a symlink; copy it in")
                stack.append((p, depth + 1))
            if len(found) > MAX_FILES:
                raise RecipeError(
                    f"recipe folder {folder}: more than {MAX_FILES} YAML files; put the recipe "
                    "in a folder of its own"
                )
    return found


def read_bounded(path: Path) -> Any:
    """A recipe file's data (runner.core.gate.read_yaml), refused in one line naming it."""
    try:
        return read_yaml(path)
    except Refused as exc:
        raise RecipeError(f"recipe file {exc}") from None


def defaults_problem(entry: Any, groups: tuple[str, ...] = AXES) -> str | None:
    """Why one defaults entry of a recipe file is refused, else None.

    Allowed: `_self_`, a plain config name (`config`, `helper`) and `[override ]GROUP: OPTION`
    for the axes' groups; no `@package`, no `..`, no hidden name, no Hydra or tracking group,
    no nested paths.
    """
    if isinstance(entry, str):
        if _NAME.fullmatch(entry.removeprefix("/")) and ".." not in entry:
            return None
        return f"defaults entry {entry!r} is refused: name a visible config beside the recipe"
    if not (isinstance(entry, dict) and len(entry) == 1):
        return f"defaults entry {entry!r} is refused: use GROUP: OPTION or a config name"
    ((key, value),) = entry.items()
    m = _KEY.fullmatch(str(key))
    if not m or m.group(2) not in groups:
        return (
            f"defaults entry {entry!r} is refused: a recipe may only pick options of the "
            f"groups {', '.join(groups)} (no Hydra groups, no tracking, no @package)"
        )
    if not (isinstance(value, str) and _NAME.fullmatch(value) and ".." not in value):
        return f"defaults entry {entry!r} is refused: the option must be a plain name"
    return None


def prescan(folder: Path, primary: Path) -> None:
    """Check every YAML file Hydra could load from the folder; RecipeError on the first problem."""
    files = yaml_files(folder)
    for path in [primary, *(f for f in files if f != primary)]:
        data = read_bounded(path)
        if not isinstance(data, dict):
            if path == primary:
                raise RecipeError(f"recipe {path}: must be a YAML mapping with a defaults list")
            continue
        defaults = data.get("defaults") or []
        if not isinstance(defaults, list):
            raise RecipeError(f"recipe file {path}: `defaults` must be a list")
        for entry in defaults:
            if why := defaults_problem(entry):
                raise RecipeError(f"recipe file {path}: {why}")
