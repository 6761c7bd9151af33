"""runner.policy.gather.settle over fake jobs that record what each look asked for, and the
walk's stops that no look can change: a candidate that does not fit its target stops the
walk (no fallback is tried on it), and the kept layers reach Hydra as the list they are."""

from __future__ import annotations

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from runner.policy import gather
from runner.policy.walk import Walker, quoted
from runner.report.verdict import Thresholds
from tests.policy.test_decide import record
from tests.policy.test_gather import LM
from tests.policy.test_gather_parts import STRADDLES, drop_rec
from tests.policy.test_walk_calls import Spy, decisions, steps

TH = Thresholds()


class Looks:
    """Records handed out in turn; every (name, overrides) asked kept."""

    def __init__(self, *records):
        self.records, self.calls = list(records), []

    def job(self, name, over):
        self.calls.append((name, list(over)))
        return self.records[len(self.calls) - 1]


def tokens(n: int, **kw) -> dict:
    """A straddling record scored on n samples with 5 timing runs, speed across its bar."""
    r = drop_rec(0.005, 0.015, speed=STRADDLES, **kw)
    r["metric"]["n_samples"] = n
    return r


def test_a_failed_first_job_is_settled_as_failed_under_its_own_name():
    bad = record(0.0, status="failed", reason="onnxruntime: no kernel")
    s = gather.settle(Looks(bad).job, lambda r: ("k", 10), "int8_ptq", ["a=1"], TH)
    assert (s.where, s.why, s.job, s.looks, s.rec) == (
        "failed", "onnxruntime: no kernel", "int8_ptq", [], bad)  # fmt: skip


def test_a_failed_look_ends_failed_and_names_the_look():
    bad = record(0.0, status="failed", reason="out of memory")
    j = Looks(tokens(1000), bad)
    s = gather.settle(j.job, lambda r: ("model.eval_samples", 1000), "int8_ptq", ["a=1"], TH)
    assert [c[0] for c in j.calls] == ["int8_ptq", "int8_ptq_look2"]
    assert (s.where, s.why, s.job, s.rec) == (
        "failed", "look 2 failed: out of memory", "int8_ptq_look2", bad)  # fmt: skip
    assert len(s.looks) == 1 and s.looks[0].startswith("look 1: 1000 samples at z ")


def test_a_record_without_its_sample_count_is_judged_once():
    """Nothing says how many samples were scored: the samples cannot be grown, only the runs."""
    r = tokens(0)
    j = Looks(r, r, r)
    s = gather.settle(j.job, lambda rec: ("model.eval_samples", 1000), "int8_ptq", [], TH)
    asked = [c[1] for c in j.calls]
    assert all(not any(o.startswith("model.eval_samples") for o in a) for a in asked)
    assert s.where == "inconclusive"


def test_one_timing_run_gives_no_speed_track_to_grow():
    r = drop_rec(0.001, 0.004, speed=STRADDLES, runs=1)
    j = Looks(r)
    s = gather.settle(j.job, lambda rec: ("model.eval_samples", 1000), "int8_ptq", [], TH)
    assert len(j.calls) == 1 and s.where == "inconclusive" and s.job == "int8_ptq"


def test_what_a_look_grew_stays_grown_in_the_next_look():
    """Look 2 doubles the samples and the runs; at look 3 only the samples still straddle: the
    runs stay at look 2's 10, not back to 5, and the samples go to 4x."""
    look1 = tokens(1000)
    look2 = tokens(2000)
    look2["latency"]["session_runs"] = 10
    look2["speedup_ci"] = [1.9, 2.1]  # speed settled at look 2
    look3 = tokens(4000)
    look3["latency"]["session_runs"] = 10
    look3["speedup_ci"] = [1.9, 2.1]
    j = Looks(look1, look2, look3)
    s = gather.settle(j.job, lambda r: ("model.eval_samples", 1000), "int8_ptq", ["x=1"], TH)
    assert j.calls == [
        ("int8_ptq", ["x=1"]),
        ("int8_ptq_look2", ["x=1", "model.eval_samples=2000", "latency.session_runs=10"]),
        ("int8_ptq_look3", ["x=1", "model.eval_samples=4000", "latency.session_runs=10"]),
    ]
    assert s.job == "int8_ptq_look3" and s.rec is look3 and len(s.looks) == 3
    assert s.where == "inconclusive" and "on 4000 validation samples" in s.why
    assert "timing runs" not in s.why  # the speed was settled at look 2


def test_a_straddling_first_look_ships_at_the_second():
    """The 0.3 % drop at 2,047 tokens straddles 1 % at look 1's boundary; look 2 ships it. The
    settled record is look 2's, and the trail line gives both looks."""
    lm = LM(0.003, sd=0.12)
    s = gather.settle(lm.job, lm.room, "int8_ptq", [], TH)
    assert s.where == "ship" and s.job == "int8_ptq_look2"
    assert s.rec["metric"]["n_samples"] == 4095
    assert [x.split(":")[0] for x in s.looks] == ["look 1", "look 2"]
    assert s.looks[0].endswith("-> inconclusive") and s.looks[1].endswith("-> ship")


def test_an_int8_that_does_not_fit_stops_the_walk_without_a_fallback():
    big = record(0.002, size=9_000_000)
    big["target_budget"] = {"max_size_mb": 5}
    s = Spy({"fp32_ptq": record(0.0, 1.0, precision="fp32"), "int8_ptq": big})
    t = s.walk()
    assert [c[0] for c in s.calls] == ["fp32_ptq", "int8_ptq"] and s.ranks == []
    assert steps(t)[-1] == ("INT8 PTQ", "int8_ptq", "unfit")
    assert decisions(t) == [("int8", "int8_ptq", None, None)]
    assert t.decisions[0].why.startswith("no INT8 to ship: Model size 9.0 MB exceeds")


def test_an_int4_that_does_not_fit_stops_its_walk_too():
    big = drop_rec(0.001, 0.004)
    big["target_budget"] = {"max_size_mb": 0.5}
    lm = LM(0.001)
    jobs = {"fp32_ptq": lm.job("fp32_ptq", []), "int8_ptq": drop_rec(0.001, 0.004),
            "int4_ptq": big}  # fmt: skip
    s = Spy(jobs)
    w = Walker(True, TH, s.job, s.rank, s.subset_drop)
    t = w.walk([], [])
    assert [c[0] for c in s.calls] == ["fp32_ptq", "int8_ptq", "int4_ptq"] and s.ranks == []
    assert [(d.precision, d.record) for d in t.decisions][1] == ("int4", None)
    assert t.decisions[1].why.startswith("no INT4 to ship: Model size")


def test_kept_layers_reach_hydra_as_the_same_strings():
    """Quotes, backslashes and ${ in a layer pattern survive Hydra's override parser and
    OmegaConf's resolution."""
    patterns = ["/model/layers.0/mlp/down_proj", "it's", "a\\b", "c\\'d", "x,y", "[z]", "e\\",
                "f\\\\", "${oc.env:HOME}", "g\\${h}", "layers\\.0"]  # fmt: skip
    parsed = OverridesParser.create().parse_override(f"model.keep_float={quoted(patterns)}")
    landed = OmegaConf.to_container(OmegaConf.create({"k": parsed.value()}), resolve=True)["k"]
    assert landed == patterns  # as the job's config holds them: no interpolation resolved
    assert quoted([]) == "[]"
