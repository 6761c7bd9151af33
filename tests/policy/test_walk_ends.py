"""The walk's ends that the other walk tests do not spell out, word for word: a mixed candidate
in the QAT band, inconclusive or over the bar; INT8 PTQ and QAT that stop the walk; INT8 and
INT4 inconclusive after their looks; the echo, the split's input, a fallback error with an
empty or a long message, and a subset on which every unit quantized already meets the aim.
decision.md and the recipes are written from exactly these steps and decisions."""

from __future__ import annotations

import pytest

from runner.policy.walk import Walker
from tests.policy.test_decide import record, units
from tests.policy.test_gather import LM
from tests.policy.test_walk_calls import TH, Spy

REF = ("FP32 reference", "fp32_ptq", "ok", "accuracy 0.9, 1 MB", "INT8 PTQ next")
SPEED = "speed 1.80x [1.71, 1.89], 1 MB (b)"
COST = "against every layer quantized: speed 2.00x -> 1.80x, size 1 -> 1 MB"
STRADDLE = (
    "inconclusive: the drop's interval at the look's boundary [-0.31, 1.91] % straddles the 1 % "
    "bar on 5000 validation samples; about 315310 validation samples (~310310 more) would "
    "settle it"
)
QAT_BAND = (
    "Accuracy 0.882 vs 0.9 baseline, -1.80 pp (2.00 relative % drop), between the 1 % and 3 % "
    "thresholds: the sweep ran no QAT for this combination: add method=qat."
)
OVER = (
    "Accuracy 0.63 vs 0.9 baseline, -27.00 pp (30.00 relative % drop), above the 3 % threshold: "
    "stay FP16 or use bigger hardware."
)


def ended(t) -> tuple[tuple, list[tuple]]:
    """The last step in full, and every decision with its record, candidate and why."""
    s = t.steps[-1]
    decisions = [(d.precision, d.job, d.record, d.candidate, d.why) for d in t.decisions]
    return (s.step, s.job, s.label, s.figures, s.then), decisions


def mixed_walk(mixed: dict):
    """INT8 PTQ over the QAT bar; keeping u5 float meets the aim; `mixed` is its job."""
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3), "int8_ptq_mixed": mixed},
        {"auto": units(8, bad=("u5",))}, lambda p: 0.0 if "u5" in p else 0.2,
    )  # fmt: skip
    return s.walk()


def test_a_mixed_candidate_in_the_qat_band_is_the_next_steps_candidate_not_shipped():
    mixed = record(0.02, 1.8)
    step, decisions = ended(mixed_walk(mixed))
    assert step == (
        "INT8 mixed",
        "int8_ptq_mixed",
        "try QAT",
        f"1 unit(s) kept float (u5); accuracy 0.9 -> 0.882 (drop +2.00 %), {SPEED}; {COST}",
        "within the QAT band: QAT with these layers float is the next step (not walked: the "
        "QAT backends do not take keep_float)",
    )
    why = f"QAT band with these layers float: {QAT_BAND}"
    assert decisions == [("int8", "int8_ptq_mixed", None, mixed, why)]


def test_an_inconclusive_mixed_candidate_ships_nothing_yet_and_says_why():
    step, decisions = ended(mixed_walk(record(0.008, 1.8, ci=0.01)))
    assert step == (
        "INT8 mixed",
        "int8_ptq_mixed",
        "inconclusive",
        f"1 unit(s) kept float (u5); accuracy 0.9 -> 0.8928 (drop +0.80 %), {SPEED}; {COST}",
        f"stop: {STRADDLE}",
    )
    assert decisions == [("int8", "int8_ptq_mixed", None, None, f"no INT8 to ship yet: {STRADDLE}")]


def test_a_mixed_candidate_over_the_qat_bar_says_stay():
    step, decisions = ended(mixed_walk(record(0.3, 1.8)))
    assert step == (
        "INT8 mixed",
        "int8_ptq_mixed",
        "stay",
        f"1 unit(s) kept float (u5); accuracy 0.9 -> 0.63 (drop +30.00 %), {SPEED}; {COST}",
        "stop: stay FP16/FP32",
    )
    assert decisions == [("int8", "int8_ptq_mixed", None, None, f"stay FP16/FP32: {OVER}")]


NOGAIN = (
    "0.90x the baseline's speed (95% CI [0.85, 0.95]x), below the 1.05x that counts as faster: "
    "no gain."
)


@pytest.mark.parametrize(
    "ptq, step, decision",
    [
        (
            record(0.002),
            ("ship", "accuracy 0.9 -> 0.8982 (drop +0.20 %), speed 2.00x [1.90, 2.10], 1 MB (b)",
             "ship: every interval clears its bar"),
            (True, "A small loss: accuracy 0.8982 vs 0.9 baseline, -0.18 pp (0.20 relative % "
             "drop), within the 1 % ship threshold."),
        ),
        (
            record(0.008, ci=0.01),
            ("inconclusive", "accuracy 0.9 -> 0.8928 (drop +0.80 %), speed 2.00x [1.90, 2.10], "
             "1 MB (b)", f"stop: {STRADDLE}"),
            (False, f"no INT8 to ship yet: {STRADDLE}"),
        ),
        (
            record(0.002, 0.9),
            ("nogain", "accuracy 0.9 -> 0.8982 (drop +0.20 %), speed 0.90x [0.85, 0.95], 1 MB (b)",
             f"stop: {NOGAIN}"),
            (False, f"no INT8 to ship: {NOGAIN}"),
        ),
        (
            record(0.0, status="failed", reason="boom\nmore"),
            ("failed", "failed: boom", "stop: boom\nmore"),
            (False, "no INT8 to ship: boom\nmore"),
        ),
    ],
    ids=["ship", "inconclusive", "nogain", "failed"],
)  # fmt: skip
def test_an_int8_ptq_that_settles_ends_the_walk_in_its_own_words(ptq, step, decision):
    s = Spy({"fp32_ptq": record(0.0, 1.0), "int8_ptq": ptq})
    t = s.walk()
    assert [(x.step, x.job, x.label, x.figures, x.then) for x in t.steps] == [
        REF,
        ("INT8 PTQ", "int8_ptq", *step),
    ]
    shipped, why = decision
    assert ended(t)[1] == [("int8", "int8_ptq", ptq if shipped else None, None, why)]
    assert s.ranks == []


LOOKS = (
    "perplexity 10 -> 10.1 (drop +0.95 %), speed 2.00x [1.95, 2.05], 1 MB (b); look 1: 2047 "
    "scored tokens at z 4.33, 5 timing runs at z 2.37 -> inconclusive; look 2: 4095 scored "
    "tokens at z 2.96, 5 timing runs at z 2.37 -> inconclusive; look 3: 8191 scored tokens at z "
    "1.97, 5 timing runs at z 2.37 -> inconclusive"
)
LM_WHY = (
    "inconclusive: the drop's interval at the look's boundary [0.51, 1.39] % straddles the 1 % "
    "bar on 8191 scored tokens; about 1274193 scored tokens (~1266002 more) would settle it"
)


def test_int8_and_int4_inconclusive_after_three_looks_list_each_look():
    t = LM(0.0095).walk()
    assert [(s.step, s.job, s.label, s.figures, s.then) for s in t.steps[1:]] == [
        ("INT8 PTQ", "int8_ptq_look3", "inconclusive", LOOKS, f"stop: {LM_WHY}"),
        ("INT4 PTQ", "int4_ptq_look3", "inconclusive", LOOKS, f"stop: {LM_WHY}"),
    ]
    assert [(d.precision, d.job, d.record, d.why) for d in t.decisions] == [
        ("int8", "int8_ptq_look3", None, f"no INT8 to ship yet: {LM_WHY}"),
        ("int4", "int4_ptq_look3", None, f"no INT4 to ship yet: {LM_WHY}"),
    ]


def test_an_int4_ptq_that_ships_is_named_int4_ptq():
    int4 = record(0.002, 2.5, precision="int4")
    s = Spy({"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.002), "int4_ptq": int4})
    t = s.walk(lm=True)
    assert [(x.step, x.job, x.label) for x in t.steps][-1] == ("INT4 PTQ", "int4_ptq", "ship")
    assert [(d.precision, d.job, d.record) for d in t.decisions][-1] == ("int4", "int4_ptq", int4)


def test_an_inconclusive_qat_stops_the_walk_before_the_fallback():
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02),
         "int8_qat": record(0.008, ci=0.01, method="qat")},
    )  # fmt: skip
    t = s.walk()
    assert ended(t) == (
        (
            "INT8 QAT",
            "int8_qat",
            "inconclusive",
            "accuracy 0.9 -> 0.8928 (drop +0.80 %), speed 2.00x [1.90, 2.10], 1 MB (b)",
            f"stop: {STRADDLE}",
        ),
        [("int8", "int8_qat", None, None, f"no INT8 to ship yet: {STRADDLE}")],
    )
    assert s.ranks == [] and [c[0] for c in s.calls][-1] == "int8_qat"


@pytest.mark.parametrize("drop, where", [(0.02, "qat"), (0.3, "stay")])
def test_a_qat_that_ran_short_says_so_not_that_it_cannot_run(drop, where):
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02),
         "int8_qat": record(drop, method="qat")},
    )  # fmt: skip
    t = s.walk()
    qat = next(x for x in t.steps if x.step == "INT8 QAT")
    assert (qat.label, qat.then) == (
        where,
        f"QAT did not reach the ship threshold ({where}): mixed precision next",
    )


def test_a_failed_reference_says_so_in_its_decision():
    s = Spy({"fp32_ptq": record(0.0, 1.0, status="failed", reason="boom\nmore")})
    t = s.walk()
    assert [d.why for d in t.decisions] == ["the FP32 reference failed: failed: boom"]


def test_each_step_is_echoed_as_it_is_added():
    jobs = {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.002)}
    lines: list[str] = []
    w = Walker(False, TH, lambda name, over: jobs[name], None, None, echo=lines.append)
    w.walk([], [])
    assert lines == [
        "[decide] FP32 reference: ok - accuracy 0.9, 1 MB\n         -> INT8 PTQ next",
        "[decide] INT8 PTQ: ship - accuracy 0.9 -> 0.8982 (drop +0.20 %), speed 2.00x [1.90, "
        "2.10], 1 MB (b)\n         -> ship: every interval clears its bar",
    ]


def test_the_split_is_asked_with_the_fully_quantized_record():
    full = record(0.3)
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": full, "int8_ptq_mixed": record(0.002)},
        {"auto": units(8, bad=("u5",))}, lambda p: 0.0 if "u5" in p else 0.2,
    )  # fmt: skip
    asked = []
    w = Walker(False, TH, s.job, s.rank, s.subset_drop, split=lambda rec: asked.append(rec))
    w.walk([], [])
    assert len(asked) == 1 and asked[0] is full


@pytest.mark.parametrize(
    "exc, why",
    [
        (RuntimeError(), "RuntimeError: "),
        (ValueError("x" * 400 + "\nsecond"), "ValueError: " + "x" * 300),
    ],
    ids=["empty", "long"],
)
def test_a_fallback_error_is_said_in_one_line_and_int4_still_walks(exc, why):
    int4 = record(0.002, 2.5, precision="int4")
    s = Spy({"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3), "int4_ptq": int4})

    def rank(over, unit):
        raise exc

    s.rank = rank
    t = s.walk(lm=True)
    assert [(x.step, x.job, x.label, x.figures, x.then) for x in t.steps[2:]][0] == (
        "INT8 fallback",
        None,
        "failed",
        why,
        "stop",
    )
    assert [(d.precision, d.job, d.record, d.why) for d in t.decisions] == [
        ("int8", None, None, f"the mixed-precision fallback failed: {why}"),
        ("int4", "int4_ptq", int4, t.decisions[1].why),
    ]


def test_a_subset_that_already_meets_the_aim_keeps_nothing_and_says_why():
    """All quantized drops 0.5 % on the subset (under 0.75 x the 1 % bar) while the judged job
    drops 30 %: no search (every k would only cost speed), no mixed job, and no made-up drop."""
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3)},
        {"auto": units(8, bad=("u5",))}, lambda p: 0.0, everything=0.005,
    )  # fmt: skip
    t = s.walk()
    assert s.drops == [] and [c[0] for c in s.calls] == ["fp32_ptq", "int8_ptq"]
    left = "n/a (all quantized +0.50 % meets the aim: nothing to keep)"
    step = t.steps[-1]
    assert (step.step, step.job, step.label, step.figures, step.then) == (
        "INT8 fallback (auto)",
        None,
        "not enough",
        f"2 units kept float still drop {left} on the subset (aim 2.25 %)",
        "next unit",
    )
    assert ended(t)[1] == [
        (
            "int8",
            None,
            None,
            None,
            f"stay FP16/FP32: kept float, 2 of 8 auto units leave {left} (raise --max-kept to "
            "keep more)",
        )
    ]
    assert t.sections[0].endswith("| 0 | (none) | +0.50 |\n")
