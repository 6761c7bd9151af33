"""Compose a job's config from group overrides as `python -m runner` would, for the commands
that run several jobs of one model themselves (runner.sensitivity, runner.decide)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONF = Path(__file__).resolve().parents[2] / "conf"


def refused(overrides: list[str]) -> str | None:
    """Why these overrides are refused before anything is composed (None: they are fine)."""
    from runner.core.config import unknown_additions

    if flags := [o for o in overrides if o.startswith("-")]:
        return (
            f"{flags[0]} is not an override here: give group=option and key=value overrides "
            "only (recipes run with python -m runner --config-dir DIR --config-name NAME)"
        )
    if bad := [o for o in overrides if "=" not in o]:
        return f"{bad[0]!r} is not an override: write group=option or key=value"
    from runner.core.overrides import problem

    return unknown_additions(overrides) or problem(overrides, [CONF])


def compose(
    overrides: list[str], config_dir: Path | None = None, config_name: str = "config"
) -> tuple[Any, dict[str, str]]:
    """(typed Config, group choices) of conf/config.yaml (or of a recipe: `config_dir` and
    `config_name`, over conf/) with `overrides`; a ValueError with Hydra's one-line reason
    when an option or key does not exist."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from runner.core.config import register_configs, to_config

    register_configs()
    GlobalHydra.instance().clear()
    over = list(overrides)
    if config_dir is not None:  # as --config-dir does: the recipe's folder first, then conf/
        over.append(f"hydra.searchpath=[file://{CONF}]")
    try:
        where = Path(config_dir).resolve() if config_dir is not None else CONF  # Hydra: absolute
        with initialize_config_dir(config_dir=str(where), version_base="1.3"):
            cfg = hydra_compose(config_name, overrides=over, return_hydra_config=True)
        choices = {
            k: str(v)
            for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items()
            if not k.startswith("hydra")
        }
        OmegaConf.set_struct(cfg, False)
        del cfg["hydra"]
        return to_config(cfg), choices
    except (HydraException, OmegaConfBaseException) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{first} (see python -m runner --help for the groups and keys)") from exc
    finally:
        GlobalHydra.instance().clear()


def progress_logging() -> None:
    """The runner's own progress lines on the console, control characters replaced (a
    resumed folder's strings reach them); libraries only from warnings up (ONNX Runtime's
    quantizers log a line per tensor on the root logger)."""
    import logging

    from runner.core.safe_io import console_logging

    console_logging(logging.WARNING, "%(message)s")
    logging.getLogger("runner").setLevel(logging.INFO)
