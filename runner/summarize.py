"""`python -m runner.summarize DIR`: table, verdicts, Pareto fronts and a runnable recommendation.

Reads every result.json under DIR (nested multirun dirs included), never raises on a bad
record (it is listed as unreadable instead), and writes summary.md, summary.csv, pareto.png
and recommended.yaml into DIR (runner.report.summary, runner.recipes.export).
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """CLI: print the summary and write its files; exit 2 when DIR is not a directory."""
    from runner.core.safe_io import console_logging, printable
    from runner.recipes.export import summarize_sweep
    from runner.report.verdict import OBJECTIVES, Thresholds

    p = argparse.ArgumentParser(prog="python -m runner.summarize", description=__doc__)
    p.add_argument("dir", type=Path, help="a sweep output dir (searched recursively)")
    p.add_argument("--objective", choices=list(OBJECTIVES), default="latency")
    p.add_argument("--ship-below", type=float, default=0.01, help="relative drop that ships")
    p.add_argument("--qat-below", type=float, default=0.03, help="relative drop to try QAT")
    p.add_argument("--min-speedup", type=float, default=1.05, help="below it: no gain")
    args = p.parse_args(argv)
    console_logging()
    if not args.dir.is_dir():
        print(printable(f"error: {args.dir} is not a directory"), file=sys.stderr)
        return 2
    try:
        th = Thresholds(args.ship_below, args.qat_below, min_speedup=args.min_speedup)
    except ValueError as exc:
        p.error(str(exc))
    s = summarize_sweep(args.dir, objective=args.objective, thresholds=th)
    print(printable(s.text + "\n".join(f"wrote {path}" for path in s.written)))
    return 0


class _CallableModule(types.ModuleType):
    """`runner.summarize(folder)` is the Python API (runner.api.summarize), also once this
    command module is imported: importing it sets runner.summarize to the module, so the
    module answers a call as the function would."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from runner.api import summarize

        return summarize(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
