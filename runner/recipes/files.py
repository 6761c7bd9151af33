"""The files of a recipe folder, read as bounded data before Hydra is allowed to load them.

Hydra may load any YAML file in the folder a recipe names (`--config-dir`), and a defaults
entry such as `- ../x` reaches beyond it. So every YAML file there is checked first: a regular
file (no symlink, FIFO or device), at most MAX_BYTES, alias expansion capped at MAX_NODES
(a 1-KB "billion laughs" file otherwise expands to 2^40 nodes), and defaults entries that only
name the project's own groups and plain option names inside the folder.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

MAX_BYTES = 256 * 1024
MAX_NODES = 20_000  # YAML nodes after alias expansion
MAX_FILES = 500
MAX_DEPTH = 3  # D/x.yaml, D/group/x.yaml, D/hydra/group/x.yaml
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_KEY = re.compile(r"(?:(override|optional)\s+)?/?([A-Za-z0-9_-]+)")


class RecipeError(ValueError):
    """A recipe that is refused; the message names the file, the problem and the fix."""


def yaml_files(folder: Path) -> list[Path]:
    """The YAML files Hydra could load from a config folder (hidden folders skipped)."""
    found: list[Path] = []
    stack = [(Path(folder), 0)]
    while stack:
        here, depth = stack.pop()
        for p in sorted(here.iterdir()):
            if p.name.startswith("."):
                continue
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


def expanded_nodes(text: str) -> int:
    """How many YAML nodes the text expands to when every alias is copied out (no objects)."""
    import yaml

    sizes: dict[str, int] = {}
    open_: list[list[Any]] = [["", 0]]  # [anchor, nodes so far] per open collection
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, yaml.AliasEvent):
            open_[-1][1] += sizes.get(ev.anchor or "", 1)
        elif isinstance(ev, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            if isinstance(ev, yaml.ScalarEvent):
                open_[-1][1] += 1
                if ev.anchor:
                    sizes[ev.anchor] = 1
            else:
                open_.append([ev.anchor, 1])
        elif isinstance(ev, yaml.CollectionEndEvent):
            anchor, n = open_.pop()
            open_[-1][1] += n
            if anchor:
                sizes[anchor] = n
        if open_[0][1] > MAX_NODES:
            break
    return open_[0][1]


def read_bounded(path: Path) -> Any:
    """A YAML file's data, refused when it is no regular file, too large or too deep in aliases."""
    import yaml

    st = path.lstat()
    if not stat.S_ISREG(st.st_mode):
        raise RecipeError(f"recipe file {path}: not a regular file (a symlink, FIFO or device)")
    if st.st_size > MAX_BYTES:
        raise RecipeError(f"recipe file {path}: {st.st_size} bytes, over {MAX_BYTES}; trim it")
    try:
        text = path.read_text()
        if expanded_nodes(text) > MAX_NODES:
            raise RecipeError(
                f"recipe file {path}: its aliases expand past {MAX_NODES} YAML nodes "
                "(a 'billion laughs' file); write the values out"
            )
        return yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        why = " ".join(str(exc).split())[:200]
        raise RecipeError(f"recipe file {path}: cannot be read as YAML ({why})") from None


def defaults_problem(entry: Any, groups: set[str]) -> str | None:
    """Why one defaults entry of a recipe file is refused, else None.

    Allowed: `_self_`, a plain config name (`config`, `helper`) and `[override ]GROUP: OPTION`
    for the project's groups; no `@package`, no `..`, no Hydra group, no nested paths.
    """
    if isinstance(entry, str):
        if _NAME.fullmatch(entry.removeprefix("/")) and ".." not in entry:
            return None
        return f"defaults entry {entry!r} is refused: name a config beside the recipe"
    if not (isinstance(entry, dict) and len(entry) == 1):
        return f"defaults entry {entry!r} is refused: use GROUP: OPTION or a config name"
    ((key, value),) = entry.items()
    m = _KEY.fullmatch(str(key))
    if not m or m.group(2) not in groups:
        return (
            f"defaults entry {entry!r} is refused: a recipe may only pick options of the "
            f"groups {', '.join(sorted(groups))} (no Hydra groups, no @package)"
        )
    if not (isinstance(value, str) and _NAME.fullmatch(value) and ".." not in value):
        return f"defaults entry {entry!r} is refused: the option must be a plain name"
    return None


def prescan(folder: Path, primary: Path, groups: set[str]) -> None:
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
            if why := defaults_problem(entry, groups):
                raise RecipeError(f"recipe file {path}: {why}")
