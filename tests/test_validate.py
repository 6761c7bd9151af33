"""`python -m runner.validate`: any ONNX or torch model on your data, as a comparable record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner import validate
from tests.conftest import FAST, ROOT, assert_valid_record, cli
from tests.userdata import digits_files, write_digit_pngs

QUICK = ["--warmup", "2", "--min-runs", "5", "--min-seconds", "0.02"]


def test_validate_cli_prints_a_record_for_an_onnx_model_on_pngs(cache_dir):
    f = digits_files(cache_dir)
    done = subprocess.run(
        [sys.executable, "-m", "runner.validate", "--model", str(f["onnx"]),
         "--data", str(f["pngs"]), *QUICK],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rec = json.loads(done.stdout)  # stdout is the JSON record only
    assert_valid_record(rec)
    m = rec["metric"]
    assert m["name"] == "accuracy" and m["value"] > 0.9 and rec["n_samples"] == 1797
    assert m["value_ci95"][0] < m["value"] < m["value_ci95"][1]
    assert rec["outcomes"]["mean"] == pytest.approx(m["value"])
    assert rec["latency"]["p50_ms"] > 0 and rec["axes"]["precision"] == "fp32"
    assert rec["details"]["classes"] == [str(i) for i in range(10)]  # grayscale 8x8 inferred


def test_validated_onnx_and_torchscript_compare_paired(cache_dir, tmp_path, capsys):
    from runner import compare

    f = digits_files(cache_dir)
    runs = {"a": ["--model", str(f["onnx"])],
            "b": ["--model", str(f["torchscript"]), "--grayscale", "--trust-pickle"]}  # fmt: skip
    for name, args in runs.items():
        out = [*args, "--data", str(f["pngs"]), *QUICK, "--outcomes", str(tmp_path / f"{name}.npz")]
        assert validate.main(out) == 0
        (tmp_path / f"{name}.json").write_text(capsys.readouterr().out)
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["metric"]["value"] == pytest.approx(b["metric"]["value"])  # one model, two formats
    assert compare.main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert "paired, 1797 samples" in capsys.readouterr().out


def test_validate_regression_on_a_csv(tmp_path, capsys):
    import numpy as np
    import pandas as pd
    import torch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x.sum(1) + 1}).to_csv(
        tmp_path / "t.csv", index=False
    )
    lin = torch.nn.Linear(3, 1)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.fill_(1.5)  # every prediction 0.5 too high
    torch.jit.script(lin).save(str(tmp_path / "lin.pt"))
    args = ["--model", str(tmp_path / "lin.pt"), "--data", str(tmp_path / "t.csv"),
            "--task", "regression", "--label-column", "y", "--trust-pickle", *QUICK]  # fmt: skip
    assert validate.main(args) == 0
    m = json.loads(capsys.readouterr().out)["metric"]
    assert m["name"] == "mae" and m["value"] == pytest.approx(0.5, abs=1e-5)
    assert m["extra"]["rmse"] == pytest.approx(0.5, abs=1e-5) and m["extra"]["r2"] < 1


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("empty", "has no class folders"),
        ("mismatch", "outputs 10 values per sample but the data has 2 classes"),
        ("nomodel", "missing.onnx does not exist; point --model at an .onnx file"),
        ("text", "is not a valid ONNX model"),
        ("truncated", "is not a valid ONNX model"),
    ],
)
def test_validate_fails_with_one_line_and_exit_2(cache_dir, tmp_path, capsys, case, text):
    model = str(digits_files(cache_dir)["onnx"])
    data = tmp_path / "data"
    if case == "empty":
        data.mkdir()
    else:
        write_digit_pngs(data, classes=[0, 1], limit=3)
    if case == "nomodel":
        model = str(tmp_path / "missing.onnx")
    elif case in ("text", "truncated"):
        good = Path(model).read_bytes()
        model = str(tmp_path / "bad.onnx")
        Path(model).write_bytes(b"not a model\n" if case == "text" else good[: len(good) // 2])
    assert validate.main(["--model", model, "--data", str(data), *QUICK]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and text in err[-1]
    assert len(err) == 1 and "Traceback" not in err[0]


def test_validate_and_a_sweep_job_score_and_time_a_model_with_the_same_code(cache_dir, tmp_path):
    """runner.validate is the pipeline's validate mode: on the same model and data (every
    sample validation data in both), it gives python -m runner's metric on the same samples in
    the same order, and records with the same metric and latency fields."""
    import numpy as np

    f = digits_files(cache_dir)
    job_dir = tmp_path / "job"
    done = cli(
        "model=onnx_file", f"model.path={f['onnx']}", "dataset=imagefolder",
        f"dataset.path={f['pngs']}", "dataset.train_fraction=0", "dataset.calib_fraction=0",
        "precision=fp32", *FAST, f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={job_dir}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = json.loads((job_dir / "result.json").read_text())
    args = ["--model", str(f["onnx"]), "--data", str(f["pngs"]), *QUICK]
    done = cli(*args, "--outcomes", str(tmp_path / "v.npz"), cwd=tmp_path, module="runner.validate")
    assert done.returncode == 0, done.stderr
    rec = json.loads(done.stdout)
    for r in (job, rec):
        assert_valid_record(r)
    assert rec["metric"]["value"] == job["metric"]["baseline"] == job["metric"]["value"]
    assert rec["metric"]["n_samples"] == job["metric"]["n_samples"] == 1797
    with np.load(job_dir / job["outcomes_file"]) as a, np.load(tmp_path / "v.npz") as b:
        assert np.array_equal(a["baseline"], b["baseline"])  # the same samples, in order
    assert set(rec["metric"]) - {"value_ci95"} == set(job["metric"])
    assert set(rec["latency"]) == set(job["baseline_latency"])
    assert rec["latency"]["p50_ms"] > 0 and rec["latency"]["batch"] == 1
