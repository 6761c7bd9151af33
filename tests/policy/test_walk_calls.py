"""The walk's actions, spelled out: the exact overrides each fake job, ranking and subset
score receives, in order, and the job names the trail and the decisions record (a misspelt
override would run the wrong job; a wrong name would point the recipe at the wrong record)."""

from __future__ import annotations

from runner.policy.walk import Walker
from runner.report.verdict import Thresholds
from tests.policy.test_decide import record, units
from tests.policy.test_gather import LM

TH = Thresholds()
PTQ8 = ["precision=int8", "method=ptq"]
FP32 = ("fp32_ptq", ["precision=fp32", "method=ptq"])


class Spy:
    """Jobs from a table, rankings per unit, subset drops from a function; every call kept."""

    def __init__(self, jobs, rankings=None, drop_of=lambda p: 0.0, everything=0.2):
        self.jobs, self.rankings, self.drop_of, self.everything = (
            jobs,
            rankings or {},
            drop_of,
            everything,
        )
        self.calls, self.ranks, self.drops, self.note = [], [], [], ""

    def job(self, name, over):
        self.calls.append((name, list(over)))
        return self.jobs[name]

    def rank(self, over, unit):
        self.ranks.append((list(over), unit))
        return {"ranking": self.rankings.get(unit, []), "subset": {"rows": 10, "of": "samples"},
                "all_quantized": {"drop": self.everything}, "folder": f"rank_{unit}",
                "note": self.note}  # fmt: skip

    def subset_drop(self, over, key, patterns):
        self.drops.append((list(over), key, list(patterns)))
        return self.drop_of(patterns)

    def walk(self, int8=(), int4=(), lm=False, split=None):
        w = Walker(lm, TH, self.job, self.rank, self.subset_drop)
        if split:
            w.split = lambda full: split
        return w.walk(list(int8), list(int4))


def steps(t) -> list[tuple]:
    return [(s.step, s.job, s.label) for s in t.steps]


def decisions(t) -> list[tuple]:
    return [(d.precision, d.job, d.record, d.candidate) for d in t.decisions]


def test_an_int8_that_ships_runs_two_jobs_with_their_exact_overrides():
    ok = record(0.002)
    s = Spy({"fp32_ptq": record(0.0, 1.0, precision="fp32"), "int8_ptq": ok})
    t = s.walk(int8=["method.backend=ort_dynamic_int8"])
    assert s.calls == [FP32, ("int8_ptq", [*PTQ8, "method.backend=ort_dynamic_int8"])]
    assert steps(t) == [("FP32 reference", "fp32_ptq", "ok"), ("INT8 PTQ", "int8_ptq", "ship")]
    assert decisions(t) == [("int8", "int8_ptq", ok, None)]
    assert s.ranks == [] and s.drops == []


def test_qat_runs_without_the_ptq_backend_and_its_job_is_the_decision():
    qat = record(0.004, method="qat")
    s = Spy({"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02), "int8_qat": qat})
    t = s.walk(int8=["method.backend=ort_static_qdq"])
    assert s.calls == [
        FP32,
        ("int8_ptq", [*PTQ8, "method.backend=ort_static_qdq"]),
        ("int8_qat", ["precision=int8", "method=qat"]),
    ]
    assert steps(t) == [
        ("FP32 reference", "fp32_ptq", "ok"),
        ("INT8 PTQ", "int8_ptq", "try QAT"),
        ("INT8 QAT", "int8_qat", "ship"),
    ]
    assert decisions(t) == [("int8", "int8_qat", qat, None)]


def test_the_fallback_passes_the_split_and_the_kept_layers_to_every_action():
    mixed = record(0.003, 1.8)
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02),
         "int8_qat": record(0.02, method="qat"), "int8_ptq_mixed": mixed},
        {"auto": units(8, bad=("u5",))}, lambda p: 0.0 if "u5" in p else 0.02,
    )  # fmt: skip
    t = s.walk(int8=["method.backend=b"], split=(["dataset.selection_rows=9"], "rows apart"))
    over = [*PTQ8, "method.backend=b", "dataset.selection_rows=9"]
    assert s.calls == [
        FP32,
        ("int8_ptq", [*PTQ8, "method.backend=b"]),
        ("int8_qat", ["precision=int8", "method=qat"]),
        ("int8_ptq_mixed", [*over, "model.keep_float=['u5']"]),
    ]
    assert s.ranks == [(over, "auto")]  # found among the blocks: no ranking by kind
    assert s.drops[0] == (over, "model.keep_float", ["u5", "u0"])  # n_max = 2 of 8 units
    assert all(d[:2] == (over, "model.keep_float") for d in s.drops)
    assert [d[2] for d in s.drops] == [["u5", "u0"], ["u5"]]
    assert steps(t) == [
        ("FP32 reference", "fp32_ptq", "ok"),
        ("INT8 PTQ", "int8_ptq", "try QAT"),
        ("INT8 QAT", "int8_qat", "qat"),
        ("INT8 selection split", None, "apart"),
        ("INT8 sensitivity (auto)", "rank_auto", "ranked"),
        ("INT8 mixed", "int8_ptq_mixed", "ship"),
    ]
    assert decisions(t) == [("int8", "int8_ptq_mixed", mixed, None)]


def test_blocks_then_kinds_rank_the_same_overrides_and_name_each_pass():
    kinds = [
        {"unit": "/l.*/down", "patterns": ["/l.*/down"], "drop": 0.1},
        {"unit": "/l.*/up", "patterns": ["/l.*/up"], "drop": 0.0},
    ]
    mixed = record(0.002, 1.6)
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3), "int8_ptq_mixed": mixed},
        {"auto": units(8), "kind": kinds}, lambda p: 0.001 if "/l.*/down" in p else 0.3,
    )  # fmt: skip
    t = s.walk()
    assert s.ranks == [(PTQ8, "auto"), (PTQ8, "kind")]
    assert s.calls[-1] == ("int8_ptq_mixed", [*PTQ8, "model.keep_float=['/l.*/down']"])
    assert steps(t)[2:] == [
        ("INT8 sensitivity (auto)", "rank_auto", "ranked"),
        ("INT8 fallback (auto)", None, "not enough"),
        ("INT8 sensitivity (auto + kind)", "rank_kind", "ranked"),
        ("INT8 mixed", "int8_ptq_mixed", "ship"),
    ]
    assert decisions(t) == [("int8", "int8_ptq_mixed", mixed, None)]


def test_a_language_model_walks_int4_with_its_own_overrides_and_8_bit_layers():
    int8, mixed = record(0.003), record(0.02, 2.3, precision="int4")
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": int8,
         "int4_ptq": record(0.2, 2.5, precision="int4"), "int4_ptq_mixed": mixed},
        {"auto": units(8, bad=("lm_head",))}, lambda p: 0.01 if "lm_head" in p else 0.2,
    )  # fmt: skip
    t = s.walk(int4=["precision.int4_algorithm=gptq"], lm=True)
    int4 = ["precision=int4", "method=ptq", "precision.int4_algorithm=gptq"]
    assert s.calls == [
        FP32,
        ("int8_ptq", PTQ8),
        ("int4_ptq", int4),
        ("int4_ptq_mixed", [*int4, "model.int8_layers=['lm_head']"]),
    ]
    assert s.ranks == [(int4, "auto")]
    assert {d[1] for d in s.drops} == {"model.int8_layers"} and s.drops[-1][0] == int4
    assert steps(t) == [
        ("FP32 reference", "fp32_ptq", "ok"),
        ("INT8 PTQ", "int8_ptq", "ship"),
        ("INT4 PTQ", "int4_ptq", "stay FP16"),
        ("INT4 sensitivity (auto)", "rank_auto", "ranked"),
        ("INT4 mixed", "int4_ptq_mixed", "try QAT"),
    ]
    assert decisions(t) == [
        ("int8", "int8_ptq", int8, None),
        ("int4", "int4_ptq_mixed", None, mixed),
    ]


def test_a_failed_reference_runs_nothing_else_and_names_no_job():
    s = Spy({"fp32_ptq": record(0.0, 1.0, status="failed", reason="boom")})
    t = s.walk(lm=True)
    assert s.calls == [FP32]
    assert steps(t) == [("FP32 reference", "fp32_ptq", "failed")]
    assert decisions(t) == [("int8", None, None, None)] and "boom" in t.decisions[0].why


def test_each_look_runs_under_its_own_name_with_the_grown_setting_only():
    lm = LM(0.0095)
    t = lm.walk()
    assert [c for c in lm.calls if c[0].startswith("int8")] == [
        ("int8_ptq", PTQ8),
        ("int8_ptq_look2", [*PTQ8, "model.eval_tokens=4096"]),
        ("int8_ptq_look3", [*PTQ8, "model.eval_tokens=8192"]),
    ]
    assert steps(t)[1] == ("INT8 PTQ", "int8_ptq_look3", "inconclusive")
    assert [(d.precision, d.job, d.record) for d in t.decisions][0] == (
        "int8",
        "int8_ptq_look3",
        None,
    )


def test_a_speed_look_asks_for_twice_the_timing_runs_and_nothing_else():
    lm = LM(0.0, sd=0.05, speedup=1.07, spread=0.06)
    lm.walk()
    int8 = [c for c in lm.calls if c[0].startswith("int8")]
    assert int8[:2] == [("int8_ptq", PTQ8), ("int8_ptq_look2", [*PTQ8, "latency.session_runs=10"])]
