"""Sensitivity's ranking order: five units with known drops, ranked most harmful first, checked
against an independent sort of those drops (an inverted or missing sort fails); and the walk,
handed a ranking out of order, keeps the most harmful units."""

from __future__ import annotations

import re
from types import SimpleNamespace

from runner.policy.sensitivity import rank, report_md
from runner.policy.walk import Walker
from runner.report.verdict import Thresholds

# layer -> its drop when quantized alone (graph order; no two equal, some negative)
DROPS = {"conv1": 0.02, "conv2": -0.01, "fc1": 0.15, "fc2": 0.0, "head": 0.07}
EVERYTHING = 0.3


class FakeProbe:
    """A probe whose scores are the table above: `only` one layer gives that layer's drop."""

    backend_name = "ort_static_qdq"
    n, unit_of_samples = 64, "samples"
    cfg = SimpleNamespace(
        model=SimpleNamespace(name="m"),
        dataset=SimpleNamespace(name="d", selection_rows=0),
        precision=SimpleNamespace(name="int8"),
        target=SimpleNamespace(name="cpu_x86"),
    )

    def __init__(self):
        self.scored: list[list[str] | None] = []

    def layers(self):
        return list(DROPS)

    def scopes(self):
        return {}

    def score(self, cfg=None, only=None):
        self.scored.append(only)
        drop = EVERYTHING if only is None else sum(DROPS[n] for n in only)
        value, ci = 0.9 * (1 - drop), [drop - 0.01, drop + 0.01]
        m = {"name": "accuracy", "higher_is_better": True, "baseline": 0.9, "value": value}
        return {**m, "drop": drop, "drop_ci": ci}


def expected_order() -> list[str]:
    """The units by drop, largest first: an independent sort of the table."""
    return [name for name, _ in sorted(DROPS.items(), key=lambda kv: kv[1], reverse=True)]


def test_units_are_ranked_most_harmful_first():
    probe = FakeProbe()
    s = rank(probe, "layer")
    assert expected_order() == ["fc1", "head", "conv1", "fc2", "conv2"]
    assert [r["unit"] for r in s["ranking"]] == expected_order()
    assert [r["drop"] for r in s["ranking"]] == [DROPS[n] for n in expected_order()]
    assert all(r["layers"] == [r["unit"]] == r["patterns"] for r in s["ranking"])
    assert s["all_quantized"]["drop"] == EVERYTHING
    assert sorted(probe.scored[1:]) == [[n] for n in sorted(DROPS)]  # each unit alone, once


def test_the_report_lists_the_units_in_rank_order():
    s = rank(FakeProbe(), "layer")
    s["seconds"] = 1.0
    rows = re.findall(r"^\| (\d+) \| `([^`]+)` \|", report_md(s), flags=re.M)
    assert rows == [(str(i), n) for i, n in enumerate(expected_order(), 1)]


def test_the_walk_keeps_the_most_harmful_units_of_a_ranking_given_out_of_order():
    """The walk sorts what it is handed (rankings of two unit kinds are pooled): keeping the
    two worst units (fc1, head) is what brings the subset under the ship target."""
    unsorted = [{"unit": n, "patterns": [n], "drop": d} for n, d in DROPS.items()]
    worst_two = set(expected_order()[:2])
    jobs: dict[str, list[str]] = {}

    def job(name, overrides):
        jobs[name] = list(overrides)
        drop = {"fp32_ptq": 0.0, "int8_ptq": EVERYTHING}.get(name, 0.001)
        return {
            "status": "ok", "reason": None, "task": "classification",
            "axes": {"model": "m", "dataset": "d", "precision": "int8", "method": "ptq",
                     "target": "t", "backend": "b"},
            "metric": {"name": "accuracy", "higher_is_better": True, "baseline": 100.0,
                       "value": 100.0 * (1 - drop)},
            "speedup": 2.0, "speedup_ci": [1.9, 2.1], "latency": {"p50_ms": 1.0},
            "size_bytes": 1, "baseline_size_bytes": 4, "target_budget": {},
        }  # fmt: skip

    def ranked(over, unit):
        return {"ranking": unsorted, "subset": {"rows": 10, "of": "samples"},
                "all_quantized": {"drop": EVERYTHING}}  # fmt: skip

    def subset_drop(over, key, patterns):
        return 0.001 if worst_two <= set(patterns) else 0.2

    w = Walker(False, Thresholds(), job, ranked, subset_drop, max_kept=1.0, units=("layer",))
    t = w.walk([], [])
    kept = "model.keep_float=['" + "','".join(expected_order()[:2]) + "']"
    assert kept in jobs["int8_ptq_mixed"]
    assert t.decisions[0].job == "int8_ptq_mixed"
