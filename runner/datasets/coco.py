"""Your own detection set in COCO form: `dataset.path=DIR` (the images) and
`dataset.annotations=FILE.json` (COCO's `images`, `annotations` with `bbox` [x, y, w, h] in
pixels, `categories`).

Each image is letterboxed to `dataset.image_size` (scaled to fit, aspect kept, centred on grey
114 as YOLO models expect; an ONNX detector's own input size is used when unset), converted
to RGB (or L with `grayscale=true`), divided by `dataset.scale` and normalized with
`dataset.mean` / `dataset.std`. The boxes follow the same scale and offset, so they are in the
model's input pixels: IoU, and so mAP, is unchanged by that mapping. Category i is the i-th
category by sorted id (COCO's 80 classes: the usual 0..79 of YOLO models). Images without
annotations stay: their detections are false positives. Nothing is trained on detection data,
so the split is calibration (`dataset.calib_fraction`) and validation (the rest); at most
`dataset.max_samples` images are read, in the file's order.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import Config, DatasetConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.datasets.imagefolder import MIN_PIXEL_CAP

log = logging.getLogger(__name__)
MAX_JSON_BYTES = 512 * 2**20  # COCO's train2017 annotations are 448 MB
PAD = 114.0  # YOLO's letterbox grey


def _files(cfg: DatasetConfig) -> tuple[Path, Path]:
    """The image folder and the annotations file, or a one-line error naming the fix."""
    if not cfg.path or not Path(cfg.path).expanduser().is_dir():
        raise ValueError(
            f"dataset.path={cfg.path} is not a folder; point dataset.path at the image folder"
        )
    if not cfg.annotations or not Path(cfg.annotations).expanduser().is_file():
        raise ValueError(
            f"dataset.annotations={cfg.annotations} is not a file; point it at the COCO JSON"
        )
    return Path(cfg.path).expanduser().resolve(), Path(cfg.annotations).expanduser()


def read_annotations(path: Path) -> dict[str, Any]:
    """The COCO JSON with the three lists the runner reads, checked for their shape."""
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path} is over {MAX_JSON_BYTES >> 20} MB; keep the split you evaluate")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not JSON ({str(exc)[:120]})") from None
    ok = isinstance(data, dict) and all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    )
    if not ok:
        raise ValueError(f"{path} lacks COCO's 'images', 'annotations' and 'categories' lists")
    return data


@register("dataset_check", "coco")
def precheck(cfg: Config) -> None:
    """Both paths exist and the JSON has COCO's shape, before any image is decoded."""
    read_annotations(_files(cfg.dataset)[1])


def letterbox(file: Path, cfg: DatasetConfig) -> tuple[np.ndarray, float, float, float]:
    """One image as float32 [C, H, W] letterboxed to image_size; (array, scale, dx, dy)."""
    from PIL import Image

    h, w = cfg.image_size
    try:
        with Image.open(file) as im:
            if im.size[0] * im.size[1] > max(MIN_PIXEL_CAP, 16 * h * w):
                raise ValueError(f"{im.size[0]}x{im.size[1]} pixels (a decompression bomb?)")
            im = im.convert("L" if cfg.grayscale else "RGB")
            r = min(w / im.size[0], h / im.size[1])
            size = (max(1, round(im.size[0] * r)), max(1, round(im.size[1] * r)))
            pixels = np.asarray(im.resize(size, Image.Resampling.BILINEAR), np.float32)
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds for a broken file
        why = " ".join(str(exc).split())[:200]
        raise ValueError(f"cannot read image {file} ({type(exc).__name__}: {why})") from None
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    canvas = np.full((h, w, pixels.shape[2]), PAD, np.float32)
    dx, dy = (w - size[0]) // 2, (h - size[1]) // 2
    canvas[dy : dy + size[1], dx : dx + size[0]] = pixels
    mean = np.asarray(cfg.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(cfg.std, np.float32).reshape(-1, 1, 1)
    return (canvas.transpose(2, 0, 1) / cfg.scale - mean) / std, r, dx, dy


def _image_file(root: Path, name: Any) -> Path:
    """An image's file inside the folder; a name that leaves it (../, absolute) is refused."""
    file = (root / str(name)).resolve()
    if root not in file.parents or not file.is_file():
        raise ValueError(f"image {str(name)[:80]!r} of the annotations is not a file in {root}")
    return file


def _boxes(anns: list[dict], classes: dict[int, int], r: float, dx: float, dy: float):
    """Ground-truth rows (class, x, y, w, h, iscrowd) of one image, in input pixels."""
    rows = []
    for a in anns:
        x, y, w, h = (float(v) for v in a["bbox"])
        rows.append([classes[a["category_id"]], x * r + dx, y * r + dy, w * r, h * r,
                     float(bool(a.get("iscrowd", 0)))])  # fmt: skip
    return np.asarray(rows, np.float64).reshape(-1, 6)


def read(cfg: DatasetConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Every listed image as (x [N, C, H, W], ground truth per image, number of classes)."""
    if not cfg.image_size or len(cfg.image_size) != 2 or min(cfg.image_size) < 1:
        raise ValueError(
            f"dataset.image_size={cfg.image_size} must be [height, width]; set it to the "
            "detector's input size (an ONNX detector names it itself)"
        )
    root, path = _files(cfg)
    data = read_annotations(path)
    try:
        classes = {
            c["id"]: i for i, c in enumerate(sorted(data["categories"], key=lambda c: c["id"]))
        }
        images = data["images"][: cfg.max_samples] if cfg.max_samples else data["images"]
        by_image: dict[Any, list] = {im["id"]: [] for im in images}
        for a in data["annotations"]:
            if a["image_id"] in by_image:
                by_image[a["image_id"]].append(a)
        xs, ys = [], np.empty(len(images), dtype=object)
        for i, im in enumerate(images):
            x, r, dx, dy = letterbox(_image_file(root, im["file_name"]), cfg)
            xs.append(x)
            ys[i] = _boxes(by_image[im["id"]], classes, r, dx, dy)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is missing a COCO field ({exc!r}) in an entry") from None
    if not xs:
        raise ValueError(f"{path} lists no images")
    log.info("dataset: %d images, %d classes from %s", len(xs), len(classes), path)
    return np.stack(xs).astype(np.float32), ys, len(classes)


@register("dataset", "coco")
def load(cfg: DatasetConfig) -> Splits:
    """Calibration and validation images (no training split: detection trains nothing)."""
    x, y, classes = read(cfg)
    order = np.random.default_rng(cfg.seed).permutation(len(x))
    n_calib = int(len(x) * cfg.calib_fraction)
    ca, va = order[:n_calib], order[n_calib:]
    if min(len(ca), len(va)) == 0:
        raise ValueError(
            f"{len(x)} images are too few for non-empty calibration and validation splits; "
            "add images or change dataset.calib_fraction"
        )
    empty = x[:0]
    return Splits(empty, y[:0], x[ca], x[va], y[va], num_classes=classes)
