"""Selection data apart from verdict data: decide's sensitivity ranking and keep-float search
score the first validation rows; the mixed candidate they pick is judged on the rows after
them, and its record names the split. (INT8 / INT4 PTQ and QAT are picked on no data: they
are judged on every row.)"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from runner import decide
from runner.job import evaluate, pipeline
from tests.conftest import typed
from tests.policy.test_decide import Fakes, fragile_args, record, units


def test_selection_rows_and_verdict_rows_are_disjoint(tmp_path, cache_dir, monkeypatch):
    """A real walk on a model with one fragile layer: every row the probe scored (selection)
    and every row a job scored (verdict) is recorded by a spy on evaluate.predict."""
    args = [*fragile_args(tmp_path, cache_dir, rows=1600), "summary.min_speedup=0"]
    args.append("isolation=inline")  # the jobs in this process, where the spy is
    seen: dict[str, list[set[bytes]]] = {"selection": [], "verdict": []}
    real = evaluate.predict

    def spy(session, x, *a, **kw):
        caller = inspect.stack()[1].function
        part = {"score": "selection", "_steps": "verdict"}.get(caller)
        if part:  # one set of rows per evaluation: the probe's, or a job's
            seen[part].append({np.asarray(r).tobytes() for r in x})
        return real(session, x, *a, **kw)

    monkeypatch.setattr(evaluate, "predict", spy)
    out = tmp_path / "d"
    assert decide.main([*args, "--int8-backend", "ort_dynamic_int8", "--out", str(out)]) == 0
    selection = set().union(*seen["selection"])
    verdict = seen["verdict"][-1]  # the last job: the mixed candidate the selection picked
    assert len(selection) == 256 and len(verdict) > 1000
    assert not selection & verdict  # no row both chose and judged
    assert selection < seen["verdict"][0]  # INT8 PTQ, picked on no data, saw every row
    mixed = json.loads(next(out.glob("*_int8_ptq_mixed/result.json")).read_text())
    assert mixed["splits"]["selection_rows"] == 256
    fp32 = json.loads(next(out.glob("*_fp32_ptq/result.json")).read_text())
    total = fp32["splits"]["validation"]  # the reference job judges on every row
    assert mixed["splits"]["validation"] == total - 256  # the rows after the selection's
    assert "dataset.selection_rows=256" in mixed["overrides"]
    assert "set apart for selection" in (out / "decision.md").read_text()
    s = json.loads((out / "sensitivity_int8" / "sensitivity.json").read_text())
    assert s["selection_rows"] == 256 and s["subset"]["rows"] == 256


def test_verdict_rows_are_the_rows_after_the_selection(tmp_path, cache_dir):
    args = fragile_args(tmp_path, cache_dir)
    whole, _, _ = pipeline.load(typed(*args))
    cut, _, _ = pipeline.load(typed(*args, "dataset.selection_rows=100"))
    assert np.array_equal(cut.x_val, whole.x_val[100:])
    assert np.array_equal(cut.y_val, whole.y_val[100:])
    with pytest.raises(ValueError, match="dataset.selection_rows=540 leaves no"):
        pipeline.load(typed(*args, "dataset.selection_rows=540"))


def test_the_walk_splits_before_the_ranking_and_judges_the_pick_on_the_rest():
    jobs = {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3),
            "int8_ptq_mixed": record(0.004, 1.7)}  # fmt: skip
    f = Fakes(jobs, units(8, bad=("u3",)), lambda p: 0.0 if "u3" in p else 0.3)
    w = f.walker()
    w.split = lambda full: (["dataset.selection_rows=9"], "rows 0-8 apart")
    t = w.walk([], [])
    assert "dataset.selection_rows=9" not in f.calls[1][1]  # INT8 PTQ: every row
    assert all("dataset.selection_rows=9" in over for over in f.ranked)  # the probe's rows
    assert f.calls[-1][0] == "int8_ptq_mixed" and "dataset.selection_rows=9" in f.calls[-1][1]
    assert [s.step for s in t.steps][2] == "INT8 selection split"


def test_room_counts_the_tokens_the_selection_scores(tmp_path):
    """A language model with 2 selection windows (1,023 + 512 tokens) and eval_tokens 3,583
    judges 2,047 tokens: there is room to grow; fewer means the text ran out."""
    from runner.policy.decide import Runner

    r = Runner([], tmp_path, None, "auto")
    over = ["model=smollm2", "dataset.selection_rows=2", "model.eval_tokens=3583"]
    assert r.room({"overrides": over, "metric": {"n_samples": 2047}}) == ("model.eval_tokens", 3583)
    assert r.room({"overrides": over, "metric": {"n_samples": 1500}}) is None
    assert r.room({"overrides": [], "metric": {"n_samples": 540}}) is None  # digits: no room
