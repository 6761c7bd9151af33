"""Command-line overrides read before Hydra composes anything: a typo or an unknown option is
one line naming the closest valid key or option, and a sweep's grid of models and datasets is
known before any job launches (so their paths are checked once)."""

from __future__ import annotations

import dataclasses
import itertools
import typing
from difflib import get_close_matches
from pathlib import Path
from types import UnionType
from typing import Any

from runner.core.config import Config

_UNCHECKED = ("hydra",)  # Hydra's own settings: Hydra checks them


def options(group: str, config_dirs: list[Path]) -> list[str]:
    """The options of a config group: the YAML files of conf/<group>/ (and of a recipe's
    folder, which may add its own)."""
    found = {p.stem for d in config_dirs for p in (d / group).glob("*.yaml")}
    return sorted(found)


def setting_keys(node: Any = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the typed config (model.path, latency.min_runs, ...)."""
    out = []
    for name, hint in typing.get_type_hints(node).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) in (typing.Union, UnionType) and args:
            hint = args[0]
        key = f"{prefix}{name}"
        out.append(key)
        if dataclasses.is_dataclass(hint):
            out += setting_keys(hint, key + ".")
    return out


def _suggest(word: str, candidates: list[str]) -> str:
    """'; did you mean X?' with the closest candidate, or nothing when none is close."""
    close = get_close_matches(word, list(dict.fromkeys(candidates)), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _values(o: Any) -> list[str] | None:
    """The option names an override picks (several for a sweep); None when not plain names."""
    try:
        if o.is_sweep_override():
            return [str(v) for v in o.sweep_string_iterator()]
        value = o.value()
    except Exception:  # noqa: BLE001 - range / glob sweeps: Hydra checks those
        return None
    return [value] if isinstance(value, str) else None


def parse(overrides: list[str]) -> list[Any]:
    """Hydra's parse of the overrides; ValueError with its one-line reason."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        first = (str(exc).strip().splitlines() or ["cannot parse the overrides"])[0]
        raise ValueError(f"{first} (write group=option or key=value)") from None


def problem(overrides: list[str], config_dirs: list[Path]) -> str | None:
    """Why an override names no config group option or setting, with the closest valid ones;
    None when every override is known (values are checked later, by the typed config)."""
    from runner.core.config import _known

    groups = sorted(p.name for d in config_dirs if d.is_dir() for p in d.iterdir() if p.is_dir())
    groups = [g for g in dict.fromkeys(groups) if g != "hydra"]
    try:
        parsed = parse(overrides)
    except ValueError as exc:
        return str(exc)
    for o in parsed:
        key = o.key_or_group
        if key.split(".")[0] in _UNCHECKED or "/" in key or o.package or o.is_delete():
            continue
        if key in groups:
            valid = options(key, config_dirs)
            for value in _values(o) or []:
                if value not in valid:
                    return (
                        f"{key}={value}: no such option{_suggest(value, valid)} "
                        f"(valid: {', '.join(valid)})"
                    )
            continue
        if not _known(key):
            return _unknown(key, groups)
    return None


def _unknown(key: str, groups: list[str]) -> str:
    """One line for an unknown key: the closest key (under a known parent, the closest of its
    keys: model.foo is not 'model'), else the keys that parent has when there are few."""
    keys = setting_keys()
    parent, _, leaf = key.rpartition(".")
    siblings = [k.rpartition(".")[2] for k in keys if parent and k.rpartition(".")[0] == parent]
    if siblings:  # the parent exists: compare the last word with its keys only
        near = _suggest(leaf, siblings).replace("mean ", f"mean {parent}.")
        if not near and len(siblings) <= 16:
            near = f"; {parent} has {', '.join(siblings)}"
    else:
        near = _suggest(key, [*groups, *keys])
    return (
        f"unknown setting {key!r}{near} (`python -m runner --cfg job` lists every key, "
        "`--help` the groups)"
    )


def grid(overrides: list[str], groups: tuple[str, ...] = ("model", "dataset")) -> list[list[str]]:
    """The distinct override lists of a sweep's jobs, as far as `groups` go (their options and
    their keys, e.g. model=a,b model.path=x,y): what the paths and formats depend on. Other
    swept overrides are left out (their defaults stand in)."""
    fixed, swept = [], []
    for o in parse(overrides):
        key = o.key_or_group
        mine = key.split(".")[0] in groups
        if o.is_sweep_override():
            values = _values(o)
            if mine and values:
                swept.append([f"{o.input_line.split('=', 1)[0]}={v}" for v in values])
            continue
        if not key.startswith("hydra"):  # Hydra's settings and launchers: not the job's data
            fixed.append(o.input_line)
    return [[*fixed, *combo] for combo in itertools.product(*swept)] if swept else [fixed]
