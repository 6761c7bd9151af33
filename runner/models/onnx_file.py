"""A user's ONNX classifier or regressor (`model.path=...`), used as the FP32 baseline as is.

The file is checked (parses, passes onnx.checker, one float input whose shape fits the data,
outputs one value per class), its batch dimension made dynamic if an export fixed it, and a
normalized copy kept under `cache_dir/models`. There is no torch module, so QAT is skipped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import Config, DatasetConfig, ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import (
    LoadedModel,
    check_output_width,
    existing_file,
    file_sha256,
    first_line,
    untrainable,
)

log = logging.getLogger(__name__)
WHAT = "an .onnx file"


def read_onnx(path: Path) -> Any:
    """The parsed, checker-approved ONNX model, or ValueError naming the file."""
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf, checker and I/O errors alike
        raise ValueError(f"{path} is not a valid ONNX model ({first_line(exc)})") from None
    return model


def image_input(model: Any) -> tuple[int, int, int] | None:
    """(channels, height, width) of an image model's fixed input dims, else None."""
    from runner.core.onnx_utils import graph_inputs

    inputs = graph_inputs(model)
    dims = _dims(inputs[0])[1:] if inputs else []
    if len(dims) == 3 and all(dims) and dims[0] in (1, 3):
        return dims[0], dims[1], dims[2]
    return None


def fill_image_settings(data: DatasetConfig, shape: tuple[int, int, int] | None) -> str | None:
    """Set dataset.image_size / grayscale from the model's input where the user left them
    unset (null); a sentence saying what was chosen, or None when nothing was."""
    if shape is None:
        return None
    chose = []
    if data.grayscale is None:
        data.grayscale = shape[0] == 1
        chose.append(f"dataset.grayscale={str(data.grayscale).lower()}")
    if data.image_size is None:
        data.image_size = [shape[1], shape[2]]
        chose.append(f"dataset.image_size=[{shape[1]},{shape[2]}]")
    if not chose:
        return None
    return f"the model takes {shape[0]}x{shape[1]}x{shape[2]} images: using {' '.join(chose)}"


@register("model_check", "onnx_file")
def precheck(cfg: Config) -> None:
    """The file exists and is ONNX, before any data loads; an image model's input shape
    fills in the image folder's unset size and channels."""
    model = read_onnx(existing_file(cfg.model.path, WHAT))
    untrainable(cfg, "an ONNX file has no torch module to fine-tune")
    if cfg.dataset.name == "imagefolder":
        chose = fill_image_settings(cfg.dataset, image_input(model))
        if chose:
            log.info("data: %s (set them to override)", chose)


def _dims(value_info: Any) -> list[int | None]:
    """A tensor's dims: ints where fixed, None where symbolic or unknown."""
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def check_input(model: Any, sample_shape: tuple[int, ...], src: Path) -> None:
    """One float input whose per-sample shape fits the data, else a one-line fix."""
    from onnx import TensorProto

    from runner.core.onnx_utils import graph_inputs

    inputs = graph_inputs(model)
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise ValueError(f"{src} has {len(inputs)} inputs ({names}); the runner feeds one tensor")
    inp = inputs[0]
    if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
        kind = TensorProto.DataType.Name(inp.type.tensor_type.elem_type)
        raise ValueError(f"{src} takes {kind} input; the runner feeds float32 (FLOAT)")
    want = _dims(inp)[1:]
    fits = len(want) == len(sample_shape) and all(
        w is None or w == s for w, s in zip(want, sample_shape, strict=True)
    )
    if not fits:
        hint = ""
        if len(want) == 3 and want[0] in (1, 3):
            hint = (
                f"; for an image folder set dataset.image_size=[{want[1]},{want[2]}] and "
                f"dataset.grayscale={'true' if want[0] == 1 else 'false'}"
            )
        shown = ["?" if w is None else w for w in want]
        raise ValueError(
            f"{src} expects per-sample input {shown} but the data gives {list(sample_shape)}" + hint
        )


def make_batch_dynamic(model: Any) -> None:
    """Name the fixed batch dimension of the input and the outputs (an export with batch 1)."""
    from runner.core.onnx_utils import graph_inputs, input_batch

    fixed = input_batch(model)
    for vi in [graph_inputs(model)[0], *model.graph.output]:
        d = vi.type.tensor_type.shape.dim
        if d and d[0].HasField("dim_value") and d[0].dim_value == fixed:
            d[0].dim_param = "batch"
    del model.graph.value_info[:]  # stale intermediate shapes; ONNX Runtime infers them again


def save(model: Any, dst: Path) -> Path:
    """Write the model atomically, weights inline (also those of an external-data model)."""
    import onnx

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    onnx.save(model, str(tmp))
    os.replace(tmp, dst)
    return dst


def output_width(path: Path, x: np.ndarray, src: Path) -> int:
    """Run the model on a batch of samples: output values per sample."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    except Exception as exc:  # noqa: BLE001 - any runtime error means the file does not fit
        raise ValueError(
            f"{src} does not run on a batch of {len(x)} samples of the data ({first_line(exc)})"
        ) from None
    if out.shape[0] != len(x):
        raise ValueError(f"{src} returns {out.shape[0]} rows for {len(x)} samples")
    return int(np.asarray(out).reshape(len(x), -1).shape[1])


def baseline_copy(model: Any, x: np.ndarray, dst: Path, src: Path) -> int:
    """Save the baseline, with a dynamic batch dimension if the graph allows; output width.

    Exports with a fixed batch size often hard-code it in Reshape nodes too: such a model is
    kept as it is, and is fed its own batch size (then set target.batch to it).
    """
    import copy

    from runner.core.onnx_utils import input_batch

    fixed = input_batch(model)
    if fixed is not None:
        dynamic = copy.deepcopy(model)
        make_batch_dynamic(dynamic)
        try:
            width = output_width(save(dynamic, dst), x[:2], src)
            log.info("model: %s had a fixed batch size %d; made it dynamic", src.name, fixed)
            return width
        except ValueError:
            log.warning("model: %s runs only with batch size %d (set target.batch)", src, fixed)
    return output_width(save(model, dst), x[: fixed or 2], src)


@register("model", "onnx_file")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """Check the user's ONNX file against the data and keep a normalized copy as the baseline."""
    src = existing_file(cfg.path, WHAT)
    model = read_onnx(src)
    check_input(model, tuple(splits.x_val.shape[1:]), src)
    dst = Path(cache_dir) / "models" / f"onnx_file-{file_sha256(src)[:16]}.onnx"
    width = baseline_copy(model, np.ascontiguousarray(splits.x_val), dst, src)
    check_output_width(width, cfg.task, splits.num_classes, str(src))
    return LoadedModel(
        module=None,
        example_input=splits.x_val[:2],
        fingerprint=file_sha256(dst)[:16],
        onnx_path=str(dst),
    )
