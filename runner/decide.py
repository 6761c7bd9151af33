"""`python -m runner.decide [overrides]`: walk the decision framework for one model.

1. INT8 PTQ, measured on the user's data (with the FP32 reference job beside it), judged on
   the validation rows after those set apart for selection (dataset.selection_rows);
2. a drop under summary.ship_below ships, when every interval clears its bar; where one
   straddles a bar, the job runs again with more tokens / timing runs under an alpha-spending
   design (runner.policy.gather), else the precision ends inconclusive with the count that
   would settle it;
3. between the thresholds, QAT (when the model can be trained), then re-measured;
4. over summary.qat_below, or when QAT cannot run or is not enough: per-layer sensitivity,
   then the mixed-precision fallback (the most harmful units kept in float, found by bisection
   over the ranking) before concluding "stay FP16/FP32";
5. a language model also gets INT4 weight-only (GPTQ), with 8-bit layers as its fallback.

Every step is a normal job with a normal result record in one output folder (re-running the
same command with --out resumes it); the trail (each step, its figures, why the next step)
goes to the console and decision.md, the recommendations to recommended_<precision>.yaml.
The library is runner.policy (decide: the steps, walk: the walk, trail: the trail).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m runner.decide",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m runner.decide model=smollm2 --int8-backend ort_dynamic_int8",
    )
    p.add_argument("overrides", nargs="*", help="model / dataset / target overrides, as for runner")
    p.add_argument("--out", type=Path, default=None, help="output folder; an existing one resumes")
    p.add_argument("--int8-backend", default=None, help="method.backend of the INT8 steps")
    p.add_argument(
        "--int4-algorithm", default="gptq", help="INT4 weight-only algorithm (language models)"
    )
    p.add_argument(
        "--unit",
        choices=("auto", "layer", "block", "kind"),
        default="auto",
        help="what sensitivity quantizes alone (auto: a transformer's blocks, then kinds)",
    )
    p.add_argument("--samples", type=int, default=None, help="validation rows of the probe")
    p.add_argument(
        "--max-kept",
        type=float,
        default=0.25,
        help="the most the fallback keeps, as a share of the layers (0.25)",
    )
    return p


# The walk sets these itself (their settings, e.g. method.qat_epochs, may be given)


def main(argv: list[str] | None = None) -> int:
    """CLI: refuse bad input in one line (exit 2), walk, write the outputs, print the trail."""
    from runner.core.compose import progress_logging
    from runner.core.safe_io import printable
    from runner.core.writer import root_problem
    from runner.policy.decide import Options, prepare, walk, write_outputs

    args = parser().parse_args(argv)
    progress_logging()
    over = list(args.overrides)
    opts = Options(args.int8_backend, args.int4_algorithm, args.unit, args.samples, args.max_kept)
    try:
        cfg, th = prepare(over, opts)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    out = args.out or Path("outputs/decide") / f"{stamp}_{cfg.model.name}_{cfg.target.name}"
    if why := root_problem(out):  # a folder to resume may be a received one
        print(f"error: --out {why}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    print(f"[decide] {cfg.model.name} on {cfg.target.name}: output in {out}")
    print(f"[decide] the same command with --out {out} resumes it")
    trail, code = walk(cfg, th, over, out, opts, echo=print)
    shown = sys.argv[1:] if argv is None else list(argv)
    for path in write_outputs(out, trail, shown, th):
        print(printable(f"wrote {path}"))
    decisions = (
        f"[decide] {d.precision.upper()}: {d.job or '-'} - {d.why}" for d in trail.decisions
    )
    print(printable("\n" + "\n".join(decisions)))
    return code


if __name__ == "__main__":
    sys.exit(main())
