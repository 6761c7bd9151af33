"""Files a user would bring, made from the bundled data: PNG folders, ONNX and torch models.

Built once per test session (keyed by the session's cache folder) and shared by the tests of
the model sources, the data sources, runner.validate and the pipeline.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tests.conftest import FAST, typed


def write_digit_pngs(
    root: Path, classes: range | list[int] = range(10), limit: int = 0, upscale: int = 1
) -> Path:
    """scikit-learn's digits as 8-bit PNGs, root/<digit>/<index>.png, pixel = value * 255 / 16
    (each pixel repeated `upscale` times in both directions)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    counts: dict[int, int] = {}
    for i, (img, label) in enumerate(zip(data.images, data.target, strict=True)):
        if label not in classes or (limit and counts.get(label, 0) >= limit):
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.round(img * 255.0 / 16.0).astype(np.uint8)
        pixels = pixels.repeat(upscale, axis=0).repeat(upscale, axis=1)
        Image.fromarray(pixels, mode="L").save(folder / f"{i:04d}.png")
    return root


@functools.cache
def digits_model(cache_dir: Path):
    """The embedded digits CNN (FAST schedule), trained once in the session's cache."""
    from runner.core import registry

    cfg = typed(*FAST, f"cache_dir={cache_dir}")
    splits = registry.get("dataset", "digits")(cfg.dataset)
    return registry.get("model", "digits_cnn")(cfg.model, splits, cache_dir)


@functools.cache
def digits_files(cache_dir: Path) -> dict[str, Path]:
    """The digits model as ONNX, TorchScript and state_dict files, and a PNG folder of digits."""
    import torch

    from runner.core.onnx_utils import export_onnx

    root = Path(cache_dir) / "userdata"
    model = digits_model(cache_dir)
    files = {
        "onnx": export_onnx(model.module, model.example_input, root / "digits.onnx"),
        "torchscript": root / "digits_ts.pt",
        "state_dict": root / "digits_sd.pt",
        "pngs": write_digit_pngs(root / "pngs"),
    }
    torch.jit.script(model.module).save(str(files["torchscript"]))
    torch.save(model.module.state_dict(), files["state_dict"])
    return files


def upscaled_onnx(cache_dir: Path, path: Path, factor: int = 4) -> Path:
    """A user's ONNX classifier of [1, 8*factor, 8*factor] images, its weights in an external
    .data file: average pooling by `factor`, then the digits CNN (same predictions on PNGs
    written with `upscale=factor`)."""
    import onnx
    import torch

    from runner.core.onnx_utils import export_onnx

    model = digits_model(cache_dir)
    big = torch.nn.Sequential(torch.nn.AvgPool2d(factor), model.module).eval()
    example = torch.nn.functional.interpolate(model.example_input, scale_factor=factor)
    export_onnx(big, example, path)
    proto = onnx.load(str(path))
    onnx.save(proto, str(path), save_as_external_data=True, location=path.name + ".data",
              size_threshold=0)  # fmt: skip
    return path


class TouchOnLoad:
    """Unpickling this creates a marker file: what a hostile pickle or checkpoint would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))
