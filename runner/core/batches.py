"""Model inputs as one array (a single-input model) or a dict of arrays (input_ids, masks...).

Every place that slices, counts or feeds inputs goes through these three functions, so a
multi-input model (a transformer) and a single-input one (a CNN) share the same pipeline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Inputs = np.ndarray | dict[str, np.ndarray]


def rows(x: Inputs) -> int:
    """Number of samples."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take(x: Inputs, index: Any) -> Inputs:
    """Rows `index` (a slice or an index array) of every input, contiguous."""
    if isinstance(x, dict):
        return {k: np.ascontiguousarray(v[index]) for k, v in x.items()}
    return np.ascontiguousarray(x[index])


def feed(session: Any, x: Inputs) -> dict[str, np.ndarray]:
    """The `{input name: array}` mapping an ONNX Runtime session runs on."""
    if isinstance(x, dict):
        return {i.name: x[i.name] for i in session.get_inputs()}
    return {session.get_inputs()[0].name: x}


def save(path: Any, x: Inputs) -> None:
    """Write inputs as an .npz (arrays only: loading needs no pickle)."""
    np.savez(path, **(x if isinstance(x, dict) else {"__single__": x}))


def load(path: Any) -> Inputs:
    """Read inputs written by `save`."""
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    return d.get("__single__", d)


def calibration_reader(x, input_name: str, batch: int = 16):
    """Feeds the calibration split to ONNX Runtime's calibrator in small batches."""
    from onnxruntime.quantization import CalibrationDataReader

    def chunk(i: int) -> dict:
        part = take(x, slice(i, i + batch))
        return part if isinstance(part, dict) else {input_name: part}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([chunk(i) for i in range(0, rows(x), batch)])

        def get_next(self):
            return next(self._it, None)

    return Reader()
