"""Your own tabular data (`dataset=csv` or `dataset=jsonl`, `dataset.path=FILE`).

One label column plus numeric feature columns; a CSV file has a header row, a JSON Lines file
one object per line whose keys are the columns.

`dataset.label_column` names the label, `dataset.feature_columns` the features (null: every
other column, in file order). For classification (`model.task`, copied into `dataset.task`)
integer labels are the class indices themselves; any other labels map to their sorted order.
For regression the label is the float target. With `model.task=text_classification` the
feature is one text column (`dataset.text_column`, default `text`), and text labels keep their
names (Splits.classes) so that a classifier that names its classes maps them by name.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import Config, DatasetConfig
from runner.core.registry import register
from runner.datasets import Splits, empty_split, split_indices

log = logging.getLogger(__name__)
MAX_COLUMNS = 100_000  # a wider file is refused before it is parsed
HEADER_BYTES = 4 * 1024 * 1024  # the first line (header) read to count them: 40 bytes a column
NAMES_SHOWN = 20  # column names listed in an error message


def names(columns: list[str]) -> str:
    """Column names for an error message: at most NAMES_SHOWN, each cut to 40 characters."""
    shown = ", ".join(c[:40] for c in columns[:NAMES_SHOWN])
    more = len(columns) - NAMES_SHOWN
    return shown + (f", … ({more} more)" if more > 0 else "")


def _width(path: Path, fmt: str) -> int:
    """Columns announced by the first record, read before any parse and bounded in bytes: a
    CSV header's fields (quotes respected), a JSON object's keys. A first line longer than
    HEADER_BYTES is refused: its columns could not be counted without reading it all."""
    import csv
    import io
    import json

    with open(path, "rb") as f:
        first = f.read(HEADER_BYTES + 1)
    if fmt == "csv":
        chunk = first[:HEADER_BYTES].decode("utf-8", errors="replace")
        text = io.StringIO(chunk, newline="")
        try:
            header = next(csv.reader(text), [])
        except csv.Error as exc:  # e.g. a field past csv's size limit
            raise ValueError(f"{path}: its header cannot be read as CSV ({exc})") from None
        if len(first) > HEADER_BYTES and text.tell() >= len(chunk):  # not one whole record
            raise ValueError(
                f"{path}: its header is over {HEADER_BYTES} bytes; keep the columns you use"
            )
        return len(header)
    line, newline, _ = first.partition(b"\n")
    if not newline and len(first) > HEADER_BYTES:
        raise ValueError(
            f"{path}: its first line is over {HEADER_BYTES} bytes; keep the columns you use"
        )
    try:
        row = json.loads(line)
    except ValueError:
        return 0  # not JSON: pandas says why
    return len(row) if isinstance(row, dict) else 0


def existing_table(cfg: DatasetConfig, fmt: str) -> Path:
    """`dataset.path` as an existing file, or a one-line error saying what to point it at."""
    if not cfg.path:
        raise ValueError(f"dataset.path is not set; point it at a .{fmt} file")
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise ValueError(f"dataset.path={cfg.path} does not exist; point it at a .{fmt} file")
    return path


@register("dataset_check", "csv")
def precheck_csv(cfg: Config) -> None:
    """The CSV file exists, checked before anything loads."""
    existing_table(cfg.dataset, "csv")


@register("dataset_check", "jsonl")
def precheck_jsonl(cfg: Config) -> None:
    """The JSON Lines file exists, checked before anything loads."""
    existing_table(cfg.dataset, "jsonl")


def read_table(cfg: DatasetConfig, fmt: str) -> Any:
    """The file as a pandas DataFrame (fmt: csv or jsonl); one-line errors naming the file."""
    import pandas as pd

    path = existing_table(cfg, fmt)
    if (width := _width(path, fmt)) > MAX_COLUMNS:
        raise ValueError(f"{path} has {width} columns, over {MAX_COLUMNS}; keep the ones you use")
    try:
        df = pd.read_csv(path) if fmt == "csv" else pd.read_json(path, lines=True)
    except Exception as exc:  # noqa: BLE001 - pandas parser errors of many kinds
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ValueError(f"cannot read {path} as {fmt} ({first})") from None
    if df.shape[1] > MAX_COLUMNS:
        raise ValueError(f"{path} has {df.shape[1]} columns, over {MAX_COLUMNS}")
    if df.empty:
        raise ValueError(f"{path} holds no rows")
    return df


def labels(values: np.ndarray, task: str) -> tuple[np.ndarray, int]:
    """(y, num_classes): class indices for classification, float32 targets for regression."""
    if task == "regression":
        return values.astype(np.float32), 1
    if task not in ("classification", "text_classification"):
        raise ValueError(
            f"model.task={task} is unknown for a table; use classification, regression or "
            "text_classification"
        )
    if np.issubdtype(values.dtype, np.integer) and values.min() >= 0:
        return values.astype(np.int64), int(values.max()) + 1
    classes, y = np.unique(values.astype(str), return_inverse=True)
    return y.astype(np.int64), len(classes)


def texts(df: Any, cfg: DatasetConfig, source: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(texts as an object array, y, class names) for text classification."""
    columns = [str(c) for c in df.columns]
    for key, col in (("text_column", cfg.text_column), ("label_column", cfg.label_column)):
        if col not in columns:
            raise ValueError(
                f"dataset.{key}={col[:40]} is not a column of {source}; columns present: "
                f"{names(columns)}"
            )
    if df[cfg.text_column].isna().any() or df[cfg.label_column].isna().any():
        raise ValueError(f"{source} has empty text or labels; fill or drop those rows first")
    raw = df[cfg.label_column].to_numpy()
    y, n = labels(raw, "classification")
    named = not np.issubdtype(raw.dtype, np.integer)
    classes = sorted({str(v) for v in raw}) if named else [str(i) for i in range(n)]
    return df[cfg.text_column].astype(str).to_numpy(dtype=object), y, classes


def to_arrays(df: Any, cfg: DatasetConfig, source: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(x float32 [N, F], y, num_classes) from the configured columns."""
    columns = [str(c) for c in df.columns]
    if cfg.label_column not in columns:
        raise ValueError(
            f"dataset.label_column={cfg.label_column[:40]} is not a column of {source}; "
            f"columns present: {names(columns)}"
        )
    features = cfg.feature_columns or [c for c in columns if c != cfg.label_column]
    missing = [c for c in features if c not in columns]
    if missing:
        raise ValueError(
            f"dataset.feature_columns names {names(missing)}, not in {source}; "
            f"columns present: {names(columns)}"
        )
    table = df[features]
    from pandas.api.types import is_numeric_dtype

    text = [c for c in features if not is_numeric_dtype(table[c])]
    if text:
        raise ValueError(f"feature columns {names(text)} of {source} are not numeric")
    if table.isna().any().any() or df[cfg.label_column].isna().any():
        raise ValueError(f"{source} has empty cells; fill or drop those rows first")
    y, num_classes = labels(df[cfg.label_column].to_numpy(), cfg.task)
    return table.to_numpy(np.float32), y, num_classes


def read(cfg: DatasetConfig, fmt: str = "csv") -> tuple[np.ndarray, np.ndarray, Any]:
    """Every row of the file as (x, y, num_classes), or (texts, y, class names)."""
    df = read_table(cfg, fmt)
    if cfg.task == "text_classification":
        x, y, classes = texts(df, cfg, cfg.path)
        log.info("dataset: %d texts in %d classes from %s", len(x), len(classes), cfg.path)
        return x, y, classes
    x, y, num_classes = to_arrays(df, cfg, cfg.path)
    log.info("dataset: %d rows x %d features from %s", len(x), x.shape[1], cfg.path)
    return x, y, num_classes


def split(cfg: DatasetConfig, x: np.ndarray, y: np.ndarray, classes: Any) -> Splits:
    """Rows cut into train / calibration / validation like the bundled data; `classes`: the
    number of classes, or their names (text classification)."""
    tr, ca, va = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    if empty_split(cfg, tr, ca, va):
        raise ValueError(f"{cfg.path} holds {len(x)} rows: too few for three non-empty splits")
    names = list(classes) if isinstance(classes, list) else None
    n = len(names) if names is not None else classes
    return Splits(x[tr], y[tr], x[ca], x[va], y[va], num_classes=n, classes=names)


@register("dataset", "csv")
def load_csv(cfg: DatasetConfig) -> Splits:
    """A CSV file with a header row."""
    return split(cfg, *read(cfg, "csv"))


@register("dataset", "jsonl")
def load_jsonl(cfg: DatasetConfig) -> Splits:
    """A JSON Lines file: one JSON object per line."""
    return split(cfg, *read(cfg, "jsonl"))
