"""The recommendation as a runnable recipe: a primary Hydra config over conf/ that re-runs the
recommended job, carrying only what a recipe may hold (project groups, plain typed keys).

Overrides copied from a record are filtered: no trust decision, no machine-specific path, no
test hook, no resolver; comment lines are one line each, so a record cannot inject YAML.
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
# What a recommended recipe may carry from a record: plain keys and option names, and not the
# settings that only make sense on the sender's machine (or are test hooks).
_KEY_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


_OPTION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


_NOT_IN_RECIPE = ("hydra", "cache_dir", "fault", "force")


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
        log.warning("cannot parse the overrides %s: %s", overrides, exc)
        return values
    for o in parsed:
        if o.key_or_group in groups or "/" in o.key_or_group or o.package is not None:
            continue  # group choices travel in the defaults list
        if o.is_delete() or o.is_sweep_override():
            log.warning("recommended.yaml cannot express the override %s", o.input_line)
            continue
        if not _recipe_may_hold(o.key_or_group, o.value()):
            log.warning("recommended.yaml leaves out %s", one_line(o.input_line, 100))
            continue
        if o.key_or_group.split(".")[-1] == "path" and local is not None:
            local.append(f"{o.key_or_group}={o.value()}")
            continue
        *parents, leaf = o.key_or_group.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = o.value()
    return values


def _recipe_may_hold(key: str, value: Any) -> bool:
    """Whether a record's override may travel into a recipe: a plain key of the typed config,
    no trust decision (the receiver's), no machine-specific path or test hook, no resolver."""
    from runner.recipes.check import CONFIG_KEYS, TRUST_KEYS

    if not _KEY_PATH.fullmatch(key) or key.split(".")[0] not in CONFIG_KEYS:
        return False
    if any(t in key for t in TRUST_KEYS) or key.split(".")[0] in _NOT_IN_RECIPE:
        return False
    return "${" not in str(value)


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
    from runner.recipes.check import groups as project_groups

    axes = rec["axes"]
    choices = rec.get("choices") or {k: axes[k] for k in AXES[:5]}
    plain = {g: o for g, o in choices.items() if g in project_groups() and _OPTION.fullmatch(o)}
    if dropped := sorted(set(choices) - set(plain) - {g for g in choices if g.startswith("hydra")}):
        log.warning("recommended.yaml leaves out the choices of %s", one_line(dropped, 100))
    groups = plain
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
    rerun = f"python -m runner --config-dir {folder} --config-name {safe_name(name)}"
    rerun = " ".join([rerun, *map(shlex.quote, local)])  # this machine's files, not the recipe's
    head.append(f"Re-run: {rerun}")
    body = OmegaConf.to_yaml(OmegaConf.create({"defaults": defaults, **values}))
    return "".join(f"# {one_line(line, 1000)}\n" for line in head) + body
