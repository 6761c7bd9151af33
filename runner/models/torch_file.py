"""A user's torch model (`model.path=...`): TorchScript, or a state_dict plus `model.arch`.

Weights load with `torch.load(weights_only=True)`. A full pickle (a whole nn.Module, or any
object) is refused unless `model.trust_pickle=true`: unpickling can run arbitrary code. So is a
TorchScript file: TorchScript is code, and its `forward` may do anything torch can (write
files with `torch.from_file(..., shared=True)`), even during the output-width check.
A TorchScript file is exported with the TorchScript exporter (torch.export cannot trace it),
so it gets every PTQ backend but no QAT; a state_dict in a registered architecture gets both.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from runner.core import registry
from runner.core.config import Config, ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import (
    LoadedModel,
    check_output_width,
    existing_file,
    file_sha256,
    first_line,
    torch_output_width,
    untrainable,
)

log = logging.getLogger(__name__)
WHAT = "a TorchScript file, or a state_dict (.pt/.pth/.safetensors) with model.arch=NAME"


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip holding `code/` (a torch.save zip holds only data)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in n or n.endswith("/constants.pkl") for n in z.namelist())


def read_weights(path: Path, trust_pickle: bool) -> Any:
    """The object in a checkpoint: plain tensors only, unless the user trusts the pickle."""
    import pickle

    import torch

    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ValueError(
                f"{path} is a safetensors file but the safetensors package is not installed; "
                "pip install safetensors, or save the state_dict with torch.save"
            ) from None
        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
            what = f" (it references {found.group(1)})" if found else ""
            raise ValueError(
                f"{path} is a full pickle, not plain weights{what}: unpickling it could run "
                "arbitrary code, so it is refused; save model.state_dict() instead, or set "
                "model.trust_pickle=true if you trust where the file came from"
            ) from None
    except Exception as exc:  # noqa: BLE001 - zip, EOF, key errors of a file that is no checkpoint
        why = f"{type(exc).__name__}: {first_line(exc)}"
        raise ValueError(f"{path} is not a torch checkpoint ({why})") from None
    log.warning("model: unpickling %s (model.trust_pickle=true runs any code it holds)", path)
    return torch.load(path, map_location="cpu", weights_only=False)


def into_arch(weights: Any, cfg: ModelConfig, splits: Splits, path: Path) -> Any:
    """A state_dict loaded into the registered architecture `model.arch`."""
    import torch

    if isinstance(weights, dict) and isinstance(weights.get("state_dict"), dict):
        weights = weights["state_dict"]  # Lightning-style checkpoint
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise ValueError(f"{path} holds a {type(weights).__name__}, not a state_dict of tensors")
    archs = ", ".join(registry.names("arch"))
    if not cfg.arch:
        raise ValueError(
            f"{path} holds weights only (a state_dict); set model.arch to the architecture "
            f"they belong to: one of {archs}"
        )
    if cfg.arch not in registry.names("arch"):
        raise ValueError(f"model.arch={cfg.arch} is unknown; use one of {archs}")
    module = registry.get("arch", cfg.arch)(cfg, splits)
    try:
        module.load_state_dict(weights)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(
            f"{path} does not fit model.arch={cfg.arch}, built with {splits.num_classes} "
            f"output(s) for the data ({detail})"
        ) from None
    return module


def export_torchscript(module: Any, example: Any, path: Path) -> Path:
    """ONNX export of a TorchScript module with a dynamic batch dimension."""
    import warnings

    import torch

    from runner.core.onnx_utils import INPUT_NAME

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    axes = {INPUT_NAME: {0: "batch"}, "output": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=["output"],
            dynamic_axes=axes,
            dynamo=False,
        )
    os.replace(tmp, path)
    return path


@register("model_check", "torch_file")
def precheck(cfg: Config) -> None:
    """The file exists and looks like a torch checkpoint, before any data loads."""
    src = existing_file(cfg.model.path, WHAT)
    with open(src, "rb") as f:
        head = f.read(2)
    if src.suffix != ".safetensors" and not zipfile.is_zipfile(src) and head[:1] != b"\x80":
        raise ValueError(f"{src} is not a torch checkpoint (neither a torch.save zip nor a pickle)")
    if is_torchscript(src):
        untrainable(cfg, "QAT cannot trace a TorchScript file")


@register("model", "torch_file")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """Load the user's torch model without running untrusted pickles, and check its outputs."""
    import torch

    src = existing_file(cfg.path, WHAT)
    sha = file_sha256(src)[:16]
    example = torch.as_tensor(splits.x_val[:2])
    onnx_path = None
    if is_torchscript(src):
        if not cfg.trust_pickle:
            raise ValueError(
                f"{src} is a TorchScript file: TorchScript is code and running it could do "
                "anything, so it is refused; save model.state_dict() and set model.arch, export "
                "ONNX, or set model.trust_pickle=true if you trust where the file came from"
            )
        log.warning("model: running TorchScript %s (model.trust_pickle=true)", src)
        module = torch.jit.load(str(src), map_location="cpu").eval()
    else:
        obj = read_weights(src, cfg.trust_pickle)
        module = obj if isinstance(obj, torch.nn.Module) else into_arch(obj, cfg, splits, src)
        module.eval()
    try:
        width = torch_output_width(module, example)
    except Exception as exc:  # noqa: BLE001 - shape or dtype errors of a model that does not fit
        raise ValueError(f"{src} does not run on the data ({first_line(exc)})") from None
    check_output_width(width, cfg.task, splits.num_classes, str(src))
    if isinstance(module, torch.jit.ScriptModule):
        out = Path(cache_dir) / "models" / f"torch_file-{sha}.onnx"
        onnx_path = str(export_torchscript(module, example, out))
    return LoadedModel(module=module, example_input=example, fingerprint=sha, onnx_path=onnx_path)
