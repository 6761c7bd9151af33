"""`python -m runner [-m] group=option ...`: compose the config, run one job per combination."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import hydra
from omegaconf import DictConfig

from runner.core.config import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """One job: typed config -> pipeline.run (heavy libraries are imported inside the job)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from runner.core.config import to_config
    from runner.core.record import artifact_path
    from runner.job import pipeline
    from runner.report.tracking import log_record

    hc = HydraConfig.get()
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
    multirun = hc.mode == RunMode.MULTIRUN
    job, job_dir = to_config(cfg), Path(hc.runtime.output_dir)
    record = pipeline.run(
        job,
        job_dir,
        list(hc.overrides.task),
        choices,
        multirun=multirun,
        job_num=hc.job.num if multirun else None,
        on_record=partial(log_record, job.tracking, job_dir, config=job, multirun=multirun),
    )
    if multirun:
        return  # a sweep goes on after a job that failed or could not run
    if record["status"] == "skipped":  # a single run asked for something impossible here
        _refuse(f"{record['reason']} (nothing ran; the record is in {job_dir})")
    if record["status"] == "failed":
        sys.exit(1)
    print(f"result: {job_dir / 'result.json'}\nmodel:  {artifact_path(record, job_dir)}")


def _refuse(message: str) -> None:
    """One line on stderr, exit status 2: the command line itself is wrong."""
    from runner.core.safe_io import one_line

    print(f"error: {one_line(message, 2000)}", file=sys.stderr)
    sys.exit(2)


def _overrides_problem(argv: list[str]) -> str | None:
    """A typo in a group, an option or a key: one line with the closest valid names."""
    from hydra._internal.utils import get_args_parser

    from runner.core.compose import CONF
    from runner.core.overrides import problem

    args = get_args_parser().parse_args(argv)
    dirs = [CONF] + ([Path(args.config_dir)] if args.config_dir else [])
    return problem(args.overrides, dirs)


def _precheck(argv: list[str]) -> str | None:
    """The values, paths and formats of every model and dataset the run or sweep names,
    checked once before any job launches (a sweep over a missing file launches nothing)."""
    from hydra._internal.utils import get_args_parser

    from runner.core.compose import compose
    from runner.core.config import problems
    from runner.core.overrides import grid
    from runner.job.pipeline import precheck

    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion:
        return None  # nothing will run
    config_dir = Path(args.config_dir) if args.config_dir else None
    name = (args.config_name or "config").removesuffix(".yaml")
    for point in grid(args.overrides):
        try:
            cfg, _ = compose(point, config_dir, name)
            if bad := problems(cfg):
                return "; ".join(bad)
            precheck(cfg)
        except (ValueError, OSError) as exc:
            return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def output_problem(argv: list[str]) -> str | None:
    """Why an output folder named on the command line (hydra.run.dir / hydra.sweep.dir) may
    not be written: a symlink, or a folder holding one (Hydra and the job would write
    through it). A folder that does not exist yet is fine."""
    from runner.core.writer import root_problem

    for arg in argv:
        key, _, value = arg.lstrip("+").partition("=")
        named = key in ("hydra.run.dir", "hydra.sweep.dir") and value and "${" not in value
        if named and (why := root_problem(Path(value))):
            return f"{key}: {why}"
    return None


def cli() -> None:
    """Entry point: refuse what could run code, write through a symlink or be silently
    ignored, or what cannot run (typos, missing files: one line, exit 2, before any job), run
    Hydra, and exit 1 when a sweep had failed jobs (after every record and the summary are
    written)."""
    from runner import callbacks
    from runner.core.config import unknown_additions
    from runner.core.safe_io import printable
    from runner.recipes.check import command_line_problem

    argv = sys.argv[1:]
    checks = (
        unknown_additions,
        command_line_problem,
        output_problem,
        _overrides_problem,
        _precheck,
    )
    for check in checks:
        if why := check(argv):
            _refuse(why)
    main()
    failed = callbacks.failed_jobs()
    if failed:
        total = callbacks.LAST.get("jobs", len(failed))
        print(f"{len(failed)} of {total} jobs failed:", file=sys.stderr)
        for name, reason in failed:
            print(printable(f"- {name}: {reason}"), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    cli()
