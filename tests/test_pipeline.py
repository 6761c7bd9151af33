"""The pipeline end to end on the embedded digits model, one job per precision x method."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_valid_record

COMBOS = [(p, m) for p in ("fp32", "fp16", "int8", "int4") for m in ("ptq", "qat")]
# What each combination must end as on an x86 host without a GPU.
EXPECTED = {
    ("fp32", "ptq"): "ok",
    ("fp16", "ptq"): "ok",
    ("int8", "ptq"): "ok",
    ("int8", "qat"): "ok",
    ("int4", "ptq"): "ok",
    ("fp32", "qat"): "skipped",
    ("fp16", "qat"): "skipped",
    ("int4", "qat"): "skipped",
}


@pytest.mark.parametrize(("precision", "method"), COMBOS)
def test_each_precision_and_method_runs_end_to_end(run_job, tmp_path, precision, method):
    rec = run_job(f"precision={precision}", f"method={method}", job_dir=tmp_path / "job")
    assert_valid_record(rec)
    on_disk = json.loads((tmp_path / "job" / "result.json").read_text())
    assert on_disk["run_key"] == rec["run_key"]
    assert rec["status"] == EXPECTED[(precision, method)], rec["reason"]
    if rec["status"] == "skipped":
        assert len(rec["reason"]) > 20
        return
    m = rec["metric"]
    assert m["baseline"] > 0.9  # the trained CNN is a real classifier
    assert m["n_samples"] == 540
    assert (tmp_path / "job" / rec["artifact"]).exists()
    saved = np.load(tmp_path / "job" / rec["outcomes_file"])
    assert saved["candidate"].mean() == pytest.approx(m["value"])
    assert saved["baseline"].mean() == pytest.approx(m["baseline"])
    assert rec["latency"]["p50_ms"] > 0 and rec["speedup"] > 0


def test_int8_ptq_stores_int8_weights_and_keeps_accuracy(run_job):
    rec = run_job("precision=int8", "method=ptq")
    assert rec["quantized_fraction"] == pytest.approx(1.0)
    assert abs(rec["metric"]["delta_abs"]) <= 0.01
    assert rec["compression"] > 3.0  # int8 weights: about 4x smaller than fp32
    assert rec["details"]["calibration_samples"] == 128


def test_int4_reports_that_the_convolutions_stayed_fp32(run_job):
    rec = run_job("precision=int4", "method=ptq")
    assert 0.1 < rec["quantized_fraction"] < 0.9  # only the Linear layers have INT4 kernels
    assert rec["details"]["gemm_rewritten"] == 2


def test_qat_really_trains_and_records_its_schedule(run_job):
    rec = run_job("precision=int8", "method=qat", "method.qat_epochs=2")
    assert rec["qat"]["epochs"] == 2
    assert len(rec["qat"]["loss"]) == 2 and all(np.isfinite(rec["qat"]["loss"]))
    assert rec["quantized_fraction"] == pytest.approx(1.0)


def test_a_backend_failure_is_recorded_and_the_next_job_still_runs(run_job, tmp_path):
    bad = run_job("precision=int8", "fault=raise", job_dir=tmp_path / "bad")
    assert bad["status"] == "failed"
    assert "fault injected" in bad["reason"]
    assert_valid_record(json.loads((tmp_path / "bad" / "result.json").read_text()))
    good = run_job("precision=int8", job_dir=tmp_path / "good")
    assert good["status"] == "ok"


@pytest.mark.parametrize("target", ["cpu_arm", "cuda"])
def test_a_target_the_host_lacks_is_skipped_with_the_reason(run_job, target):
    import platform

    import onnxruntime as ort

    if target == "cpu_arm" and platform.machine().lower() in ("aarch64", "arm64"):
        pytest.skip("this host is an Arm64 CPU")
    if target == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this host has CUDA")
    rec = run_job("precision=int8", f"target={target}")
    assert rec["status"] == "skipped"
    assert target in rec["reason"]
    assert_valid_record(rec)


def test_memory_probe_measures_a_fresh_process(run_job):
    rec = run_job("precision=int8", "latency.memory_probe=true")
    assert 10e6 < rec["peak_rss_bytes"] < 1e9
