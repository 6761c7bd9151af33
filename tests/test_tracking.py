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


def _wandb_records(path) -> list:
    """The protobuf records of a .wandb file (a LevelDB-style log: a 7-byte file header,
    32 KiB blocks, chunks with a 7-byte header: crc32, length, type full/first/middle/last)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, block = path.read_bytes(), 7, 32768
    assert data[:4] == b":W&B"
    records, parts = [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the rest of a block too short for a header: padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        parts += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # full, or last chunk of a record
            rec = pb.Record()
            rec.ParseFromString(parts)
            records.append(rec)
            parts = b""
    return records


@pytest.mark.slow
def test_wandb_offline_run_is_written_under_the_job_dir(run_job, tmp_path, monkeypatch, caplog):
    import json

    import wandb

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "300")  # a loaded 2-core CI box starts slowly
    monkeypatch.setenv("WANDB__SERVICE_WAIT", "300")
    with caplog.at_level("WARNING", logger="runner.tracking"):
        rec = run_job("precision=int8", "tracking=wandb", job_dir=tmp_path / "job")
    assert rec["status"] == "ok"
    assert "wandb logging failed" not in caplog.text, caplog.text
    # run.finish() has returned; teardown waits for W&B's service to close (flush) the file,
    # so what is read below is complete: no sleep, no race with the writer.
    wandb.teardown()
    runs = list((tmp_path / "job" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    records = _wandb_records(runs[0])
    kinds = [r.WhichOneof("record_type") for r in records]
    assert "run" in kinds and "exit" in kinds  # the run started and finished
    logged = {
        item.key or "/".join(item.nested_key): json.loads(item.value_json)
        for r in records
        if r.WhichOneof("record_type") == "history"
        for item in r.history.item
    }
    assert logged["speedup"] == pytest.approx(rec["speedup"])
    assert logged["metric/value"] == pytest.approx(rec["metric"]["value"])
    assert logged["latency/p50_ms"] == pytest.approx(rec["latency"]["p50_ms"])
    assert logged["quantized_fraction"] == pytest.approx(rec["quantized_fraction"])


def test_a_tracker_error_never_fails_the_job_nor_touches_its_result(
    run_job, tmp_path, monkeypatch, caplog
):
    import json

    import wandb

    def broken(*args, **kwargs):
        raise RuntimeError("tracker is down")

    monkeypatch.setattr(wandb, "init", broken)  # the tracker fails; the job is what is tested
    with caplog.at_level("WARNING", logger="runner.tracking"):
        rec = run_job("precision=int8", "tracking=wandb", job_dir=tmp_path / "job")
    assert rec["status"] == "ok" and rec["reason"] is None
    assert "tracker is down" in caplog.text and "result.json is unaffected" in caplog.text
    on_disk = json.loads((tmp_path / "job" / "result.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["metric"] == json.loads(json.dumps(rec["metric"]))


def test_tracking_none_writes_nothing(tmp_path):
    log_record(TrackingConfig(name="none"), tmp_path, {"axes": {}})
    assert list(tmp_path.iterdir()) == []
