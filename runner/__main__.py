"""`python -m runner [-m] group=option ...`: compose the config, run one job per combination."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from runner.schema import register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """One job: typed config -> pipeline.run (heavy libraries are imported inside the job)."""
    from hydra.core.hydra_config import HydraConfig

    from runner import pipeline
    from runner.schema import to_config

    hc = HydraConfig.get()
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
    pipeline.run(to_config(cfg), Path(hc.runtime.output_dir), list(hc.overrides.task), choices)


if __name__ == "__main__":
    main()
