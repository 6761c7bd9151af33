"""The FP32 baseline is exported, evaluated and timed once, then reused; corruption is caught."""

from __future__ import annotations

import logging

import numpy as np

from runner import cache


def test_second_job_reuses_the_cached_baseline(run_job, tmp_path, caplog):
    run_job("precision=int8", "cache_dir=" + str(tmp_path / "c"), job_dir=tmp_path / "a")
    with caplog.at_level(logging.INFO, logger="runner.pipeline"):
        rec = run_job("precision=fp16", "cache_dir=" + str(tmp_path / "c"), job_dir=tmp_path / "b")
    assert "baseline: cache hit" in caplog.text
    assert "cache miss" not in caplog.text
    assert rec["status"] == "ok"


def test_a_different_target_setting_is_a_different_baseline(run_job, tmp_path, caplog):
    run_job("cache_dir=" + str(tmp_path / "c"), job_dir=tmp_path / "a")
    with caplog.at_level(logging.INFO, logger="runner.pipeline"):
        run_job("cache_dir=" + str(tmp_path / "c"), "target.batch=4", job_dir=tmp_path / "b")
    assert "baseline: cache miss" in caplog.text


def test_a_corrupt_entry_is_detected_and_rebuilt(tmp_path, caplog):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"model bytes")
    entry = tmp_path / "baselines" / "k1"
    cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11})
    assert cache.read(entry).cache_hit
    (entry / "model.onnx").write_bytes(b"model bytEs")  # one flipped byte
    with caplog.at_level(logging.WARNING):
        assert cache.read(entry) is None
    assert "corrupt" in caplog.text
    rebuilt = cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11})
    assert cache.read(entry) is not None and rebuilt.outcomes.sum() == 5


def test_a_half_written_entry_is_not_read(tmp_path):
    entry = tmp_path / "baselines" / "k2"
    entry.mkdir(parents=True)
    (entry / "model.onnx").write_bytes(b"partial")
    assert cache.read(entry) is None  # no baseline.json: never complete
