"""Print the mutation score of the last `mutmut run` for the mutants matching the patterns.

Usage: python benchmarks/mutation_score.py 'runner.core.stats.*' ... (run by `make mutate`)

The score over the selection, then one line per module (killed/judged), then every surviving
mutant (`mutmut show NAME` prints one). A mutant no selected test reaches ("no tests") is
counted and listed apart: it is not judged, and it means a test is missing.
"""

from __future__ import annotations

import ast
import collections
import copy
import fnmatch
import json
import re
import sys
from pathlib import Path

KILLED = ("killed", "timeout")  # a mutant that hangs the tests is caught


def module_of(name: str) -> str:
    """runner.job.lm.xǁGenerationǁdecode__mutmut_3 -> runner.job.lm."""
    return re.split(r"\.x(?:_|ǁ)", name, maxsplit=1)[0]


def statuses(patterns: list[str], root: Path = Path("mutants")) -> dict[str, str]:
    """Each matching mutant's status in mutmut's result files."""
    from mutmut.stats import status_by_exit_code

    out: dict[str, str] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            if not patterns or any(fnmatch.fnmatch(name, p) for p in patterns):
                out[name] = status_by_exit_code[code]
    return out


def _shape(node: ast.AST) -> str:
    """A function's AST with its prose blanked (strings holding a space: messages, labels,
    f-string text; never a key such as "higher_is_better"): equal shapes differ in words only."""
    node = copy.deepcopy(node)
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and " " in n.value:
            n.value = ""
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            n.name = ""
    return ast.dump(node)


def text_only(names: list[str], root: Path = Path("mutants")) -> set[str]:
    """The mutants that change only a string's words (a message, a label of the trail): their
    function's AST with its prose blanked equals the original's. They reword what is printed;
    what is decided, computed or refused is the same code."""
    out: set[str] = set()
    by_file: dict[Path, list[str]] = collections.defaultdict(list)
    for name in names:
        by_file[root / (module_of(name).replace(".", "/") + ".py")].append(name)
    for path, group in by_file.items():
        if not path.is_file():
            continue
        funcs = {n.name: n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}  # fmt: skip
        for name in group:
            short = name.rsplit(".", 1)[1]
            orig = funcs.get(short.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
            if orig is not None and short in funcs and _shape(funcs[short]) == _shape(orig):
                out.add(name)
    return out


def score_line(status: dict[str, str]) -> tuple[int, int]:
    """(killed, judged): judged are the killed, timed-out and surviving mutants."""
    counts = collections.Counter(status.values())
    judged = sum(counts[s] for s in (*KILLED, "survived"))
    return sum(counts[s] for s in KILLED), judged


def main(patterns: list[str]) -> int:
    """Print the score, the per-module scores and every surviving (or untested) mutant."""
    status = statuses(patterns)
    counts = collections.Counter(status.values())
    killed, judged = score_line(status)
    print("mutants:", dict(sorted(counts.items())))
    if judged:
        print(f"mutation score: {killed}/{judged} = {killed / judged:.1%} killed")
    by_module: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for name, s in status.items():
        by_module[module_of(name)][name] = s
    for module, ss in sorted(by_module.items()):
        k, j = score_line(ss)
        untested = sum(s == "no tests" for s in ss.values())
        extra = f", {untested} reached by no test" if untested else ""
        print(f"  {module}: {k}/{j}" + (f" = {k / j:.1%}" if j else "") + extra)
    survivors = sorted(n for n, s in status.items() if s == "survived")
    words = text_only(survivors)
    if judged and words:
        print(f"{len(words)} survivors change only a string's words (a message or a label, not "
              f"what is decided): {killed}/{judged - len(words)} = "
              f"{killed / (judged - len(words)):.1%} killed with those set aside")  # fmt: skip
    for name in survivors:
        print("survived:", name, "(text only)" if name in words else "")
    for name in sorted(n for n, s in status.items() if s == "no tests"):
        print("no tests:", name)
    return 0 if judged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
