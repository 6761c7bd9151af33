"""Latency isolation: disjoint cores for jobs side by side, one timing at a time in serial mode,
and the record and the summary say which."""

from __future__ import annotations

import fcntl
import os
import threading
import time

import jsonschema
import pytest

from runner.job import placement
from runner.report.summary import contended_warning
from tests.conftest import assert_valid_record


@pytest.mark.parametrize(
    ("mode", "threads", "cores", "chosen"),
    [
        ("auto", 1, [0, 1], "pinned"),  # room for two jobs side by side
        ("auto", 2, [0, 1], "serial"),  # one job fills the machine: time one at a time
        ("auto", 1, [0], "serial"),
        ("pinned", 2, [0, 1], "pinned"),
        ("pinned", 4, [0, 1], "serial"),  # cannot pin 4 threads on 2 cores
        ("serial", 1, [0, 1, 2, 3], "serial"),
        ("off", 1, [0, 1], "contended"),
    ],
)
def test_the_isolation_mode_follows_the_cores_there_are(mode, threads, cores, chosen):
    assert placement.choose(mode, threads, cores) == chosen


def test_jobs_side_by_side_get_disjoint_cores_and_a_freed_core_is_reused(tmp_path):
    a, locks_a = placement.claim_cores(tmp_path, [0, 1, 2], 2)
    b, locks_b = placement.claim_cores(tmp_path, [0, 1, 2], 1)
    assert len(a) == 2 and not set(a) & set(b)
    for f in locks_a:
        f.close()
    c, locks_c = placement.claim_cores(tmp_path, [0, 1, 2], 2)
    assert not set(c) & set(b)
    for f in locks_b + locks_c:
        f.close()


def test_a_job_waits_until_enough_cores_are_free(tmp_path):
    held, locks = placement.claim_cores(tmp_path, [0, 1], 2)
    got: list[list[int]] = []
    waiter = threading.Thread(
        target=lambda: got.append(placement.claim_cores(tmp_path, [0, 1], 1)[0])
    )
    waiter.start()
    time.sleep(3 * placement.POLL_S)
    assert not got  # both cores held: still waiting
    locks[0].close()
    waiter.join(timeout=10)
    assert got == [[held[0]]]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_pinned_job_runs_on_its_cores_and_gets_the_rest_back(tmp_path):
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("needs two cores")
    with placement.hold("pinned", 1, str(tmp_path)) as p:
        assert p.mode == "pinned" and os.sched_getaffinity(0) == set(p.cores)
        lat = {}
        placement.mark(lat)
        assert lat == {"isolation": "pinned", "cores": p.cores}
    assert os.sched_getaffinity(0) == before


def _timing_lock_is_free(folder, kind: int = fcntl.LOCK_EX) -> bool:
    with open(folder / "timing.lock", "a+") as f:
        try:
            fcntl.flock(f, kind | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def test_serial_timing_excludes_every_other_timing_on_the_machine(tmp_path):
    with placement.hold("serial", 1, str(tmp_path)) as p:
        assert p.mode == "serial" and p.cores == []
        with placement.timing():
            assert not _timing_lock_is_free(tmp_path, fcntl.LOCK_SH)  # not even pinned jobs
        assert _timing_lock_is_free(tmp_path)


def test_pinned_jobs_time_together_but_never_beside_a_serial_one(tmp_path):
    with placement.hold("pinned", 1, str(tmp_path)), placement.timing():
        assert _timing_lock_is_free(tmp_path, fcntl.LOCK_SH)
        assert not _timing_lock_is_free(tmp_path, fcntl.LOCK_EX)


def test_the_record_says_contended_and_the_summary_warns(run_job, tmp_path):
    rec = run_job("latency.isolation=off", f"latency.lock_dir={tmp_path}")
    assert rec["latency"]["isolation"] == "contended"
    assert rec["baseline_latency"]["isolation"] == "contended"
    assert "1 job(s) timed contended" in contended_warning([rec])
    rec = run_job(f"latency.lock_dir={tmp_path}", job_dir=tmp_path / "auto")
    assert rec["latency"]["isolation"] in ("pinned", "serial")
    assert contended_warning([rec]) == ""
    assert_valid_record(rec)
    rec["latency"]["isolation"] = "sideways"
    with pytest.raises(jsonschema.ValidationError, match="sideways"):
        assert_valid_record(rec)
