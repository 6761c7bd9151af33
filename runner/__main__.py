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
    if not multirun and record["status"] == "failed":
        sys.exit(1)  # a sweep goes on after a failed job; a single run says it failed


def _refuse(message: str) -> None:
    """One line on stderr, exit status 2: the command line itself is wrong."""
    from runner.core.safe_io import one_line

    print(f"error: {one_line(message, 2000)}", file=sys.stderr)
    sys.exit(2)


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
    ignored, run Hydra, and exit 1 when a sweep had failed jobs (after every record and the
    summary are written)."""
    from runner import callbacks
    from runner.core.config import unknown_additions
    from runner.core.safe_io import printable
    from runner.recipes.check import command_line_problem

    if bad := unknown_additions(sys.argv[1:]):
        _refuse(bad)
    if why := command_line_problem(sys.argv[1:]) or output_problem(sys.argv[1:]):
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
