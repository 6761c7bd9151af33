"""Tracking: none does nothing; wandb logs one run per job and one summary run per sweep,
offline unless logged in, and W&B trouble costs one warning line, never the job.

The W&B tests read the `.wandb` files back with W&B's protobuf messages only after the runs
have finished (log_record and log_sweep call run.finish(), and the CLI process has exited).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runner.core.config import TrackingConfig
from runner.report.tracking import (
    flatten,
    interval,
    job_config,
    job_summary,
    log_record,
    wandb_mode,
)
from tests.conftest import FAST, ROOT, cli
from tests.wandb_records import only_run

RECORD = {
    "status": "ok",
    "reason": None,
    "axes": {"model": "m", "dataset": "d", "precision": "int4", "method": "ptq",
             "target": "cpu_x86", "backend": "ort_matmulnbits"},
    "overrides": ["precision=int4", "precision.int4_algorithm=hqq"],
    "metric": {"name": "accuracy", "value": 0.9, "baseline": 0.95, "ci95": [-0.08, -0.02],
               "higher_is_better": True, "n_samples": 300},
    "speedup": 2.5, "speedup_ci": {"low": 2.25, "high": 2.75},
    "latency": {"p50_ms": 1.5, "p90_ms": 2.0}, "size_bytes": 1000, "compression": 4.0,
    "peak_rss_bytes": 5000, "quantized_fraction": 0.5,
}  # fmt: skip


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


def test_config_puts_the_axes_on_top_and_summary_holds_delta_and_intervals():
    resolved = {"precision": {"bits": 4, "int4_algorithm": "hqq"}}
    config = job_config(RECORD, resolved)
    assert {k: config[k] for k in ("model", "precision", "backend", "algorithm")} == {
        "model": "m", "precision": "int4", "backend": "ort_matmulnbits", "algorithm": "hqq"
    }  # fmt: skip
    assert config["config"] == resolved
    s = job_summary(RECORD, "ship")
    assert s["metric/delta_abs"] == pytest.approx(-0.05)
    assert (s["metric/ci95_low"], s["metric/ci95_high"]) == (-0.08, -0.02)
    assert (s["speedup_ci_low"], s["speedup_ci_high"]) == (2.25, 2.75)
    assert s["latency/p50_ms"] == 1.5 and s["verdict"] == "ship" and s["status"] == "ok"
    assert interval([1, 2]) == interval({"lo": 1, "hi": 2}) == (1.0, 2.0)
    assert interval(None) is None and interval([1]) is None


def test_tracking_none_writes_nothing(tmp_path):
    log_record(TrackingConfig(name="none"), tmp_path, {"axes": {}})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_unreachable_wandb_costs_one_warning_line_and_never_the_job(tmp_path):
    code = (
        "import logging, pathlib; logging.basicConfig(level=logging.INFO);"
        "from runner.core.config import TrackingConfig;"
        "from runner.report.tracking import log_record;"
        "log_record(TrackingConfig(name='wandb', mode='online', timeout_s=5),"
        f" pathlib.Path({str(tmp_path)!r}), {RECORD!r}); print('job goes on')"
    )
    env = {"WANDB_API_KEY": "a" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9",
           "NETRC": str(tmp_path / "none"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
           "HOME": str(tmp_path)}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "job goes on"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "tracking: W&B logging of this job failed" in lines[0], lines


@pytest.mark.slow
def test_a_sweep_logs_one_run_per_job_and_a_summary_run(cache_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    sweep = tmp_path / "sweep"
    done = cli(
        "-m", "precision=int8", "tracking=wandb", *FAST, f"cache_dir={cache_dir}",
        f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (job,) = [p.parent for p in sweep.glob("*/result.json")]
    rec = json.loads((job / "result.json").read_text())
    run = only_run(job)  # read back after the CLI (and so run.finish()) has finished
    assert (run.group, run.job_type, sorted(run.tags)) == (
        "sweep",
        "int8-ptq",
        ["cpu_x86", "digits_cnn"],
    )
    assert {k: run.config[k] for k in ("model", "dataset", "precision", "method", "target")} == {
        k: rec["axes"][k] for k in ("model", "dataset", "precision", "method", "target")
    }
    assert run.config["backend"] == rec["axes"]["backend"]
    assert run.config["config"]["precision"]["bits"] == 8
    assert run.summary["metric/value"] == pytest.approx(rec["metric"]["value"])
    assert run.summary["metric/baseline"] == pytest.approx(rec["metric"]["baseline"])
    assert run.summary["speedup"] == pytest.approx(rec["speedup"])
    assert run.summary["latency/p50_ms"] == pytest.approx(rec["latency"]["p50_ms"])
    assert run.summary["size_bytes"] == rec["size_bytes"] and run.summary["status"] == "ok"
    assert run.summary["verdict"] in ("ship", "try QAT", "stay FP16", "no gain", "inconclusive")

    summary = only_run(sweep)
    assert (summary.group, summary.job_type) == ("sweep", "summary")
    assert summary.history["summary_table/_type"] == "table-file"
    assert summary.history["summary_table/nrows"] == 1
    assert summary.history["pareto/_type"] == "image-file"
    ((kind, name, files),) = [a for a in summary.artifacts if a[0] == "sweep-summary"]
    assert name == "sweep-sweep" and {"summary.csv", "recommended.yaml"} <= set(files)


def test_a_tracker_error_never_fails_the_job_nor_touches_its_result(
    run_job, tmp_path, monkeypatch, caplog
):
    import json

    import wandb

    def broken(*args, **kwargs):
        raise RuntimeError("tracker is down")

    monkeypatch.setattr(wandb, "init", broken)  # the tracker fails; the job is what is tested
    with caplog.at_level("WARNING", logger="runner.report.tracking"):
        rec = run_job("precision=int8", "tracking=wandb", job_dir=tmp_path / "job")
    assert rec["status"] == "ok" and rec["reason"] is None
    assert "tracker is down" in caplog.text and "results on disk are unaffected" in caplog.text
    on_disk = json.loads((tmp_path / "job" / "result.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["metric"] == json.loads(json.dumps(rec["metric"]))
