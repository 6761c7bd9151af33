"""Shareable recipes are data: compose one as Hydra would, and refuse it before any job runs.

A recipe is `--config-dir D --config-name N`. Hydra instantiates `_target_` classes under
`hydra:` (callbacks, launchers), hands `hydra.job_logging` to logging's dictConfig (which calls
`()` factories), and reads the machine through resolvers such as `oc.env`. So the recipe is
composed with Hydra's own loader (nothing runs), and every file the composition took from D,
and the composed result, pass the gate (runner.core.gate): no `hydra` setting, no `_target_` or
`()` key, no `@package` header, no option file of its own, and only the keys of the gate's
allowlist (group choices and documented quantization settings), with no interpolation. The
composed result is compared with the project's own composition of the same group choices:
whatever differs must be on the allowlist too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.core.gate import AXES, changed_problem, leaves, settings_problem
from runner.recipes.files import RecipeError, prescan

__all__ = ["Recipe", "RecipeError", "check", "command_line_problem", "groups"]
CONF = Path(__file__).resolve().parents[2] / "conf"
CODE_KEYS = ("_target_", "()")


@dataclass(frozen=True)
class Recipe:
    """A received recipe that passed the gate: its group choices and the settings it changes
    (dotted keys of the allowlist) against the project's own composition of those choices."""

    path: Path
    choices: dict[str, str]
    settings: dict[str, Any]


def groups() -> set[str]:
    """The project's config groups: the folders of conf/."""
    return {p.name for p in CONF.iterdir() if p.is_dir()}


def _loader(config_dir: Path | None) -> Any:
    """Hydra's config loader with the search path `python -m runner --config-dir D` builds."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    from runner.core.config import register_configs

    register_configs()
    search_path = create_config_search_path(f"file://{CONF}")
    if config_dir is not None:
        search_path.prepend(
            provider="command-line",
            path=f"file://{config_dir.resolve()}",
            anchor=SearchPathQuery(provider="schema"),
        )
    return ConfigLoaderImpl(config_search_path=search_path)


def _walk(node: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, key, value) of every entry of a nested dict/list tree."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        here = f"{path}.{k}" if path else str(k)
        out.append((here, k, v))
        if isinstance(v, (dict, list)):
            out += _walk(v, here)
    return out


def _parts(key: Any) -> list[str]:
    """A key's dotted parts: a literal key `a.b._target_` names `_target_` too."""
    return str(key).split(".")


def _code_key(tree: Any) -> str | None:
    """The dotted path of the first `_target_` or `()` key in a tree."""
    return next((p for p, k, _ in _walk(tree) if set(_parts(k)) & set(CODE_KEYS)), None)


def _file_problem(tree: dict, header: dict, package: str, config_path: str) -> str | None:
    """Why one config file from the recipe folder is refused, else None."""
    if header.get("package") is not None:
        return f"a `# @package {header['package']}` header is refused; remove it"
    if package.startswith("hydra") or config_path.startswith("hydra/"):
        return "it configures Hydra itself, which is refused; pass hydra.* on the command line"
    if any(_parts(k)[0] == "hydra" for k in tree):
        return (
            "a `hydra:` block is refused (Hydra callbacks, launchers and logging run code); "
            "remove it and pass hydra.* on the command line"
        )
    for where, key, _ in _walk(tree):
        if set(_parts(key)) & set(CODE_KEYS):
            return f"`{key}` at {where} is refused: a recipe is data and never names code"
    if config_path.split("/")[0] in groups():
        return (
            "a recipe picks options of the project's groups (conf/); it may not bring option "
            "files of its own: set the option's keys in the recipe instead"
        )
    return settings_problem(tree, package)


def _from_folder(loader: Any, name: str) -> str | None:
    """The first problem of the files the composition takes from the recipe folder."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    for d in loader.compute_defaults_list(name, [], RunMode.MULTIRUN).defaults:
        if d.config_path is None:
            continue
        found = loader.repository.load_config(d.config_path)
        if found is None or found.provider != "command-line":
            continue  # Hydra's own configs and the project's conf/ are trusted
        tree = OmegaConf.to_container(found.config, resolve=False)
        tree = {k: v for k, v in tree.items() if k != "defaults"}
        if why := _file_problem(tree, found.header, d.package or "", d.config_path):
            return f"{d.config_path}.yaml: {why}"
    return None


def _hydra_tree(cfg: Any) -> dict:
    """The composed `hydra` node without what Hydra fills in itself for any primary config."""
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(cfg.hydra, resolve=False)
    tree.pop("runtime", None)
    tree.get("job", {}).pop("config_name", None)
    return tree


def _job(cfg: Any) -> dict:
    """The composed config without its `hydra` node, interpolations kept as written."""
    from omegaconf import OmegaConf

    job = OmegaConf.to_container(cfg, resolve=False)
    job.pop("hydra", None)
    return job


def _choices(cfg: Any) -> dict[str, str]:
    """The composition's options of the axes' groups."""
    return {g: str(o) for g, o in cfg.hydra.runtime.choices.items() if g in AXES}


def _composed_problem(cfg: Any, reference: Any, same_choices: Any = None) -> str | None:
    """Why the composed recipe is refused: code keys, Hydra settings that differ from the
    project's, and values that differ from the project's composition of the same choices
    (`same_choices`) on a key the gate does not allow."""
    job = _job(cfg)
    if where := _code_key(job):
        return f"`_target_`/`()` at {where} is refused: a recipe is data and never names code"
    if _hydra_tree(cfg) != _hydra_tree(reference):
        return "it changes Hydra's settings, which is refused; pass hydra.* on the command line"
    return changed_problem(job, _job(same_choices if same_choices is not None else reference))


def check(config_dir: Path, config_name: str = "config") -> Recipe:
    """Compose the recipe without running anything: the checked Recipe, or RecipeError (one
    line naming the file, the key and the fix)."""
    from hydra.types import RunMode

    config_dir = Path(config_dir)
    name = config_name.removesuffix(".yaml")
    primary = config_dir / f"{name}.yaml"
    if ".." in Path(name).parts or Path(name).is_absolute():
        raise RecipeError(f"recipe name {config_name!r}: name a file inside --config-dir")
    if not config_dir.is_dir() or not primary.is_file():
        raise RecipeError(f"recipe {primary}: no such file; check --config-dir and --config-name")
    prescan(config_dir, primary)
    loader = _loader(config_dir)
    try:
        why = _from_folder(loader, name)
        if why is None:
            cfg = loader.load_configuration(name, [], RunMode.MULTIRUN)
            ref = _loader(None).load_configuration("config", [], RunMode.MULTIRUN)
            over = [f"{g}={o}" for g, o in _choices(cfg).items()]
            same = _loader(None).load_configuration("config", over, RunMode.MULTIRUN)
            why = _composed_problem(cfg, ref, same)
    except RecipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - Hydra's composition errors, as one line
        why = "Hydra cannot compose it: " + " ".join(str(exc).split())[:300]
    if why:
        raise RecipeError(f"recipe {primary}: {why}")
    mine, ref = dict(leaves(_job(cfg))), dict(leaves(_job(same)))
    changed = {k: v for k, v in sorted(mine.items()) if k not in ref or ref[k] != v}
    return Recipe(primary, _choices(cfg), changed)


def command_line_problem(argv: list[str]) -> str | None:
    """Why `python -m runner ARGV` is refused, read with Hydra's own argument parser.

    Hydra's parser accepts abbreviations (`--config-d`, `--config-nam=`) and short flags
    (`-cd`, `-cn`), so reading argv with the same parser checks every spelling the same way.
    """
    from hydra._internal.utils import get_args_parser

    args = get_args_parser().parse_args(argv)  # a usage error exits here, as Hydra would
    if args.experimental_rerun is not None:
        return (
            "--experimental-rerun is refused: it unpickles a saved config, and a pickle can "
            "run code; re-run a job with --config-dir DIR --config-name NAME"
        )
    if args.config_path is not None:
        return (
            "--config-path (-cp) is refused: the runner's configs live in conf/; name a recipe "
            "with --config-dir DIR --config-name NAME"
        )
    if args.config_dir is None:  # a config of the project's own conf/ folder
        name = Path(args.config_name or "config")
        bad = ".." in name.parts or name.is_absolute()
        return f"--config-name {name} is refused: name a config inside conf/" if bad else None
    name = (args.config_name or "config").removesuffix(".yaml")
    try:
        check(Path(args.config_dir), name)
    except RecipeError as exc:
        return str(exc)
    return None
