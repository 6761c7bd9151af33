"""Print the mutation score of the last `mutmut run` for the mutants matching the patterns.

Usage: python benchmarks/mutation_score.py 'runner.stats.*' ... (run by `make mutate`)
"""

from __future__ import annotations

import collections
import fnmatch
import json
import sys
from pathlib import Path


def main(patterns: list[str]) -> int:
    """Count mutmut's outcomes per status, print the score and every surviving mutant."""
    from mutmut.stats import status_by_exit_code

    status: dict[str, str] = {}
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            if not patterns or any(fnmatch.fnmatch(name, p) for p in patterns):
                status[name] = status_by_exit_code[code]
    counts = collections.Counter(status.values())
    judged = counts["killed"] + counts["timeout"] + counts["survived"]
    killed = counts["killed"] + counts["timeout"]  # a mutant that hangs the tests is caught
    print("mutants:", dict(sorted(counts.items())))
    if judged:
        print(f"mutation score: {killed}/{judged} = {killed / judged:.1%} killed")
    for name in sorted(n for n, s in status.items() if s == "survived"):
        print("survived:", name)
    return 0 if judged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
