"""The real command line: a Hydra multirun writes one valid result.json per job."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST, ROOT, assert_valid_record, cli
from tests.userdata import digits_files, upscaled_onnx, write_digit_pngs


def _sweep(sweep_dir, cache_dir, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "runner",
        "-m",
        *args,
        *FAST,
        f"cache_dir={cache_dir}",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_multirun_writes_a_record_per_job_and_reuses_the_baseline(tmp_path):
    first = _sweep(tmp_path / "s1", tmp_path / "cache", "precision=fp32,int8", "method=ptq,qat")
    assert first.returncode == 0, first.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "s1").rglob("result.json"))]
    assert len(records) == 4
    for rec in records:
        assert_valid_record(rec)
    status = {(r["axes"]["precision"], r["axes"]["method"]): r["status"] for r in records}
    assert status == {
        ("fp32", "ptq"): "ok",
        ("fp32", "qat"): "skipped",
        ("int8", "ptq"): "ok",
        ("int8", "qat"): "ok",
    }
    assert {tuple(r["overrides"][:2]) for r in records} >= {("precision=int8", "method=qat")}
    log = first.stdout + first.stderr
    assert log.count("baseline: cache miss") == 1  # the first job builds it, the rest reuse it
    assert "int8 x ptq on cpu_x86 [ort_static_qdq]: ok accuracy" in log

    for name in ("summary.md", "summary.csv", "pareto.png", "recommended.yaml"):
        assert (tmp_path / "s1" / name).stat().st_size > 0
    assert "Recommendation" in first.stdout

    # The recommendation re-runs as a config and reproduces its job.
    best = _recommended(tmp_path / "s1", records)
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "--config-dir",
            str(tmp_path / "s1"),
            "--config-name",
            "recommended",
            f"cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={tmp_path / 'r'}",
            *FAST,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    again = json.loads((tmp_path / "r" / "result.json").read_text())
    assert again["axes"] == best["axes"]
    assert again["metric"]["value"] == pytest.approx(best["metric"]["value"], abs=0.01)


@pytest.mark.slow
def test_a_sweep_with_a_failed_job_still_ends_with_a_summary_and_exits_1(cache_dir, tmp_path):
    done = _sweep(tmp_path / "s", cache_dir, "precision=int8", "fault=null,raise")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "1 of 2 jobs failed:" in done.stderr and "fault injected" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr  # it went to the job's job.log
    logs = [p.read_text() for p in (tmp_path / "s").glob("*/job.log")]
    assert sum("Traceback" in text and "fault injected" in text for text in logs) == 1
    status = sorted(
        json.loads(p.read_text())["status"] for p in (tmp_path / "s").rglob("result.json")
    )
    assert status == ["failed", "ok"]
    summary = (tmp_path / "s" / "summary.md").read_text()
    assert "failed" in summary and "fault injected" in summary


def _recommended(sweep_dir, records):
    """The record that recommended.yaml names, found by its run_key comment."""
    text = (sweep_dir / "recommended.yaml").read_text()
    (rec,) = [r for r in records if r["run_key"] in text]
    return rec


@pytest.mark.slow
def test_a_segfaulting_job_fails_alone_and_the_sweep_ends_with_a_summary(tmp_path):
    done = _sweep(
        tmp_path / "s",
        tmp_path / "cache",
        "precision=fp32,int8",
        "target.batch=1,2",
        "fault=segfault@3",
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "1 of 4 jobs failed:" in done.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("*/result.json")]
    assert sorted(r["status"] for r in records) == ["failed"] + ["ok"] * 3
    (failed,) = [r for r in records if r["status"] == "failed"]
    assert "SIGSEGV" in failed["reason"]
    summary = (tmp_path / "s" / "summary.md").read_text()
    assert "SIGSEGV" in summary


def _one_line_failure(done: subprocess.CompletedProcess, words: str) -> None:
    """The run was refused before any job: one line on stderr with the words, exit 2, no
    traceback, nothing else printed."""
    assert done.returncode == 2, (done.stdout + done.stderr)[-3000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and words in line and done.stdout == ""


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing", "does not exist; point model.path at an .onnx file"),
        ("text", "is not a valid ONNX model"),
        ("truncated", "is not a valid ONNX model"),
        ("empty-folder", "has no class folders: expected"),
        ("csv-missing", "dataset.path="),
    ],
)
def test_bad_input_fails_in_one_line_without_a_traceback(cache_dir, tmp_path, case, words):
    model, data = tmp_path / "m.onnx", tmp_path / "images"
    data.mkdir()
    args = ["model=onnx_file", f"model.path={model}", "dataset=imagefolder", f"dataset.path={data}"]
    if case == "text":
        model.write_text("not a model\n")
    elif case in ("truncated", "empty-folder"):
        good = digits_files(cache_dir)["onnx"].read_bytes()
        model.write_bytes(good[: len(good) // 2] if case == "truncated" else good)
    elif case == "csv-missing":
        model.write_bytes(digits_files(cache_dir)["onnx"].read_bytes())
        args[2:] = ["dataset=csv", f"dataset.path={tmp_path / 'nope.csv'}"]
    _one_line_failure(cli(*args, *FAST, f"cache_dir={cache_dir}", cwd=tmp_path), words)


@pytest.mark.slow
def test_a_sweep_whose_every_job_fails_exits_1_and_recommends_nothing(cache_dir, tmp_path):
    sweep = tmp_path / "s"
    done = cli("-m", "precision=fp32,int8", "fault=raise", *FAST, f"cache_dir={cache_dir}",
               f"hydra.sweep.dir={sweep}", cwd=tmp_path)  # fmt: skip
    console = done.stdout + done.stderr
    assert done.returncode == 1 and "2 of 2 jobs failed:" in done.stderr
    assert "Traceback" not in console  # it is in each job's job.log
    assert console.count("fault injected by the test hook") >= 2
    assert not (sweep / "recommended.yaml").exists()
    assert "no recommendation: the FP32 baseline job failed" in (sweep / "summary.md").read_text()


@pytest.mark.slow
def test_your_own_onnx_model_and_image_folder_work_on_the_first_try(cache_dir, tmp_path):
    """A 1x32x32 grayscale ONNX classifier with external weights and 450 PNGs: only the paths,
    precisions and method are given; channels and size come from the model; QAT cannot train
    an ONNX file, so there is no QAT share and 405 images are validation; the 45-image
    calibration split is used whole, with a warning; the summary names each model file."""
    model = upscaled_onnx(cache_dir, tmp_path / "user" / "model.onnx")
    assert (tmp_path / "user" / "model.onnx.data").stat().st_size > 1e6
    data = write_digit_pngs(tmp_path / "pngs", limit=45, upscale=4)
    sweep = tmp_path / "s"
    user = ["model=onnx_file", f"model.path={model}", "dataset=imagefolder", f"dataset.path={data}"]
    plumbing = [*FAST, f"cache_dir={cache_dir}", f"hydra.sweep.dir={sweep}"]
    done = cli("-m", *user, "precision=fp32,int8", "method=ptq", *plumbing, cwd=tmp_path)
    console = done.stdout + done.stderr
    assert done.returncode == 0, console[-3000:]
    assert "the model takes 1x32x32 images: using dataset.grayscale=true" in console
    records = {r["axes"]["precision"]: r for r in map(json.loads, map(Path.read_text,
               sweep.glob("*/result.json")))}  # fmt: skip
    assert {p: r["status"] for p, r in records.items()} == {"fp32": "ok", "int8": "ok"}
    int8 = records["int8"]
    assert int8["metric"]["n_samples"] == 405 and int8["metric"]["baseline"] > 0.9
    assert int8["splits"] == {"train": 0, "calibration": 45, "validation": 405, "selection_rows": 0}
    assert abs(int8["metric"]["delta_abs"]) <= 0.03
    assert "all 45 samples" in int8["details"]["warnings"][0]
    summary = (sweep / "summary.md").read_text()
    assert "verdicts rest on 405 validation samples" in summary
    assert "there is no QAT training split" in summary
    job8 = next(sweep.glob("*_int8_*"))
    assert f"Model file: {job8.name}/{int8['artifact']}" in summary
    assert (job8 / int8["artifact"]).is_file() and int8["artifact"] == "model.onnx"
    fp32 = Path(records["fp32"]["artifact"])  # the cached baseline: no copy in the job folder
    assert fp32.is_absolute() and fp32.is_file() and str(cache_dir) in str(fp32)
    assert not list(next(sweep.glob("*_fp32_*")).glob("*.onnx"))
    # The recommendation re-runs with its own Re-run line: the paths travel on the command
    # line, not in the recipe (which names no file it does not ship).
    recipe = (sweep / "recommended.yaml").read_text()
    body = "\n".join(x for x in recipe.splitlines() if not x.startswith("#"))
    assert str(model) not in body and str(data) not in body
    rerun = shlex.split(recipe.split("# Re-run: ")[1].splitlines()[0])
    assert f"model.path={model}" in rerun and f"dataset.path={data}" in rerun
    again = cli(*rerun[3:], f"cache_dir={cache_dir}", f"hydra.run.dir={tmp_path / 'r'}", *FAST,
                cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, (again.stdout + again.stderr)[-2000:]
    assert json.loads((tmp_path / "r" / "result.json").read_text())["status"] == "ok"


def test_qat_of_an_onnx_file_in_a_single_run_exits_2_with_the_reason(cache_dir, tmp_path):
    model = digits_files(cache_dir)["onnx"]
    args = ["model=onnx_file", f"model.path={model}", "precision=int8", "method=qat"]
    done = cli(*args, *FAST, f"cache_dir={cache_dir}", f"hydra.run.dir={tmp_path / 'r'}",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, (done.stdout + done.stderr)[-2000:]
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: QAT needs a trainable torch model")
    assert json.loads((tmp_path / "r" / "result.json").read_text())["status"] == "skipped"


def test_a_sweep_over_a_missing_model_launches_no_job(tmp_path):
    missing = tmp_path / "nope.onnx"
    done = cli("-m", "model=onnx_file", f"model.path={missing}", "precision=fp32,int8",
               f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line == f"error: model.path={missing} does not exist; point model.path at an .onnx file"
    assert not (tmp_path / "s").exists()


def test_a_single_run_prints_where_its_record_and_model_are(cache_dir, tmp_path):
    done = cli("precision=int8", *FAST, f"cache_dir={cache_dir}", f"hydra.run.dir={tmp_path}",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-2:] == [
        f"result: {tmp_path / 'result.json'}",
        f"model:  {tmp_path / 'model.onnx'}",
    ]
