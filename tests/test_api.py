"""The Python API (runner.run / sweep / summarize): what a notebook user gets back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import runner
from tests.conftest import FAST, ROOT, assert_valid_record
from tests.records import baseline_record, make_record, write_job


def test_run_returns_the_job_record_it_wrote(cache_dir, tmp_path):
    rec = runner.run([*FAST, f"cache_dir={cache_dir}", "precision=int8"], out=tmp_path / "job")
    on_disk = json.loads((tmp_path / "job" / "result.json").read_text())
    assert_valid_record(rec)
    assert rec["status"] == "ok" and rec["axes"]["precision"] == "int8"
    assert on_disk["run_key"] == rec["run_key"] and on_disk["metric"]["value"] == pytest.approx(
        rec["metric"]["value"]
    )
    assert rec["choices"]["precision"] == "int8" and "precision=int8" in rec["overrides"]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ("precision=int8", "list of strings"),
        (["precision=int9"], "int9"),
        (["--config-dir", "x"], "not an override"),
        (["+nosuchkey=1"], "nosuchkey"),
        (["precision=int8,int4"], "precision"),  # a sweep: runner.sweep
    ],
)
def test_run_refuses_bad_overrides_before_anything_runs(overrides, says, tmp_path):
    with pytest.raises(ValueError, match=says):
        runner.run(overrides, out=tmp_path / "job")
    assert not (tmp_path / "job").exists()


def _sweep(root):
    write_job(root, "0_fp32", baseline_record())
    write_job(root, "1_int8", make_record("int8", drop=0.002, p50=0.03))
    write_job(root, "2_int4", make_record("int4", drop=0.2, p50=0.05))
    return root


def test_summarize_gives_one_row_per_job_with_its_verdict_and_writes_the_files(tmp_path):
    df = runner.summarize(_sweep(tmp_path / "s"))
    assert len(df) == 3 and set(df.precision) == {"fp32", "int8", "int4"}
    verdicts = dict(zip(df.precision, df.verdict, strict=True))
    assert verdicts == {"fp32": "baseline", "int8": "ship", "int4": "stay FP16"}
    assert {"summary.md", "summary.csv", "recommended.yaml"} <= {
        p.name for p in (tmp_path / "s").iterdir()
    }


def test_summarize_is_still_the_function_once_its_command_module_is_imported(tmp_path):
    import runner.summarize  # sets runner.summarize to the command module

    df = runner.summarize(_sweep(tmp_path / "s"), objective="size")
    assert list(df.verdict) == ["baseline", "ship", "stay FP16"]
    with pytest.raises(ValueError, match="not a directory"):
        runner.summarize(tmp_path / "missing")


def test_importing_runner_loads_no_heavy_library():
    code = "import runner, sys; print(sorted({'torch', 'hydra', 'onnxruntime'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.slow
def test_sweep_runs_the_grid_and_returns_a_summarized_folder(cache_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    folder = runner.sweep(
        [*FAST, f"cache_dir={cache_dir}", "precision=fp32,int8", "method=ptq"],
        out=tmp_path / "sweep",
        verbose=False,
    )
    records = sorted(folder.rglob("result.json"))
    assert folder == tmp_path / "sweep" and len(records) == 2
    assert (folder / "summary.md").is_file() and (folder / "recommended.yaml").is_file()
    df = runner.summarize(folder)
    assert sorted(df.precision) == ["fp32", "int8"] and set(df.status) == {"ok"}
