"""The project is self-contained: nothing in it reads or names a path above its own root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

WHERE = ["runner", "tests", "conf", "recipes", "benchmarks", ".ci", "Makefile", "pyproject.toml"]
DOTDOT = re.compile(r"""(?<![\w.])(?P<path>\.\.(?=/|["'\s)]|$)(?:/[\w.-]+)*)""")  # ../x, ..
QUOTED = re.compile(r"""(?<=["'])(?P<path>(?:\.\./)+[\w.-]+(?:/[\w.-]+)*)""")  # "../name" in code
ABOVE = re.compile(r"ROOT\.parent|parents\[(\d+)\]")


def _files() -> list[Path]:
    out = []
    for name in WHERE:
        p = ROOT / name
        out += [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
    skip = (".png", ".pyc")
    here = Path(__file__).resolve()  # this file spells the payloads it checks for
    return [f for f in out if "__pycache__" not in f.parts and f.suffix not in skip and f != here]


def escapes(path: Path, text: str) -> list[str]:
    """Every path in `text` that leaves the repository: `..` paths in configs and scripts,
    quoted "../name" strings and climbs past the root in Python (a line marked `# hostile`
    holds a test's payload, not a path the project uses)."""
    found = []
    python = path.suffix == ".py"
    for m in (QUOTED if python else DOTDOT).finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line = text[line_start : text.find("\n", m.end()) % (len(text) + 1)]
        if "# hostile" in line:
            continue
        before = text[line_start : m.start()]
        # Hydra's config_path and a shell `$(dirname "$0")/..` are relative to the file itself;
        # every other relative path to where commands run: the repository root
        own = "config_path" in before or before.endswith(")/")
        resolved = ((path.parent if own else ROOT) / m.group("path")).resolve()
        if resolved != ROOT and ROOT not in resolved.parents:
            found.append(m.group("path"))
    depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] of the file is the root
    for m in ABOVE.finditer(text) if python else ():
        if m.group(1) is None or int(m.group(1)) > depth:
            found.append(m.group())
    return found


def test_no_file_refers_to_a_path_above_the_repository_root():
    bad = {}
    for f in _files():
        hits = escapes(f, f.read_text(errors="ignore"))
        if hits:
            bad[str(f.relative_to(ROOT))] = hits
    assert bad == {}


@pytest.mark.parametrize(
    ("where", "text", "caught"),
    [
        ("tests/conftest.py", 'SCHEMA = ROOT.parent / "beside" / "x.json"', True),
        ("tests/conftest.py", 'json.load(open("../beside/result.schema.json"))', True),
        ("tests/conftest.py", "Path(__file__).resolve().parents[2]", True),
        ("Makefile", "\tcp ../beside/result.schema.json runner/", True),
        (".ci/run", 'cd "$(dirname "$0")/../.."', True),
        ("runner/__main__.py", 'config_path="../conf"', False),  # runner/../conf is conf/
        (".ci/run", 'cd "$(dirname "$0")/.."', False),
        ("tests/conftest.py", "Path(__file__).resolve().parents[1]", False),
        ("tests/recipes/test_trust.py", 'make_record(target="../../victim")  # hostile', False),
    ],
)
def test_the_check_catches_a_climb_out_of_the_repository(where, text, caught):
    assert bool(escapes(ROOT / where, text)) == caught


def test_the_result_schema_ships_inside_the_package():
    import runner

    assert (Path(runner.__file__).parent / "result.schema.json").is_file()
    assert 'runner = ["result.schema.json"]' in (ROOT / "pyproject.toml").read_text()


BARE_PYTHON = re.compile(r"(?<![/\w.-])python3? (?=-m (?!venv|pip)|benchmarks/)")


def bare_python(text: str) -> list[str]:
    """Commands a reader would paste that need the project's venv but name a bare `python`
    (outside the venv: "No module named 'omegaconf'"); `python3 -m venv` creates it and stays."""
    return [line.strip() for line in text.splitlines() if BARE_PYTHON.search(line)]


def test_every_documented_command_runs_the_projects_python():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = {p.name: bare_python(p.read_text()) for p in docs}
    assert not {k: v for k, v in found.items() if v}, "use .venv/bin/python"


@pytest.mark.parametrize(
    "line, caught",
    [
        ("python -m runner -m precision=int8", True),
        ("run `python3 benchmarks/coverage.py`", True),
        (".venv/bin/python -m runner.decide model=smollm2", False),
        ("python3 -m venv .venv", False),
    ],
)
def test_the_bare_python_check_catches_what_it_should(line, caught):
    assert bool(bare_python(line)) is caught
