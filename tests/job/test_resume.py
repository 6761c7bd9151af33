"""Resume: finished jobs are not run again; force re-runs them; a killed sweep completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FAST, ROOT, assert_valid_record


def test_an_ok_job_is_not_run_again_unless_forced(run_job, tmp_path, caplog):
    first = run_job("precision=int8", job_dir=tmp_path / "j")
    stamp = (tmp_path / "j" / "result.json").stat().st_mtime_ns
    with caplog.at_level("INFO", logger="runner.job.pipeline"):
        again = run_job("precision=int8", job_dir=tmp_path / "j")
    assert "resume: j already ok" in caplog.text
    assert again == first
    assert (tmp_path / "j" / "result.json").stat().st_mtime_ns == stamp
    forced = run_job("precision=int8", "force=true", job_dir=tmp_path / "j")
    assert (tmp_path / "j" / "result.json").stat().st_mtime_ns > stamp
    assert forced["run_key"] == first["run_key"]


def test_a_changed_config_or_a_failed_job_runs_again(run_job, tmp_path):
    failed = run_job("precision=int8", "fault=raise", job_dir=tmp_path / "j")
    assert failed["status"] == "failed"
    ok = run_job("precision=int8", job_dir=tmp_path / "j")  # fault is not part of the run key
    assert ok["status"] == "ok" and ok["run_key"] == failed["run_key"]
    other = run_job("precision=int8", "method.calibration_samples=64", job_dir=tmp_path / "j")
    assert other["run_key"] != ok["run_key"]
    assert other["details"]["calibration_samples"] == 64


def test_a_garbage_result_file_is_rerun_not_trusted(run_job, tmp_path, caplog):
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "result.json").write_text('{"status": "ok", "run_k')
    with caplog.at_level("INFO", logger="runner.job.pipeline"):
        rec = run_job("precision=int8", job_dir=tmp_path / "j")
    assert "not a readable result.json" in caplog.text and "re-running the job" in caplog.text
    assert "already ok" not in caplog.text
    assert rec["status"] == "ok" and rec["metric"]["baseline"] > 0.9  # it really ran
    assert rec["timings"]["quantize_s"] is not None
    on_disk = json.loads((tmp_path / "j" / "result.json").read_text())  # replaced, whole
    assert on_disk == json.loads(json.dumps(rec))
    assert_valid_record(on_disk)
    assert (tmp_path / "j" / rec["artifact"]).exists()


@pytest.mark.slow
def test_a_sweep_killed_mid_job_resumes_with_only_the_missing_jobs(cache_dir, tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        sys.executable,
        "-m",
        "runner",
        "-m",
        "precision=fp32,int8,int4",
        *FAST,
        f"cache_dir={cache_dir}",  # the session's, warm: the resume is what is tested
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.Popen(
        [*args, "fault=hang@1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while not list(sweep.glob("1_*/job.log")) and time.time() < deadline:
        time.sleep(0.5)  # job 0 has finished, job 1 is running (and hangs)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.parent.name[0] for p in sweep.glob("*/result.json"))
    assert done == ["0"]
    stamp = next(sweep.glob("0_*/result.json")).stat().st_mtime_ns

    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("resume: 0_") == 1
    assert next(sweep.glob("0_*/result.json")).stat().st_mtime_ns == stamp
    records = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/result.json"))]
    assert [r["status"] for r in records] == ["ok", "ok", "ok"]
    assert (sweep / "summary.md").exists()
