"""Tracking: none does nothing; wandb logs offline unless the user is logged in."""

from __future__ import annotations

import pytest

from runner.schema import TrackingConfig
from runner.tracking import flatten, log_record, wandb_mode


def test_flatten_keeps_chartable_values_only():
    flat = flatten({"metric": {"value": 0.9, "ci95": [0, 1], "name": "acc"}, "speedup": None})
    assert flat == {"metric/value": 0.9, "metric/name": "acc"}


def test_wandb_is_offline_unless_logged_in(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert wandb_mode(TrackingConfig(name="wandb")) == "offline"
    (tmp_path / "netrc").write_text("machine api.wandb.ai login user password key\n")
    assert wandb_mode(TrackingConfig(name="wandb")) == "online"
    assert wandb_mode(TrackingConfig(name="wandb", mode="offline")) == "offline"


@pytest.mark.slow
def test_wandb_offline_run_is_written_under_the_job_dir(run_job, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "300")  # a loaded 2-core CI box starts slowly
    monkeypatch.setenv("WANDB__SERVICE_WAIT", "300")
    rec = run_job("precision=int8", "tracking=wandb", job_dir=tmp_path / "job")
    assert rec["status"] == "ok"
    runs = list((tmp_path / "job" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    data = runs[0].read_bytes()  # protobuf records keep their keys as plain bytes
    for key in (b"metric/value", b"speedup", b"latency/p50_ms", b"quantized_fraction"):
        assert key in data


def test_tracking_none_writes_nothing(tmp_path):
    log_record(TrackingConfig(name="none"), tmp_path, {"axes": {}})
    assert list(tmp_path.iterdir()) == []
