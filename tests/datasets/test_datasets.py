"""Data sources: image folders, csv/jsonl tables and diabetes, with one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runner.core.config import DatasetConfig
from runner.datasets import imagefolder, tabular
from tests.conftest import assert_valid_record
from tests.userdata import write_digit_pngs


def _folder(path, **kw) -> DatasetConfig:
    return DatasetConfig(name="imagefolder", path=str(path), **kw)


def test_pngs_of_digits_become_the_digits_input_range(tmp_path):
    from sklearn.datasets import load_digits

    root = write_digit_pngs(tmp_path / "pngs", classes=[3, 7], limit=5)
    x, y, classes = imagefolder.read(_folder(root, grayscale=True))
    assert classes == ["3", "7"] and x.shape == (10, 1, 8, 8)
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 5)  # class i = i-th sorted folder
    d = load_digits()
    first3 = d.images[d.target == 3][0] / 16.0
    np.testing.assert_allclose(x[0, 0], first3, atol=0.5 / 255)  # scale=255: PNG/255 = digits/16
    inv, _, _ = imagefolder.read(_folder(root, grayscale=True, invert=True))
    np.testing.assert_allclose(inv, 1.0 - x, atol=1e-6)
    big, _, _ = imagefolder.read(_folder(root, image_size=[16, 12], mean=[0.5], std=[0.25]))
    assert big.shape == (10, 3, 16, 12)


def _empty_class(root):
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    write_digit_pngs(root / "tmp", classes=[0], limit=1)
    (root / "tmp" / "0").rename(root / "a" / "0")  # a holds a folder, not images


def _broken_image(root):
    write_digit_pngs(root, classes=[0, 1], limit=3)
    (root / "1" / "9999.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")


def _mixed_sizes(root):
    from PIL import Image

    write_digit_pngs(root, classes=[0, 1], limit=3)
    Image.new("L", (10, 10)).save(root / "1" / "big.png")


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (None, "does not exist or is not a folder"),
        (lambda r: r.mkdir(), "has no class folders: expected"),
        (_empty_class, "holds no images"),
        (_broken_image, r"cannot read image .*9999\.png"),
        (_mixed_sizes, r"big\.png is \[10, 10\] .* set dataset.image_size"),
    ],
    ids=["missing", "no-classes", "empty-class", "unreadable", "mixed-sizes"],
)
def test_a_bad_image_folder_fails_in_one_line(tmp_path, make, text):
    root = tmp_path / "data"
    if make:
        make(root)
    with pytest.raises(ValueError, match=text) as exc:
        imagefolder.load(_folder(root, grayscale=True))
    assert "\n" not in str(exc.value)


def _table(tmp_path, fmt: str, rows: list[dict]) -> str:
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        import pandas as pd

        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_csv_without_the_label_column_lists_the_columns(tmp_path):
    path = _table(tmp_path, "csv", [{"a": 1.0, "b": 2.0, "target": 0}] * 10)
    with pytest.raises(ValueError, match="label_column=label is not a column") as exc:
        tabular.load_csv(DatasetConfig(name="csv", path=path))
    assert "columns present: a, b, target" in str(exc.value)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_tables_give_features_and_labels_for_either_task(tmp_path, fmt):
    rng = np.random.default_rng(0)
    rows = [{"f1": float(v), "f2": 1.0, "kind": ["cat", "dog"][i % 2], "y": float(v) * 2}
            for i, v in enumerate(rng.normal(size=20))]  # fmt: skip
    path = _table(tmp_path, fmt, rows)
    load = tabular.load_csv if fmt == "csv" else tabular.load_jsonl
    cls = load(DatasetConfig(name=fmt, path=path, label_column="kind", feature_columns=["f1"]))
    assert cls.num_classes == 2 and cls.x_val.shape[1] == 1 and cls.y_val.dtype == np.int64
    reg = load(DatasetConfig(name=fmt, path=path, label_column="y", task="regression",
                             feature_columns=["f1", "f2"]))  # fmt: skip
    assert reg.num_classes == 1 and reg.y_val.dtype == np.float32
    np.testing.assert_allclose(reg.y_val, reg.x_val[:, 0] * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="kind of .* not numeric"):
        load(DatasetConfig(name=fmt, path=path, label_column="y"))


def test_integer_labels_are_the_class_indices(tmp_path):
    path = _table(tmp_path, "csv", [{"x": float(i), "label": [0, 3][i % 2]} for i in range(20)])
    splits = tabular.load_csv(DatasetConfig(name="csv", path=path))
    assert splits.num_classes == 4  # class 3 stays output 3 even though 1 and 2 are absent


def test_diabetes_sweep_reports_mae_rmse_and_r2(run_job, tmp_path):
    rec = run_job(
        "model=diabetes_mlp",
        "dataset=diabetes",
        "model.train_epochs=100",
        "precision=int8",
        job_dir=tmp_path / "int8",
    )
    assert rec["status"] == "ok", rec["reason"]
    assert_valid_record(rec)
    m = rec["metric"]
    assert (m["name"], m["higher_is_better"], m["n_samples"]) == ("mae", False, 134)
    assert 30 < m["baseline"] < 60  # a real regressor: the target spans about 25..346
    for side in ("value", "baseline"):
        assert m["extra"]["rmse"][side] >= m[side]  # RMSE >= MAE always
        r2 = m["extra"]["r2"][side]
        assert r2 is not None, "R² needs the pipeline to pass splits.y_val to evaluate.compare"
        assert 0.2 < r2 < 0.7
    qat = run_job("model=diabetes_mlp", "dataset=diabetes", "model.train_epochs=100",
                  "precision=int8", "method=qat", job_dir=tmp_path / "qat")  # fmt: skip
    assert qat["status"] == "ok", qat["reason"]
    assert all(np.isfinite(qat["qat"]["loss"])) and qat["metric"]["name"] == "mae"
