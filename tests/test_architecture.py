"""The shape of runner/: packages in layers, imports pointing down, no circle, small modules.

Read from the source (every import, including those inside functions), so a new module or a
new import that breaks the architecture fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

RUNNER = ROOT / "runner"
# Lower numbers are lower floors: a module may import its own floor or a lower one.
LEVELS = {
    "core": 0,
    "models": 1,
    "datasets": 1,
    "backends": 1,
    "targets": 1,
    "tasks": 1,
    "job": 2,
    "report": 3,
    "recipes": 4,
    "policy": 5,
}
COMMANDS = 6  # the modules loose at the top of runner/ (entry points, the API)
PLUG_INS = ("models", "datasets", "backends", "targets", "tasks")
MAX_LOOSE = 12
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(RUNNER.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The runner modules `name` imports anywhere in its source (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:  # `from runner.x import func` names module runner.x
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("runner."):  # not the bare package root:
                found.add(t)  # its __init__ only exports the API lazily
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    g = {name: imports_of(name, path, known) for name, path in mods.items()}
    # `from runner.x import y` also imports runner.x's package __init__; that is no edge we
    # design, so only the named modules count (a package's __init__ counts where named).
    return g


def level(name: str) -> int:
    parts = name.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] not in LEVELS):
        return COMMANDS
    return LEVELS[parts[1]]


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_anywhere_in_runner():
    assert cycles(graph()) == []


def test_imports_point_down_the_floors():
    up = [
        f"{a} -> {b}"
        for a, deps in graph().items()
        for b in deps
        if level(b) > level(a) and b != "runner"
    ]
    assert up == []


def test_a_plug_in_never_imports_the_job_the_report_or_the_policy():
    bad = [
        f"{a} -> {b}"
        for a, deps in graph().items()
        if a.split(".")[1:2] and a.split(".")[1] in PLUG_INS
        for b in deps
        if level(b) > 1
    ]
    assert bad == []


def test_the_report_reads_records_only():
    """report/ judges records: it imports core and itself, never a model runtime or the job."""
    bad = [
        f"{a} -> {b}"
        for a, deps in graph().items()
        if a.startswith("runner.report.")
        for b in deps
        if not b.startswith(("runner.core", "runner.report"))
    ]
    assert bad == []


def test_at_most_twelve_modules_loose_at_the_top_and_none_too_long():
    loose = [p.name for p in RUNNER.glob("*.py")]
    assert len(loose) <= MAX_LOOSE, sorted(loose)
    long = {
        str(p.relative_to(ROOT)): n
        for p in RUNNER.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize(
    ("edges", "found"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
    ],
)
def test_the_circle_check_finds_a_circle(edges, found):
    assert cycles(edges) == found


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "def f():\n    from runner.job import pipeline\n    from .x import y\n"
        "import runner.core.stats as s\n"
    )
    known = {"runner.job.pipeline", "runner.report.x", "runner.core.stats", "runner.job"}
    assert imports_of("runner.report.m", src, known) == {
        "runner.job.pipeline",
        "runner.job",
        "runner.report.x",
        "runner.core.stats",
    }
