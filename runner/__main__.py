"""`python -m runner [-m] group=option ...`: compose the config, run one job per combination."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from runner.schema import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """One job: typed config -> pipeline.run (heavy libraries are imported inside the job)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from runner import pipeline
    from runner.schema import to_config

    hc = HydraConfig.get()
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
    multirun = hc.mode == RunMode.MULTIRUN
    record = pipeline.run(
        to_config(cfg),
        Path(hc.runtime.output_dir),
        list(hc.overrides.task),
        choices,
        multirun=multirun,
        job_num=hc.job.num if multirun else None,
    )
    if not multirun and record["status"] == "failed":
        sys.exit(1)  # a sweep goes on after a failed job; a single run says it failed


def cli() -> None:
    """Entry point: refuse a recipe or flag that could run code, then hand over to Hydra."""
    from runner.recipes import command_line_problem

    if why := command_line_problem(sys.argv[1:]):
        print(f"error: {why}", file=sys.stderr)
        sys.exit(2)
    main()


if __name__ == "__main__":
    cli()
