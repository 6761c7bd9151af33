"""A user's ONNX object detector (`model.path=FILE.onnx`, `model.task=detection`).

The file must give the raw head output, before NMS: YOLOv5-style `[batch, N, 5 + C]` or
YOLOv8-style `[batch, 4 + C, N]` (runner/tasks/detection.py decodes both and runs NMS), with
C the number of categories of the data. Checked like onnx_file (parses, one float image
input that fits the data); a copy with a dynamic batch dimension is the FP32 baseline. With
dataset=coco, an unset dataset.image_size / grayscale is read off the model's input.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from runner.core.config import Config, ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel, existing_file, file_sha256
from runner.models.onnx_file import (
    baseline_copy,
    check_input,
    fill_image_settings,
    image_input,
    read_onnx,
)

log = logging.getLogger(__name__)
WHAT = "an .onnx detector (raw head output, before NMS)"


@register("model_check", "onnx_detector")
def precheck(cfg: Config) -> None:
    """The file exists and is ONNX; its input size fills the data's unset image settings."""
    model = read_onnx(existing_file(cfg.model.path, WHAT))
    if cfg.dataset.name in ("coco", "imagefolder"):
        chose = fill_image_settings(cfg.dataset, image_input(model))
        if chose:
            log.info("data: %s (set them to override)", chose)


def check_layout(path: Path, x: np.ndarray, classes: int, src: Path) -> str:
    """The output layout ('yolov5' | 'yolov8') for the data's classes, or a one-line fix."""
    import onnxruntime as ort

    from runner.tasks.detection import layout_of

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = tuple(sess.run(None, {sess.get_inputs()[0].name: x})[0].shape)
    layout, found = layout_of(shape) if len(shape) == 3 else (None, None)
    if found != classes:
        raise ValueError(
            f"{src} outputs {list(shape)}, but the data has {classes} categories: a detector "
            f"must give [batch, N, {5 + classes}] (YOLOv5) or [batch, {4 + classes}, N] (YOLOv8)"
        )
    return layout


@register("model", "onnx_detector")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """Check the detector against the data and keep a normalized copy as the baseline."""
    if cfg.task != "detection":
        raise ValueError(f"model=onnx_detector needs model.task=detection; got {cfg.task}")
    src = existing_file(cfg.path, WHAT)
    model = read_onnx(src)
    check_input(model, tuple(splits.x_val.shape[1:]), src)
    dst = Path(cache_dir) / "models" / f"onnx_detector-{file_sha256(src)[:16]}.onnx"
    x = np.ascontiguousarray(splits.x_val[:2])
    baseline_copy(model, x, dst, src)
    layout = check_layout(dst, x[:1], splits.num_classes, src)
    log.info("model: %s, %s layout, %d classes", src.name, layout, splits.num_classes)
    return LoadedModel(
        module=None, example_input=x, fingerprint=file_sha256(dst)[:16], onnx_path=str(dst)
    )
