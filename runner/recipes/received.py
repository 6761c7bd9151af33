"""What a received recipe may not do beyond `runner.recipes.check`: choose where the runner
writes, or point at files it does not ship.

A received recipe writes only inside the run's own output folder and the user's configured
cache, and reads only the files that travel with it (inside its own folder).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from runner.recipes.files import RecipeError

# Keys that choose where the runner writes (output folders live under `hydra:`, refused by
# runner.recipes.check).
WRITE_KEYS = ("cache_dir",)
# Keys whose strings are layer names matched against the model's graph, never opened as files
# (a transformer's ONNX node names start with "/": /model/layers.3/).
NAME_KEYS = ("model.keep_float", "model.int8_layers")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) of every string in a YAML tree, the `expected:` block excepted
    (it is data that verify reads, never a setting the runner uses)."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if not path and k == "expected":
                continue
            found += _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        found.append((path, node))
    return found


def _leaves_folder(value: str) -> bool:
    """Whether a string is an absolute, home-relative or parent-relative path."""
    parts = re.split(r"[\\/]", value)
    return value.startswith(("/", "\\", "~")) or bool(_DRIVE.match(value)) or os.pardir in parts


def _shipped(value: str, folder: Path) -> bool:
    """Whether the path names a file that travels with the recipe (inside its folder)."""
    p = Path(value).expanduser()
    p = (p if p.is_absolute() else folder / p).resolve()
    return p.is_file() and p.is_relative_to(folder.resolve())


def check_received(path: Path) -> None:
    """RecipeError (one line: the key and the fix) when the recipe at `path` chooses where
    the runner writes or names a file outside its own folder (call after runner.recipes'
    own check, which refuses code and unreadable YAML)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"recipe {path}: cannot be read as YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path}: must be a YAML mapping with a defaults list")
    for key in WRITE_KEYS:
        if key in data:
            raise RecipeError(
                f"recipe {path}: `{key}` is refused: a received recipe may not choose where "
                f"the runner writes; remove it (pass {key}=... on your own command line)"
            )
    folder = Path(path).parent
    for key, value in _strings(data):
        if key.startswith("defaults"):
            continue  # config choices, checked by runner.recipes.check
        if key.split("[")[0] in NAME_KEYS:
            continue  # layer names, not paths
        if _leaves_folder(value) and not _shipped(value, folder):
            raise RecipeError(
                f"recipe {path}: {key}={value!r} is refused: a recipe may only name files "
                "it ships (inside its own folder); pass the path on your own command line"
            )
