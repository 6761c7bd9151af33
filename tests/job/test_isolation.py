"""Crash isolation: a segfault, a hang or an exception in a job's child process fails that job."""

from __future__ import annotations

import pytest

from runner.job import isolation
from tests.conftest import assert_valid_record


def _double(x: int) -> int:
    return 2 * x


def _boom() -> None:
    raise KeyError("missing piece")


def test_call_returns_the_childs_value_and_reraises_its_exception(tmp_path):
    assert isolation.call(_double, (21,), tmp_path, timeout_s=60) == 42
    with pytest.raises(KeyError, match="missing piece"):
        isolation.call(_boom, (), tmp_path, timeout_s=60)


def test_a_segfault_in_the_job_becomes_a_failed_record(run_job):
    rec = run_job("precision=int8", "isolation=process", "fault=segfault")
    assert rec["status"] == "failed"
    assert "SIGSEGV" in rec["reason"]
    assert_valid_record(rec)


def test_a_hanging_job_is_killed_at_its_timeout(run_job):
    rec = run_job("precision=int8", "isolation=process", "fault=hang", "timeout_s=8")
    assert rec["status"] == "failed"
    assert "timeout" in rec["reason"] and "timeout_s=8" in rec["reason"]


def test_the_fault_hook_hits_only_the_named_job(cache_dir, tmp_path):
    from runner.job import pipeline
    from tests.conftest import FAST, choices_of, typed

    ov = ["precision=int8", "isolation=process", "fault=segfault@3"]
    cfg = typed(*FAST, f"cache_dir={cache_dir}", *ov)
    recs = {
        n: pipeline.run(cfg, tmp_path / str(n), ov, choices_of(ov), multirun=True, job_num=n)
        for n in (2, 3)
    }
    assert recs[2]["status"] == "ok", recs[2]["reason"]  # job 2 is not the named one
    assert recs[3]["status"] == "failed" and "SIGSEGV" in recs[3]["reason"]  # the hook fired


def test_an_isolated_job_reports_the_same_result_as_an_inline_one(run_job, tmp_path):
    inline = run_job("precision=int8", job_dir=tmp_path / "a")
    child = run_job("precision=int8", "isolation=process", job_dir=tmp_path / "b")
    assert child["status"] == "ok"
    assert child["metric"]["value"] == inline["metric"]["value"]
    assert child["quantized_fraction"] == inline["quantized_fraction"]
