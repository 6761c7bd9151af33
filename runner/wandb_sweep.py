"""`python -m runner.wandb_sweep -m precision=int8,int4 method=ptq,qat [...]`: a W&B sweep YAML.

The same overrides as a multirun become a grid sweep: each swept override a parameter with
`values`, each fixed one a parameter with one `value`. The command launches `python -m runner`
with the agent's `${args_no_hyphens}`, and points every job into one sweep directory keyed by
the W&B sweep id (outputs/sweeps/wandb-<id>/<overrides>/), so `python -m runner.summarize` and
resume work on it as on a multirun folder. `wandb sweep FILE`, then `wandb agent ID`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# ${envvar:...} is the agent's own macro (filled from its environment, which holds the sweep
# id); ${hydra.job.override_dirname} is Hydra's: one folder per parameter set.
SWEEP_ROOT = "outputs/sweeps/wandb-${envvar:WANDB_SWEEP_ID}"
RUN_DIR = f"hydra.run.dir={SWEEP_ROOT}/${{hydra.job.override_dirname}}"
# Settings that do not change what a job measures stay out of its folder name.
NOT_IN_DIR = "hydra.job.config.override_dirname.exclude_keys=[cache_dir,tracking,force,isolation]"


def sweep_spec(overrides: list[str], project: str | None = None) -> dict[str, Any]:
    """The W&B sweep config for Hydra overrides; ValueError for one a grid cannot express."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob
    from hydra.errors import HydraException

    from runner.core.config import unknown_additions

    if bad := unknown_additions(overrides):
        raise ValueError(bad)
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise ValueError(f"cannot parse the overrides: {exc}") from exc
    parameters: dict[str, Any] = {}
    fixed: list[str] = []
    for o in parsed:
        key = o.input_line.split("=", 1)[0]
        if o.key_or_group.split(".")[0] == "hydra":
            fixed.append(o.input_line)  # Hydra's own settings stay on the command line
        elif o.is_delete():
            raise ValueError(f"{o.input_line!r}: a W&B sweep cannot delete a key; drop it")
        elif o.is_sweep_override():
            if isinstance(o.value(), Glob):
                raise ValueError(f"{o.input_line!r}: list the options instead of a glob")
            parameters[key] = {"values": list(o.sweep_string_iterator())}
        else:
            parameters[key] = {"value": o.get_value_element_as_str()}
    parameters.setdefault("tracking", {"value": "wandb"})
    spec: dict[str, Any] = {"program": "runner/__main__.py", "method": "grid"}
    if project or "tracking.project" in parameters:
        spec["project"] = project or parameters["tracking.project"].get("value")
    spec["parameters"] = parameters
    spec["command"] = ["${env}", "${interpreter}", "-m", "runner", RUN_DIR, NOT_IN_DIR, *fixed]
    spec["command"].append("${args_no_hyphens}")
    return spec


def grid_size(spec: dict[str, Any]) -> int:
    """How many jobs the grid runs."""
    n = 1
    for p in spec["parameters"].values():
        n *= len(p.get("values", [None]))
    return n


def log_summary(sweep_dir: Path, project: str | None) -> int:
    """Summarize an agent-run sweep folder and log its W&B summary run (a multirun does this
    itself at its end; agents run one job each and never see the end)."""
    from runner.core.config import TrackingConfig
    from runner.core.safe_io import printable
    from runner.recipes.export import summarize_sweep
    from runner.report.tracking import log_sweep

    if not Path(sweep_dir).is_dir():
        print(f"error: {sweep_dir} is not a directory", file=sys.stderr)
        return 2
    summary = summarize_sweep(sweep_dir)
    cfg = TrackingConfig(name="wandb", **({"project": project} if project else {}))
    log_sweep(cfg, sweep_dir, summary)
    print(printable(summary.text))
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI: write the sweep YAML (through the writer rooted at its folder) and say how to
    start it; exit 2 on a bad override or an unsafe --out."""
    import yaml

    from runner.core.safe_io import printable
    from runner.core.writer import Writer

    p = argparse.ArgumentParser(prog="python -m runner.wandb_sweep", description=__doc__)
    p.add_argument("-m", "--multirun", action="store_true", help="accepted, as for the runner")
    p.add_argument("--out", type=Path, default=Path("sweep.yaml"), help="the YAML to write")
    p.add_argument("--project", help="the W&B project (default: tracking.project)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. precision=int8,int4")
    p.add_argument(
        "--log-summary",
        type=Path,
        metavar="SWEEP_DIR",
        help="once the agents are done: summarize SWEEP_DIR and log its W&B summary run",
    )
    args = p.parse_args(argv)
    if args.log_summary is not None:
        return log_summary(args.log_summary, args.project)
    try:
        spec = sweep_spec(args.overrides, args.project)
        out = Writer(args.out.parent, create=False)
        if out.name(args.out.name) != args.out.name:
            raise ValueError(f"--out {args.out}: give a plain file name")
        out.write_text(args.out.name, yaml.safe_dump(spec, sort_keys=False))
    except (ValueError, OSError) as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 2
    root = SWEEP_ROOT.replace("${envvar:WANDB_SWEEP_ID}", "<ID>")
    print(
        f"wrote {args.out}: a grid of {grid_size(spec)} jobs\n"
        f"start it:   wandb sweep {args.out}   (prints the sweep ID)\n"
        f"run it:     wandb agent <ENTITY/PROJECT/ID>   (as many agents as you like)\n"
        f"results:    {root}/; summarize: python -m runner.summarize {root}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
