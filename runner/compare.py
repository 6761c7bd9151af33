"""`python -m runner.compare A.json B.json`: two result records side by side, A the reference.

The validate-then-compare step users otherwise script by hand: B's metric against A's with a
paired CI when both jobs kept per-sample outcomes of the same length, latency and size ratios,
and the verdict B would get if A were its baseline (library: runner.report.compare).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """CLI: print the comparison; exit 2 with a one-line error on a missing or bad record."""
    from runner.core.safe_io import console_logging, printable
    from runner.report.compare import _paired, load, side_by_side, versus
    from runner.report.verdict import OBJECTIVES, Thresholds

    p = argparse.ArgumentParser(prog="python -m runner.compare", description=__doc__)
    p.add_argument("a", type=Path, help="reference result.json")
    p.add_argument("b", type=Path, help="result.json to judge against A")
    p.add_argument("--ship-below", type=float, default=0.01)
    p.add_argument("--qat-below", type=float, default=0.03)
    p.add_argument("--min-speedup", type=float, default=1.05, help="below it: no gain")
    p.add_argument("--objective", choices=list(OBJECTIVES), default="latency")
    args = p.parse_args(argv)
    console_logging()
    try:
        th = Thresholds(
            args.ship_below, args.qat_below, min_speedup=args.min_speedup, objective=args.objective
        )
        (a, oa), (b, ob) = load(args.a), load(args.b)
    except ValueError as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 2
    print(printable(side_by_side(a, b, (str(args.a), str(args.b)))))
    lines, v = versus(a, b, _paired(oa, ob), th)
    print(printable("\n".join(["", *lines])))
    if v is not None:
        print(printable(f"verdict (A as baseline): {v.label}: {v.reason}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
