"""README promises of the summary: the memory front, objective=memory, outcomes without pickle."""

from __future__ import annotations

import numpy as np

from runner.report.compare import load as compare_load
from runner.report.records import load_outcomes
from runner.report.summary import summarize
from tests.records import baseline_record, make_record, write_job


def _memory_sweep(root):
    """Two ship candidates: `fast` is fastest but uses the most memory, `lean` the least."""
    fp32 = {"baseline_peak_rss_bytes": 100_000_000}
    write_job(root, "0_fp32", baseline_record(peak=100_000_000, **fp32))
    write_job(root, "1_fast", make_record("int8", "ptq", p50=0.02, size=400_000, peak=150_000_000,
                                          **fp32))  # fmt: skip
    write_job(root, "2_lean", make_record("int8", "qat", p50=0.03, size=400_000, peak=40_000_000,
                                          **fp32))  # fmt: skip
    write_job(root, "3_fat", make_record("fp16", "ptq", drop=0.003, p50=0.04, peak=160_000_000,
                                         **fp32))  # fmt: skip
    return root


def test_objective_memory_recommends_the_leanest_ship_candidate(tmp_path):
    root = _memory_sweep(tmp_path / "sweep")
    chosen = {}
    for objective in ("latency", "memory"):
        s = summarize(root, objective=objective, write=False)
        rec = s.recommendations[0].record
        chosen[objective] = rec["axes"]["method"]
    assert chosen == {"latency": "ptq", "memory": "qat"}


def test_the_memory_front_holds_the_rows_no_other_beats_on_metric_and_memory(tmp_path):
    s = summarize(_memory_sweep(tmp_path / "sweep"), write=False)
    t = s.table.set_index(s.table.precision + "/" + s.table.method)
    assert t.peak_mem_mb["int8/qat"] == 40
    # lean (best memory) and fp32 (best metric) are on it; fast and fat are beaten by lean
    assert t.pareto_peak_mem_mb.to_dict() == {
        "fp32/ptq": True, "int8/ptq": False, "int8/qat": True, "fp16/ptq": False,
    }  # fmt: skip
    assert "M" in t.front["int8/qat"] and "M" not in t.front["int8/ptq"]


class _Payload:
    """Unpickling this writes the marker file: proof that a loader ran pickled code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_outcomes_file_is_never_unpickled(tmp_path):
    marker = tmp_path / "PWNED"
    bad = np.array([_Payload(marker)] * 3, dtype=object)
    rec = make_record()
    path = write_job(tmp_path / "sweep", "1_evil", rec, outcomes=(bad, bad))
    assert load_outcomes(path, {**rec, "outcomes_file": "outcomes.npz"}) is None
    _, outcomes = compare_load(path)
    assert outcomes is None
    s = summarize(tmp_path / "sweep", write=False)
    assert len(s.table) == 1
    assert not marker.exists()
