"""Shareable recipes are data: check one before Hydra composes it, so it cannot run code.

Hydra instantiates `_target_` classes it finds under `hydra:` (callbacks, launchers). A recipe
from someone else must therefore carry no `_target_`, no `hydra:` block and no `hydra/` entry
in its defaults list, and only keys that the runner's typed config knows.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from runner.schema import Config

ALLOWED_TOP = {"defaults"} | {f.name for f in fields(Config)}


class RecipeError(ValueError):
    """A recipe that is refused; the message names the file, the key and the fix."""


def _targets(node: Any, path: str = "") -> list[str]:
    """Dotted paths of every `_target_` key in a YAML tree."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}" if path else str(k)
            found += [here] if k == "_target_" else _targets(v, here)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _targets(v, f"{path}[{i}]")
    return found


def check(path: Path) -> dict[str, Any]:
    """The recipe's YAML as data, or RecipeError saying what is refused and how to fix it."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"recipe {path}: cannot be read as YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path}: must be a YAML mapping with a defaults list")
    if targets := _targets(data):
        raise RecipeError(
            f"recipe {path}: `_target_` at {targets[0]} is refused: a recipe is "
            "data and never instantiates code; remove it"
        )
    if "hydra" in data:
        raise RecipeError(
            f"recipe {path}: a `hydra:` block is refused (Hydra callbacks and "
            "launchers run code); remove it and pass hydra.* on the command line"
        )
    for entry in data.get("defaults") or []:
        text = str(entry)
        if "hydra" in text.split(":")[0]:
            raise RecipeError(
                f"recipe {path}: defaults entry {text!r} is refused: a recipe "
                "may not select Hydra plugins; remove it"
            )
    unknown = sorted(set(data) - ALLOWED_TOP)
    if unknown:
        raise RecipeError(
            f"recipe {path}: unknown key {unknown[0]!r}; valid keys: "
            f"{', '.join(sorted(ALLOWED_TOP))}"
        )
    return data


def recipe_from_argv(argv: list[str]) -> Path | None:
    """The YAML file a `--config-dir D --config-name N` command line would compose, if any."""
    opts: dict[str, str] = {}
    names = {"--config-dir": "dir", "-cd": "dir", "--config-name": "name", "-cn": "name"}
    for i, arg in enumerate(argv):
        key, eq, value = arg.partition("=")
        if key in names:
            opts[names[key]] = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
    if "dir" not in opts or "name" not in opts:
        return None
    name = opts["name"] if opts["name"].endswith(".yaml") else opts["name"] + ".yaml"
    path = Path(opts["dir"]) / name
    return path if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    """`python -m runner.recipes list | verify NAME | export SWEEP_DIR` (runner.recipe_book)."""
    from runner.recipe_book import main as book

    return book(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
