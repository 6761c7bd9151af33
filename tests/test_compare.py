"""`python -m runner.compare A B`: side by side, paired CI, ratios, verdict, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runner.compare import main
from runner.stats import paired_delta_ci
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
    assert "verdict (A as baseline): ship" in out


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
