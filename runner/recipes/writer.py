"""The recommendation as a runnable recipe: a primary Hydra config over conf/ that re-runs the
recommended job, carrying only what a recipe may hold (project groups, plain typed keys).

Overrides copied from a record are filtered through the gate's allowlist (runner.core.gate):
only the axes' options that conf/ has and the settings a received recipe may set travel, with
no interpolation; comment lines are one line each, so a record cannot inject YAML.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
import textwrap
from pathlib import Path
from typing import Any

from runner.report.records import AXES, _num

log = logging.getLogger(__name__)
WIDTH = 100
# What a recommended recipe may carry from a record: plain keys and option names.
_KEY_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPTION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
LOCAL_PATHS = ("model.path", "dataset.path")  # the user's own files: on the re-run line only


def _overrides_as_values(
    overrides: list[str], groups: dict[str, str], local: list[str] | None = None
) -> dict[str, Any]:
    """A job's non-group Hydra overrides ("target.threads=2") as nested YAML values; paths to
    the user's own files (model.path, dataset.path) go to `local` instead, as overrides for the
    re-run command line: a recipe names no file it does not ship."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from runner.core.safe_io import one_line

    values: dict[str, Any] = {}
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception as exc:  # a bad override must not stop the summary
        log.warning("cannot parse the overrides %s: %s", one_line(overrides), one_line(exc))
        return values
    for o in parsed:
        if o.key_or_group in groups or "/" in o.key_or_group or o.package is not None:
            continue  # group choices travel in the defaults list
        if o.is_delete() or o.is_sweep_override():
            log.warning("recommended.yaml cannot express the override %s", one_line(o.input_line))
            continue
        if o.key_or_group in LOCAL_PATHS and "${" not in str(o.value()) and local is not None:
            local.append(f"{o.key_or_group}={o.value()}")  # the re-run line, not the recipe
            continue
        if not _recipe_may_hold(o.key_or_group, o.value()):
            log.warning("recommended.yaml leaves out %s", one_line(o.input_line, 100))
            continue
        *parents, leaf = o.key_or_group.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = o.value()
    return values


def _recipe_may_hold(key: str, value: Any) -> bool:
    """Whether a record's override may travel into a recipe: a key a received recipe may set
    (runner.core.gate's allowlist) with no interpolation in its value."""
    from runner.core.gate import settable, value_problem

    if not _KEY_PATH.fullmatch(key) or not settable(key):
        return False
    return value_problem(key, value) is None and "${" not in str(value)


def _is_option(group: str, option: Any) -> bool:
    """Whether `option` is one of conf/<group>/'s options (a plain name)."""
    from runner.recipes.check import CONF

    text = str(option)
    return bool(_OPTION.fullmatch(text)) and (CONF / group / f"{text}.yaml").is_file()


def group_choices(rec: dict) -> tuple[dict[str, str], list[str]]:
    """The record's group choices a recipe can name (conf/<group>/ options), and the groups
    whose choice it cannot (a path, an unknown name), which a re-run would leave at default."""
    from runner.core.gate import AXES as GROUPS

    choices = rec.get("choices") or {k: rec["axes"][k] for k in AXES[:5]}
    plain = {g: o for g, o in choices.items() if g in GROUPS and _is_option(g, o)}
    skipped = {g for g in choices if g.startswith("hydra") or g == "tracking"}
    return plain, sorted(set(choices) - set(plain) - skipped)


def recipe_yaml(
    rec: dict,
    why: str,
    config_dir: Path,
    name: str = "recommended",
    by: str = "Recommended by runner.summarize",
) -> str:
    """A primary Hydra config re-running the record's job: `config` + group overrides + values."""
    from omegaconf import OmegaConf

    from runner.core.safe_io import one_line, safe_name

    axes = rec["axes"]
    groups, dropped = group_choices(rec)
    if dropped:
        log.warning("%s.yaml leaves out the choices of %s", safe_name(name), one_line(dropped))
    defaults = ["config", *({f"override {g}": o} for g, o in groups.items()), "_self_"]
    local: list[str] = []
    values = _overrides_as_values(rec.get("overrides") or [], groups, local)
    m = rec.get("metric") or {}
    head = [
        f"{by}: {axes['precision']}/{axes['method']} "
        f"on {axes['target']} ({axes['model']}, {axes['dataset']}).",
        *textwrap.wrap(f"Why: {why}", WIDTH - 2),
    ]
    if m:  # absent only for a baseline the sweep did not run
        spd = _num(rec.get("speedup"))
        speedup = "-" if math.isnan(spd) else f"{spd:.2f}"
        line = (
            f"{m.get('name')} {m['value']:.4g} (baseline {m['baseline']:.4g}), speedup {speedup}x"
        )
        head.append(f"{line}, run_key {rec.get('run_key')}")
    folder = shlex.quote(str(config_dir.resolve()))
    rerun = f".venv/bin/python -m runner --config-dir {folder} --config-name {safe_name(name)}"
    rerun = " ".join([rerun, *map(shlex.quote, local)])  # this machine's files, not the recipe's
    head.append(f"Re-run: {rerun}")
    body = OmegaConf.to_yaml(OmegaConf.create({"defaults": defaults, **values}))
    return "".join(f"# {one_line(line, 1000)}\n" for line in head) + body
