"""One small registry: the word on the command line is the key of the implementation.

`model=digits_cnn` picks conf/model/digits_cnn.yaml *and* the implementation registered as
("model", "digits_cnn"). Implementation modules import their heavy libraries lazily, so
importing them to fill the registry costs nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_REGISTRY: dict[str, dict[str, Any]] = {}
_PACKAGES = {
    "model": "runner.models",
    "arch": "runner.models",  # architectures a torch_file state_dict can be loaded into
    "dataset": "runner.datasets",
    "backend": "runner.backends",
    "target": "runner.targets",
    "task": "runner.tasks",  # metrics beyond runner.job.evaluate's built-in four
    # cheap path / format checks run before any data loads: (model|dataset)_check, NAME
    "model_check": "runner.models",
    "dataset_check": "runner.datasets",
}


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class/function decorator: make `obj` the implementation of `kind=name`."""

    def deco(obj: T) -> T:
        table = _REGISTRY.setdefault(kind, {})
        if name in table and table[name] is not obj:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = obj
        return obj

    return deco


def _load(kind: str) -> dict[str, Any]:
    """Import every module of the kind's package once, so each registers itself."""
    pkg = importlib.import_module(_PACKAGES[kind])
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    return _REGISTRY.setdefault(kind, {})


def get(kind: str, name: str) -> Any:
    """The implementation of `kind=name`, with the valid names in the error."""
    table = _load(kind)
    if name not in table:
        raise KeyError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(table))}")
    return table[name]


def find(kind: str, name: str) -> Any | None:
    """The implementation of `kind=name`, or None when there is none (optional hooks)."""
    return _load(kind).get(name)


def names(kind: str) -> list[str]:
    """Every registered name of a kind, sorted."""
    return sorted(_load(kind))


def items(kind: str) -> list[tuple[str, Any]]:
    """(name, implementation) pairs of a kind, in registration order."""
    return list(_load(kind).items())
