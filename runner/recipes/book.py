"""Recipes that promise and verify: `python -m runner.recipes list | verify | export`.

A recipe is a primary config over conf/ plus an `expected:` block: the metric and its
tolerance, the speed ratio and its tolerance, the target, the validation sample count and the
environment that measured them. `verify` re-runs a recipe and checks each promise; `export`
turns a sweep's recommendation and its measured record into a recipe.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.core.safe_io import printable
from runner.recipes.check import RecipeError, check

ROOT = Path(__file__).resolve().parents[2]
# Overrides that say how a job ran here, not what it measures: left out of an exported recipe
# (cache_dir and hydra.* a received recipe may not even set).
LOCAL = ("cache_dir", "hydra", "fault", "force", "isolation", "timeout_s", "tracking")
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512vnni", "avx_vnni", "amx_int8", "neon")


@dataclass
class Check:
    """One promised figure against what a re-run measured."""

    name: str
    ok: bool
    text: str


def recipe_dirs() -> list[Path]:
    """Where recipes are looked up by name: ./recipes, then the project's own recipes/."""
    found: dict[Path, Path] = {}
    for d in (Path("recipes"), ROOT / "recipes"):
        if d.is_dir():
            found.setdefault(d.resolve(), d)
    return list(found.values())


def find(name: str) -> Path:
    """The recipe file a NAME or PATH names; RecipeError saying how to list them otherwise."""
    if Path(name).is_file():
        return Path(name)
    for d in recipe_dirs():
        for candidate in (d / name, d / f"{name}.yaml"):
            if candidate.is_file():
                return candidate
    raise RecipeError(f"no recipe {name!r}; `python -m runner.recipes list` shows them")


def load(path: Path) -> dict[str, Any]:
    """The recipe as data after the gate (only allowlisted keys; no code, Hydra settings,
    trust decisions, folders or paths)."""
    from runner.recipes.files import read_bounded

    path = Path(path)
    check(path.parent, path.stem)
    return read_bounded(path)


def promise(data: dict[str, Any]) -> str:
    """The recipe's one-line promise, from its `expected:` block."""
    e = data.get("expected") or {}
    if e.get("promise"):
        return str(e["promise"])
    m, s = e.get("metric") or {}, e.get("speedup") or {}
    if "value" not in m:
        return "(no expected figures)"
    sign = ">=" if m.get("higher_is_better", True) else "<="
    line = f"{m.get('name', 'metric')} {sign} {_bound(m):.4g}"
    if "value" in s:
        line += f", speedup >= {_bound(s, True):.2f}x"
    return f"{line} on {e.get('target', 'its target')}"


def _bound(block: dict[str, Any], higher: bool | None = None) -> float:
    """The worst value that still keeps the promise: value -/+ tolerance."""
    higher = block.get("higher_is_better", True) if higher is None else higher
    tol = float(block.get("tolerance") or 0)
    return float(block["value"]) - tol if higher else float(block["value"]) + tol


def compare(expected: dict[str, Any], rec: dict[str, Any]) -> list[Check]:
    """Each promised figure against the re-run's record (pure: no I/O)."""
    if rec.get("status") != "ok":
        return [Check("status", False, f"the job {rec.get('status')}: {rec.get('reason')}")]
    out = []
    m, got = expected.get("metric") or {}, rec.get("metric") or {}
    if "value" in m:
        hib = bool(got.get("higher_is_better", m.get("higher_is_better", True)))
        bound, value = _bound({**m, "higher_is_better": hib}), got.get("value")
        ok = isinstance(value, (int, float)) and (value >= bound if hib else value <= bound)
        ok = ok and got.get("name") == m.get("name", got.get("name"))
        sign = (">=" if hib else "<=") if ok else ("<" if hib else ">")
        promised = f"promised {m['value']:.4g} ± {m.get('tolerance', 0)}"
        shown_value = f"{value:.4g}" if isinstance(value, (int, float)) else "none"
        text = f"{got.get('name')} {shown_value} {sign} {bound:.4g} ({promised})"
        out.append(Check(str(m.get("name")), ok, text))
    s, speed = expected.get("speedup") or {}, rec.get("speedup")
    if "value" in s:
        bound = _bound(s, True)
        ok = isinstance(speed, (int, float)) and speed >= bound
        shown = f"{speed:.2f}x" if isinstance(speed, (int, float)) else "none"
        out.append(Check("speedup", ok, f"speedup {shown} {'>=' if ok else '<'} {bound:.2f}x "
                         f"(promised {s['value']:.2f}x - {s.get('tolerance', 0)})"))  # fmt: skip
    if "target" in expected:
        target = (rec.get("axes") or {}).get("target")
        out.append(Check("target", target == expected["target"], f"target {target}"))
    if "n_samples" in expected:
        n = got.get("n_samples")
        out.append(Check("n_samples", n == expected["n_samples"],
                         f"{n} validation samples (promised {expected['n_samples']})"))  # fmt: skip
    return out


def env_differences(promised: dict[str, Any], here: dict[str, Any]) -> list[str]:
    """What differs between the machine that measured the promise and this one (pure)."""
    out = []
    for key in ("machine", "cpu_count"):
        if promised.get(key) is not None and promised.get(key) != here.get(key):
            out.append(f"{key}: {here.get(key)} here, {promised[key]} in the recipe")
    theirs, ours = set(promised.get("cpu_flags") or []), set(here.get("cpu_flags") or [])
    if theirs and (missing := sorted(theirs - ours)):
        out.append(f"CPU flags the recipe's machine had and this one lacks: {', '.join(missing)}")
    if theirs and (extra := sorted((ours - theirs) & set(CPU_FLAGS))):
        out.append(f"CPU flags only this machine has: {', '.join(extra)}")
    for pkg, version in (promised.get("versions") or {}).items():
        mine = (here.get("versions") or {}).get(pkg)
        if version != mine:
            out.append(f"{pkg} {mine} here, {version} in the recipe")
    return out


def run_recipe(path: Path, overrides: list[str], out_dir: Path) -> dict[str, Any]:
    """Run the recipe as `python -m runner` would, into out_dir; its result record."""
    import os

    from runner.core.record import RESULT_FILE, read

    cmd = [sys.executable, "-m", "runner", "--config-dir", str(path.parent.resolve()),
           "--config-name", path.stem, f"hydra.run.dir={out_dir}", *overrides]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if not (out_dir / RESULT_FILE).is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RecipeError(f"recipe {path}: the run wrote no result ({last})")
    return read(out_dir / RESULT_FILE)


def verify(name: str, overrides: list[str]) -> int:
    """Re-run a recipe, print pass/fail per promised figure; 1 when one fails."""
    path = find(name)
    data = load(path)
    expected = data.get("expected") or {}
    if not expected:
        raise RecipeError(f"recipe {path}: no `expected:` block to verify; export one")
    out_dir = Path("outputs/verify") / f"{path.stem}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    print(printable(f"verify {path}: {promise(data)}\nre-running into {out_dir} ..."), flush=True)
    rec = run_recipe(path, overrides, out_dir)
    checks = compare(expected, rec)
    for c in checks:
        print(printable(f"{'PASS' if c.ok else 'FAIL'} {c.text}"))
    failed = [c for c in checks if not c.ok]
    diffs = env_differences(expected.get("environment") or {}, rec.get("env") or {})
    if failed and diffs:
        print("environment differences that might explain it:")
        print(printable("\n".join(f"- {d}" for d in diffs)))
    elif diffs:
        print(f"({len(diffs)} environment differences; none changed the verdict)")
    print(f"verify: {'FAIL' if failed else 'PASS'} ({len(checks) - len(failed)} of {len(checks)})")
    return 1 if failed else 0


def list_recipes() -> list[str]:
    """One line per recipe: name, its promise (or why it is refused)."""
    lines = []
    for d in recipe_dirs():
        for path in sorted(d.glob("*.yaml")):
            try:
                lines.append(f"{path.stem:<24} {promise(load(path))}")
            except RecipeError as exc:
                lines.append(f"{path.stem:<24} REFUSED: {exc}")
    return lines or ["no recipes found (./recipes/*.yaml)"]
