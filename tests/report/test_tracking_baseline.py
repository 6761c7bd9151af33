"""W&B summaries of a record WITH its baseline blocks: each figure lands under its own key, the
candidate's under the plain names and the baseline's under `baseline_*`, never one for the
other. Every number of the record is distinct, so a swap cannot pass by coincidence."""

from __future__ import annotations

import pytest

from runner.core.config import TrackingConfig
from runner.report.tracking import job_summary, log_record

RECORD = {
    "status": "ok",
    "reason": None,
    "axes": {"model": "smollm2", "dataset": "wikitext2", "precision": "int8", "method": "ptq",
             "target": "cpu_x86", "backend": "ort_dynamic_int8"},
    "metric": {"name": "perplexity", "value": 12.5, "baseline": 12.0, "higher_is_better": False,
               "ci95": [0.25, 0.75], "n_samples": 4096},
    "speedup": 2.5, "speedup_ci": [2.25, 2.75],
    # the candidate is 2.5x faster: 4 ms against the baseline's 10 ms per decode token
    "latency": {"p50_ms": 4.0, "p90_ms": 4.5, "session_runs": 5, "unit": "decode token"},
    "baseline_latency": {"p50_ms": 10.0, "p90_ms": 11.0, "session_runs": 5,
                         "unit": "decode token"},
    "generation": {"ttft_ms": 30.0, "decode_tokens_per_s": 250.0, "speedup_decode": 2.5},
    "baseline_generation": {"ttft_ms": 70.0, "decode_tokens_per_s": 100.0},
    "size_bytes": 1_000_000, "baseline_size_bytes": 4_000_000, "compression": 4.0,
    "peak_rss_bytes": 300_000_000, "baseline_peak_rss_bytes": 700_000_000,
    "quantized_fraction": 0.875,
}  # fmt: skip

# What the summary must hold, written out by hand from RECORD (not by the code under test).
EXPECTED = {
    "latency/p50_ms": 4.0,
    "latency/p90_ms": 4.5,
    "baseline_latency/p50_ms": 10.0,
    "baseline_latency/p90_ms": 11.0,
    "latency/unit": "decode token",
    "generation/ttft_ms": 30.0,
    "generation/decode_tokens_per_s": 250.0,
    "generation/speedup_decode": 2.5,
    "baseline_generation/ttft_ms": 70.0,  # an LM's baseline decode figures, beside the candidate's
    "baseline_generation/decode_tokens_per_s": 100.0,
    "speedup": 2.5,
    "speedup_ci_low": 2.25,
    "speedup_ci_high": 2.75,
    "size_bytes": 1_000_000.0,
    "baseline_size_bytes": 4_000_000.0,
    "compression": 4.0,
    "peak_rss_bytes": 300_000_000.0,
    "baseline_peak_rss_bytes": 700_000_000.0,
    "quantized_fraction": 0.875,
    "metric/value": 12.5,
    "metric/baseline": 12.0,
    "metric/delta_abs": 0.5,
    "metric/ci95_low": 0.25,
    "metric/ci95_high": 0.75,
    "metric/name": "perplexity",
    "metric/higher_is_better": False,
    "status": "ok",
    "verdict": "ship",
}


def test_the_candidates_and_the_baselines_figures_go_under_their_own_keys():
    s = job_summary(RECORD, "ship")
    assert {k: s.get(k) for k in EXPECTED} == EXPECTED
    # the speed ratio is the baseline's time over the candidate's, as logged
    assert s["baseline_latency/p50_ms"] / s["latency/p50_ms"] == pytest.approx(s["speedup"])
    assert s["compression"] == s["baseline_size_bytes"] / s["size_bytes"]
    decode = s["generation/decode_tokens_per_s"] / s["baseline_generation/decode_tokens_per_s"]
    assert decode == pytest.approx(s["generation/speedup_decode"])  # tokens/s: candidate over base
    # nothing of the baseline is logged under a candidate's name
    baseline_numbers = {10.0, 11.0, 70.0, 100.0, 4_000_000.0, 700_000_000.0}
    plain = {k: v for k, v in s.items() if not k.startswith("baseline")}
    assert not baseline_numbers & {v for v in plain.values() if isinstance(v, float)}


def test_a_record_without_baseline_blocks_logs_no_baseline_keys():
    rec = {k: v for k, v in RECORD.items() if not k.startswith("baseline")}
    s = job_summary(rec)
    assert not [k for k in s if k.startswith("baseline")]
    assert s["latency/p50_ms"] == 4.0 and s["verdict"] == "-"


class FakeRun:
    """What wandb.init returns, keeping what the job logs."""

    def __init__(self, **kwargs):
        self.kwargs, self.summary, self.finished = kwargs, {}, False

    def finish(self):
        self.finished = True


def test_log_record_sends_that_summary_to_the_run(monkeypatch, tmp_path):
    import wandb

    runs: list[FakeRun] = []

    def init(**kwargs):
        runs.append(FakeRun(**kwargs))
        return runs[-1]

    monkeypatch.setattr(wandb, "init", init)
    log_record(TrackingConfig(name="wandb", mode="offline"), tmp_path, RECORD, config={})
    (run,) = runs
    assert run.finished and run.kwargs["job_type"] == "int8-ptq"
    assert run.kwargs["name"] == "smollm2-int8-ptq-cpu_x86"
    got = {k: run.summary.get(k) for k in EXPECTED if k != "verdict"}
    assert got == {k: v for k, v in EXPECTED.items() if k != "verdict"}
    # its own verdict: the drop's CI [2.08, 6.25] % straddles the 3 % threshold
    assert run.summary["verdict"] == "inconclusive"


def test_a_failed_job_logs_its_reason_and_no_figures():
    s = job_summary({"status": "failed", "reason": "killed by the OOM killer", "metric": None})
    assert s == {"status": "failed", "verdict": "-", "reason": "killed by the OOM killer"}
    assert "reason" not in job_summary({"status": "ok", "reason": None})


def test_the_records_own_delta_is_logged_and_only_numbers_of_the_metric():
    metric = {"name": "accuracy", "value": 0.9, "baseline": 0.95, "delta_abs": -0.05,
              "ci95": [-0.06, -0.04], "higher_is_better": True, "n_samples": 300}  # fmt: skip
    s = job_summary({"status": "ok", "metric": metric})
    assert s["metric/delta_abs"] == -0.05  # as recorded, not recomputed (0.9 - 0.95 != -0.05)
    assert s["metric/n_samples"] == 300 and s["metric/higher_is_better"] is True
    assert "metric/ci95" not in s  # a list: logged as its two ends
    assert (s["metric/ci95_low"], s["metric/ci95_high"]) == (-0.06, -0.04)
    no_value = job_summary({"status": "ok", "metric": {"name": "accuracy", "baseline": 0.95}})
    assert no_value["metric/baseline"] == 0.95 and "metric/delta_abs" not in no_value


def test_an_interval_is_two_real_numbers():
    from runner.report.tracking import interval

    assert interval(["0.9", "1.1"]) is None and interval([True, 2]) is None
    assert interval((1, 2.5)) == (1.0, 2.5)
