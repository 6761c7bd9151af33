"""Your own images (`dataset.path=DIR` with one sub-folder per class), as model inputs.

Class order is the sorted folder names: class i is the model's output i. Each image becomes
a float32 [C, H, W] array: converted to L (grayscale) or RGB, resized to `dataset.image_size`
if set, optionally inverted (255 - pixel), divided by `dataset.scale`, then normalized per
channel with `dataset.mean` / `dataset.std`. For digits_cnn (trained on digits' 0..16 range
divided by 16, white ink on black) PNGs with 0..255 pixels need `scale=255 grayscale=true
image_size=[8,8]`, plus `invert=true` for dark ink on white paper.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import numpy as np

from runner.core.config import Config, DatasetConfig
from runner.core.registry import register
from runner.datasets import Splits, empty_split, split_indices

log = logging.getLogger(__name__)
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# Pixels one image may have before it is decoded: enough for large photos (and 16x the
# configured image_size), far below a decompression bomb (a 21-KB PNG of 176 M pixels).
MIN_PIXEL_CAP = 40_000_000


def _is_image(p: Path) -> bool:
    """An image file by name that is a regular file (a FIFO or device would hang the reader)."""
    if p.suffix.lower() not in IMAGE_EXTS:
        return False
    try:
        mode = p.stat().st_mode  # a symlink to a regular file of the user's is fine
    except OSError:
        return False  # a dangling symlink or a loop
    if not stat.S_ISREG(mode):
        raise ValueError(f"{p} is not a regular file (a FIFO, device or folder); remove it")
    return True


def class_files(root: str | None) -> tuple[list[str], list[list[Path]]]:
    """Sorted class names and each class's sorted image files; one-line errors otherwise."""
    if not root:
        raise ValueError("dataset.path is not set; point it at a folder with one folder per class")
    path = Path(root).expanduser()
    if path.is_file():
        raise ValueError(
            f"dataset.path={root} is a file, not a folder: an image folder holds one sub-folder "
            "of images per class (for a table use dataset=csv or dataset=jsonl)"
        )
    if not path.is_dir():
        raise ValueError(
            f"dataset.path={root} does not exist or is not a folder; point it at a folder "
            "holding one sub-folder of images per class"
        )
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{path} has no class folders: expected {path}/<class>/*.png")
    files = []
    for name in classes:
        found = sorted(p for p in (path / name).iterdir() if _is_image(p))
        if not found:
            exts = ", ".join(sorted(IMAGE_EXTS))
            raise ValueError(f"class folder {path / name} holds no images ({exts})")
        files.append(found)
    return classes, files


class _TooLarge(ValueError):
    """An image whose header announces more pixels than the cap."""


def to_array(file: Path, cfg: DatasetConfig) -> np.ndarray:
    """One image as float32 [C, H, W] under the dataset's conversion settings."""
    from PIL import Image

    h, w = cfg.image_size or (0, 0)
    cap = max(MIN_PIXEL_CAP, 16 * h * w)
    try:
        with Image.open(file) as im:  # reads the header only: the size is known before decoding
            if im.size[0] * im.size[1] > cap:
                raise _TooLarge(f"{im.size[0]}x{im.size[1]} pixels, over the cap of {cap:,}")
            im = im.convert("L" if cfg.grayscale else "RGB")
            if cfg.image_size:
                h, w = cfg.image_size
                if im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.BILINEAR)
            pixels = np.asarray(im, dtype=np.float32)
    except _TooLarge as exc:
        raise ValueError(f"image {file} is {exc} (a decompression bomb?); shrink it") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds for a broken file
        why = " ".join(str(exc).split())[:200]
        raise ValueError(f"cannot read image {file} ({type(exc).__name__}: {why})") from None
    if cfg.invert:
        pixels = 255.0 - pixels
    x = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    mean = np.asarray(cfg.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(cfg.std, np.float32).reshape(-1, 1, 1)
    return (x / cfg.scale - mean) / std


def read(cfg: DatasetConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every image of the folder as (x [N, C, H, W], y class indices, class names)."""
    if cfg.image_size is not None and (len(cfg.image_size) != 2 or min(cfg.image_size) < 1):
        raise ValueError(f"dataset.image_size={cfg.image_size} must be [height, width]")
    channels = 1 if cfg.grayscale else 3
    for key in ("mean", "std"):
        if len(getattr(cfg, key)) not in (1, channels):
            raise ValueError(f"dataset.{key} needs 1 or {channels} values (one per channel)")
    if cfg.scale == 0 or 0 in cfg.std:
        raise ValueError("dataset.scale and dataset.std must not be 0")
    classes, files = class_files(cfg.path)
    xs, ys, first = [], [], None
    for label, group in enumerate(files):
        for file in group:
            x = to_array(file, cfg)
            if first is None:
                first = (file, x.shape)
            elif x.shape != first[1]:
                raise ValueError(
                    f"{file} is {list(x.shape[1:])} but {first[0]} is {list(first[1][1:])}; "
                    "set dataset.image_size=[height,width] to resize them all"
                )
            xs.append(x)
            ys.append(label)
    log.info("dataset: %d images in %d classes from %s", len(xs), len(classes), cfg.path)
    return np.stack(xs).astype(np.float32), np.asarray(ys, np.int64), classes


@register("dataset_check", "imagefolder")
def precheck(cfg: Config) -> None:
    """The folder exists with class folders of images, checked before any image is decoded."""
    class_files(cfg.dataset.path)


@register("dataset", "imagefolder")
def load(cfg: DatasetConfig) -> Splits:
    """The folder's images cut into train / calibration / validation like the bundled data."""
    x, y, classes = read(cfg)
    tr, ca, va = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    if empty_split(cfg, tr, ca, va):
        raise ValueError(
            f"{cfg.path} holds {len(x)} images: too few for non-empty train / calibration / "
            "validation splits; add images or change dataset.train_fraction / calib_fraction"
        )
    return Splits(x[tr], y[tr], x[ca], x[va], y[va], num_classes=len(classes))
