"""`python -m runner.compare A B`: side by side, paired CI, ratios, verdict, clean errors."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from runner.compare import main
from runner.core.stats import paired_delta_ci
from tests.conftest import ROOT
from tests.records import flips, make_record, write_job


@pytest.fixture
def pair(tmp_path):
    """A: INT8 (reference); B: INT4, faster and smaller, 3 net flips lost out of 500."""
    base, a_cand = flips(500, base_right=450, n10=0, n01=0)
    _, b_cand = flips(500, base_right=450, n10=4, n01=1)
    a = write_job(tmp_path, "a", make_record("int8", drop=0.0, p50=0.03), outcomes=(base, a_cand))
    b_rec = make_record("int4", drop=3 / 450, p50=0.02, size=180_000)
    b = write_job(tmp_path, "b", b_rec, outcomes=(base, b_cand))
    return a, b, (a_cand, b_cand)


def test_cli_compares_two_records_with_a_paired_ci(pair):
    a, b, (a_cand, b_cand) = pair
    done = subprocess.run(
        [sys.executable, "-m", "runner.compare", str(a), str(b)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lo, hi = paired_delta_ci(a_cand, b_cand)
    out = done.stdout
    assert "A (reference)" in out and "int4" in out
    assert f"95% CI [{lo:+.4g}, {hi:+.4g}] (paired, 500 samples)" in out
    assert "latency ratio A/B: 1.50x" in out and "size ratio A/B: 2.00x" in out
    # drop 0.67 % with a CI reaching past 1 %: not settled, and INT4 on a CNN is risky
    assert "verdict (A as baseline): inconclusive" in out and "prefer INT8 + pruning" in out


def test_without_outcomes_the_records_own_numbers_are_reported(tmp_path, capsys):
    a = write_job(tmp_path, "a", make_record("fp32", drop=0.0, p50=0.06))
    b = write_job(tmp_path, "b", make_record("int8", drop=0.002, p50=0.03))
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "no paired outcomes" in out and "each against its own baseline" in out
    # a 0.2 % point drop is no ship without an interval: inconclusive, and why
    assert "verdict (A as baseline): inconclusive: Without paired outcomes" in out
    assert "it alone would say ship" in out and "outcomes.npz" in out
    assert "latency ratio A/B: 2.00x (p50s of two jobs, no interval)" in out


def test_the_speed_ratio_comes_from_each_job_s_paired_speedup_when_both_have_one(tmp_path, capsys):
    # A's job ran on a busy machine (its p50 says 3x slower than B's), but against the FP32
    # timed beside them A is 2.0x and B 3.0x: B is 1.5x A's speed, with both intervals' width
    a = make_record("int8", drop=0.0, p50=0.09, speedup=2.0, speedup_ci=(1.9, 2.1))
    b = make_record("int4", drop=0.0, p50=0.03, speedup=3.0, speedup_ci=(2.8, 3.2),
                    task="language_modeling")  # fmt: skip
    paths = [write_job(tmp_path, k, r) for k, r in (("a", a), ("b", b))]
    assert main([str(p) for p in paths]) == 0
    out = capsys.readouterr().out
    ca, cb = math.sqrt(1.9 * 2.1), math.sqrt(2.8 * 3.2)
    half = math.hypot(math.log(2.1 / 1.9) / 2, math.log(3.2 / 2.8) / 2)
    lo, hi = cb / ca * math.exp(-half), cb / ca * math.exp(half)
    assert f"latency ratio A/B: {cb / ca:.2f}x [{lo:.2f}, {hi:.2f}] (from each job's" in out


def test_b_slower_than_a_is_no_gain(tmp_path, capsys):
    a = write_job(tmp_path, "a", make_record("int8", p50=0.03))
    b = write_job(tmp_path, "b", make_record("int4", p50=0.04, task="language_modeling"))
    assert main([str(a), str(b)]) == 0
    assert "verdict (A as baseline): no gain" in capsys.readouterr().out


def test_a_skipped_record_cannot_be_compared(tmp_path, capsys):
    a = write_job(tmp_path, "a", make_record("int8"))
    b = write_job(tmp_path, "b", make_record("int4", status="skipped", reason="no kernels"))
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "cannot compare: A is ok, B is skipped" in out and "verdict" not in out


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("[1, 2]", "not a result record"), ("{oops", "not a readable"),
     (json.dumps({"schema_version": 1, "status": "ok"}), "not a usable result record")],
)  # fmt: skip
def test_bad_inputs_fail_with_one_line(tmp_path, capsys, content, message):
    a = write_job(tmp_path, "a", make_record())
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert main([str(a), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def _outcome_records(kind: str, rng: np.random.Generator):
    """A (reference) and B records of one metric kind with per-sample outcomes behind them."""
    if kind == "accuracy":
        base, cand = flips(540, base_right=530, n10=5, n01=0)
        values = base.mean(), cand.mean()
        kw = {}
    elif kind == "mae":
        base = rng.gamma(2.0, 0.5, size=134)
        cand = np.abs(base + rng.normal(0.01, 0.05, size=134))
        values = base.mean(), cand.mean()
        kw = {"name": "mae", "higher_is_better": False, "task": "regression"}
    else:  # perplexity = exp(mean per-token NLL)
        base = rng.gamma(2.0, 1.5, size=2000)
        cand = base + rng.normal(0.008, 0.5, size=2000)
        values = float(np.exp(base.mean())), float(np.exp(cand.mean()))
        kw = {"name": "perplexity", "higher_is_better": False, "task": "language_modeling"}
    recs = []
    for value, outcomes in zip(values, (base, cand), strict=True):
        rec = make_record("int8", drop=0.0, baseline=values[0], **kw)
        rec["metric"].update(value=value, delta_abs=value - values[0])
        recs.append((rec, (base, outcomes)))
    return recs


@pytest.mark.parametrize("kind", ["accuracy", "mae", "perplexity"])
def test_every_printed_interval_contains_its_estimate(tmp_path, capsys, kind):
    (a_rec, a_out), (b_rec, b_out) = _outcome_records(kind, np.random.default_rng(7))
    a = write_job(tmp_path, "a", a_rec, outcomes=a_out)
    b = write_job(tmp_path, "b", b_rec, outcomes=b_out)
    assert main([str(a), str(b)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("B vs A:"))
    found = re.search(r": \S+ ([-+][\d.e+-]+) .*95% CI \[([-+][\d.e+-]+), ([-+][\d.e+-]+)\]", line)
    delta, lo, hi = (float(g) for g in found.groups())
    assert lo <= delta <= hi, line
    assert delta == pytest.approx(b_rec["metric"]["value"] - a_rec["metric"]["value"], rel=1e-3)


def test_perplexity_is_judged_on_its_own_scale_like_the_record(tmp_path, capsys):
    (a_rec, a_out), (b_rec, b_out) = _outcome_records("perplexity", np.random.default_rng(7))
    b_rec["latency"]["p50_ms"] = 0.015  # B twice as fast as A: the metric decides
    a = write_job(tmp_path, "a", a_rec, outcomes=a_out)
    b = write_job(tmp_path, "b", b_rec, outcomes=b_out)
    main([str(a), str(b)])
    out = capsys.readouterr().out
    lo, hi = paired_delta_ci(*b_out)  # in NLL; the relative perplexity CI is exp(.) - 1
    assert np.expm1(lo) < 0.01 < np.expm1(hi)  # straddles the 1 % ship threshold
    assert "verdict (A as baseline): inconclusive" in out and "more scored tokens" in out
