"""`python -m runner.sensitivity [overrides]`: which layers break a quantized model.

Each unit (one layer, or one numbered transformer block) is quantized alone with the job's own
backend and settings, everything else float, and the metric change against FP32 is measured on
a fixed subset of the validation data. The ranking goes to sensitivity.md, sensitivity.png and
sensitivity.json (library: runner.policy.sensitivity).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    """The command line."""
    from runner.policy.sensitivity import UNITS

    p = argparse.ArgumentParser(
        prog="python -m runner.sensitivity",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m runner.sensitivity model=smollm2 precision=int8 "
        "method.backend=ort_dynamic_int8",
    )
    p.add_argument("overrides", nargs="*", help="group=option / key=value, as for python -m runner")
    p.add_argument("--unit", choices=UNITS, default="auto", help="auto: blocks of a transformer")
    p.add_argument(
        "--samples", type=int, default=None, help="validation rows scored (256; LM: 2 windows)"
    )
    p.add_argument("--out", type=Path, default=None, help="output dir (outputs/sensitivity/...)")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI: refuse bad input in one line (exit 2), rank the units, print the ranking."""
    from runner.core.compose import compose, progress_logging, refused
    from runner.core.safe_io import printable
    from runner.core.writer import check_root
    from runner.policy.sensitivity import SENSITIVITY_FILE, report_md, run

    args = parser().parse_args(argv)
    progress_logging()
    try:
        if why := refused(args.overrides):
            raise ValueError(why)
        cfg, _ = compose(args.overrides)
        if args.samples is not None and args.samples < 1:
            raise ValueError(f"--samples {args.samples} must be at least 1")
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        out = (
            args.out
            or Path("outputs/sensitivity") / f"{stamp}_{cfg.model.name}_{cfg.precision.name}"
        )
        check_root(out)  # a folder to resume may be a received one
        s = run(cfg, out, args.unit, args.samples, key=sorted(args.overrides))
    except (ValueError, OSError) as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 2
    print(printable(report_md(s, top=15)))
    print(printable(f"wrote {out}/sensitivity.md, sensitivity.png, {SENSITIVITY_FILE}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
