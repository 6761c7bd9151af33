"""Print the mutation score of the last `mutmut run` for the mutants matching the patterns.

Usage: python benchmarks/mutation_score.py 'runner.core.stats.*' ... (run by `make mutate`)

The score over the selection, then one line per module (killed/judged), then every surviving
mutant (`mutmut show NAME` prints one). A mutant no selected test reaches ("no tests") is
counted and listed apart: it is not judged, and it means a test is missing.
"""

from __future__ import annotations

import collections
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
    for name in sorted(n for n, s in status.items() if s == "survived"):
        print("survived:", name)
    for name in sorted(n for n, s in status.items() if s == "no tests"):
        print("no tests:", name)
    return 0 if judged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
