"""The real command line: a Hydra multirun writes one valid result.json per job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import FAST, ROOT, assert_valid_record


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
def test_a_sweep_with_a_failed_job_still_ends_with_a_summary(tmp_path):
    done = _sweep(tmp_path / "s", tmp_path / "cache", "precision=int8", "fault=null,raise")
    assert done.returncode == 0, done.stderr[-3000:]
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
        "precision=fp32,fp16,int8,int4",
        "target.batch=1,2",
        "fault=segfault@5",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "s").glob("*/result.json")]
    assert sorted(r["status"] for r in records) == ["failed"] + ["ok"] * 7
    (failed,) = [r for r in records if r["status"] == "failed"]
    assert "SIGSEGV" in failed["reason"]
    summary = (tmp_path / "s" / "summary.md").read_text()
    assert "SIGSEGV" in summary
