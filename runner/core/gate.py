"""The one gate: what a received file may say, and how it is read.

Whatever a user receives from someone else (a recipe folder, a sweep folder and its records,
a folder to resume, a model folder) is hostile. A received config may set only what the
ALLOWED table below lists: the group choices (model, dataset, precision, method, target) and
the documented quantization settings of each group. Everything else (launcher options,
folders, names that become paths, trust decisions, tracking, thresholds) is refused in one
line naming the key, and so is every interpolation. A new key of the typed config is refused
until it is added to the table. Received files are read bounded (size, YAML aliases), never
through a symlink, and a model folder's custom code is refused unless the receiver opts in.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from runner.core.safe_io import one_line

# The groups a received recipe picks options of (its defaults list): the axes of a sweep.
AXES = ("model", "dataset", "precision", "method", "target")
# What a received config may set, by group ("" = top level). One table: the recipe check, the
# recipe writer (recommended.yaml, `recipes export`) and docs/recipes-and-trust.md read it.
ALLOWED: dict[str, tuple[str, ...]] = {
    "model": (
        "task", "channels", "train_epochs", "train_lr", "train_batch", "seed", "arch",
        "prefer_backends", "max_length", "window", "stride", "eval_tokens", "calib_tokens",
        "latency_tokens", "prompt_tokens", "new_tokens", "keep_float", "int8_layers",
    ),
    "dataset": (
        "train_fraction", "calib_fraction", "seed", "image_size", "grayscale", "invert",
        "scale", "mean", "std", "label_column", "feature_columns", "min_words", "max_samples",
        "unit", "selection_rows",
    ),
    "precision": (
        "int4_block_size", "int4_algorithm", "gptq_tokens", "accuracy_level", "symmetric",
    ),
    "method": ("backend", "calibration_samples", "per_channel", "qat_epochs", "qat_lr", "compile"),
    "target": (
        "threads", "batch", "quant.activation_type", "quant.weight_type", "quant.per_channel",
        "quant.reduce_range", "quant.symmetric_activations", "quant.symmetric_weights",
        "quant.format", "quant.int4_symmetric", "quant.accuracy_level", "max_latency_ms",
        "max_memory_mb", "max_size_mb",
    ),
    "latency": ("warmup", "min_runs", "min_seconds", "session_runs", "memory_probe"),
    "": ("seed", "expected"),
}  # fmt: skip
FREE_FORM = ("expected",)  # data that `recipes verify` reads, never a setting the runner uses
# Why a key is refused and the fix, by prefix (the first match words the one-line error).
_OWN = "pass {key}=... on your own command line if you want it"
_REASONS = (
    (("model.trust_pickle", "model.trust_remote_code"),
     "trusting a pickle, TorchScript file or custom code is the receiver's decision",
     "pass {key}=true on your own command line to trust it"),
    (("target.ray", "target.slurm", "hydra"),
     "launcher and Hydra options come only from your own command line or conf/",
     "set hydra.launcher.* (and target resources) on your own command line"),
    (("cache_dir", "latency.lock_dir", "model.path", "dataset.path"),
     "it chooses where the runner reads or writes", _OWN),
    (tuple(f"{g}.name" for g in (*AXES, "tracking")),
     "a name comes from the option the recipe picks (names become folder names)",
     "pick the option in the recipe's defaults list"),
    (("tracking",), "where results are sent is the receiver's decision", _OWN),
    (("summary",), "the decision rule (thresholds, objective) is the receiver's", _OWN),
)  # fmt: skip
MAX_JSON = 16 * 1024 * 1024  # a result.json, a model's config.json, a resume memo
MAX_YAML = 256 * 1024
MAX_NODES = 20_000  # YAML nodes after alias expansion


class Refused(ValueError):
    """Received input that is refused; the message names the file, the key and the fix."""


def allowed_keys() -> list[str]:
    """Every dotted key of the table, in table order."""
    return [f"{g}.{k}" if g else k for g, keys in ALLOWED.items() for k in keys]


def settable(key: str) -> bool:
    """Whether a received config may set the dotted key (a free-form block's inner keys too)."""
    if key in FREE_FORM or key.split(".")[0] in FREE_FORM:
        return True
    return key in allowed_keys()


def refusal(key: str) -> str:
    """The one-line reason a key is refused, with the fix."""
    why = "a received recipe may set only the group choices and the settings listed in "
    why, fix = why + "docs/recipes-and-trust.md", _OWN
    for prefixes, reason, advice in _REASONS:
        if any(key == p or key.startswith(p + ".") for p in prefixes) or (
            "trust" in key and prefixes[0].startswith("model.trust")
        ):
            why, fix = reason, advice
            break
    shown = one_line(key, 80)
    return f"{shown} is refused: {why}; {fix.format(key=shown)}"


def leaves(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf of a mapping; a literal key `a.b` counts as a.b, a
    list or an empty mapping is one leaf."""
    if not isinstance(tree, dict) or not tree:
        return [(prefix, tree)] if prefix else []
    out: list[tuple[str, Any]] = []
    for k, v in tree.items():
        out += leaves(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def _strings(value: Any) -> list[str]:
    """Every string inside a value (lists and mappings walked)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def value_problem(key: str, value: Any) -> str | None:
    """Why a received value is refused: an interpolation (it copies another setting, or reads
    the machine: environment, files, clock) is never resolved from a received file."""
    for s in _strings(value):
        if "${" in s:
            return (
                f"the interpolation {one_line(s, 60)!r} at {one_line(key, 80)} is refused: a "
                "received config is never resolved on your machine; write the value itself"
            )
    return None


def settings_problem(tree: dict, package: str = "") -> str | None:
    """Why the settings a received file gives (its tree, at its package) are refused."""
    for key, value in leaves(tree, package):
        if not settable(key):
            return refusal(key)
        if why := value_problem(key, value):
            return why
    return None


def changed_problem(composed: dict, reference: dict) -> str | None:
    """Why a composed received config is refused: a value that differs from the project's
    own composition of the same group choices is not settable, or is an interpolation."""
    mine, ref = dict(leaves(composed)), dict(leaves(reference))
    for key in [*mine, *(k for k in ref if k not in mine)]:
        if key in mine and key in ref and mine[key] == ref[key]:
            continue
        if not settable(key):
            return refusal(key)
        if why := value_problem(key, mine.get(key)):
            return why
    return None


def allowlist_markdown() -> str:
    """The table as Markdown, as docs/recipes-and-trust.md shows it."""
    rows = ["| group | keys a received recipe may set |", "|---|---|"]
    rows.append("| defaults list | `" + "`, `".join(f"{g}: OPTION" for g in AXES) + "` |")
    for group, keys in ALLOWED.items():
        rows.append(f"| {group or '(top level)'} | " + ", ".join(f"`{k}`" for k in keys) + " |")
    return "\n".join(rows)


def regular(path: Path, max_bytes: int, *, follow: bool = False) -> int:
    """The size of a regular file of at most max_bytes; Refused for a symlink (unless
    `follow`), a FIFO, a device or a larger file."""
    st = Path(path).stat() if follow else Path(path).lstat()
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"{path}: not a regular file (a symlink, FIFO or device); copy the file in")
    if st.st_size > max_bytes:
        raise Refused(f"{path}: {st.st_size} bytes, over {max_bytes}; trim it")
    return st.st_size


def read_json(path: Path, max_bytes: int = MAX_JSON, *, follow: bool = False) -> Any:
    """A received JSON file's data (bounded, no symlink unless `follow`); Refused otherwise."""
    regular(path, max_bytes, follow=follow)
    try:
        return json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise Refused(f"{path}: not readable JSON ({one_line(exc, 120)})") from None


def expanded_nodes(text: str) -> int:
    """How many YAML nodes the text expands to when every alias is copied out (no objects)."""
    import yaml

    sizes: dict[str, int] = {}
    open_: list[list[Any]] = [["", 0]]  # [anchor, nodes so far] per open collection
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, yaml.AliasEvent):
            open_[-1][1] += sizes.get(ev.anchor or "", 1)
        elif isinstance(ev, yaml.ScalarEvent):
            open_[-1][1] += 1
            if ev.anchor:
                sizes[ev.anchor] = 1
        elif isinstance(ev, yaml.CollectionStartEvent):
            open_.append([ev.anchor, 1])
        elif isinstance(ev, yaml.CollectionEndEvent):
            anchor, n = open_.pop()
            open_[-1][1] += n
            if anchor:
                sizes[anchor] = n
        if open_[0][1] > MAX_NODES:
            break
    return open_[0][1]


def read_yaml(path: Path, max_bytes: int = MAX_YAML) -> Any:
    """A received YAML file's data: a regular file (no symlink, FIFO or device), at most
    max_bytes, aliases expanding to at most MAX_NODES nodes (a 1-KB "billion laughs" file
    otherwise expands to 2^40); Refused otherwise."""
    import yaml

    regular(path, max_bytes)
    try:
        text = Path(path).read_text()
        if expanded_nodes(text) > MAX_NODES:
            raise Refused(
                f"{path}: its aliases expand past {MAX_NODES} YAML nodes (a 'billion laughs' "
                "file); write the values out"
            )
        return yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise Refused(f"{path}: cannot be read as YAML ({one_line(exc, 200)})") from None


def hf_folder(folder: Path, trust_remote_code: bool = False) -> Path:
    """A Hugging Face model folder, refused when its configs name custom code (`auto_map`,
    `custom_pipelines`: transformers would import Python files shipped with the weights)
    unless the receiver passed model.trust_remote_code=true on their own command line."""
    folder = Path(folder)
    for f in sorted(folder.glob("*config.json")):
        try:  # a hub snapshot's files are links into its blobs: followed
            data = read_json(f, follow=True)
        except Refused:
            continue  # unreadable for transformers too: its own error names the file
        data = data if isinstance(data, dict) else {}
        code = data.get("auto_map") or data.get("custom_pipelines")
        if code and not trust_remote_code:
            first = next(
                iter(_strings(list(code.values()) if isinstance(code, dict) else code)), "?"
            )
            raise Refused(
                f"model.path={one_line(folder, 120)}: {f.name} names custom code "
                f"({one_line(first, 60)}) that transformers would run; refused unless you pass "
                "model.trust_remote_code=true on your own command line"
            )
    return folder
