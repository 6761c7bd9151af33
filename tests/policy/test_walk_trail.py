"""The walk's trail and decisions, word for word: every step's figures and next step, each
decision's why and the fallback's bisection tables, for three walks through the fallback's
branches (QAT that cannot run, blocks and kinds not enough, a language model whose INT8
fallback breaks and whose INT4 mixed job fails). The numbers in them (drops, the aim, units
kept) are what a reader of decision.md acts on."""

from __future__ import annotations

from tests.policy.test_decide import record, units
from tests.policy.test_walk_calls import Spy


def trail(t) -> tuple[list, list, list]:
    steps = [(s.step, s.job, s.label, s.figures, s.then) for s in t.steps]
    return steps, [(d.precision, d.job, d.why) for d in t.decisions], t.sections


def test_qat_that_cannot_run_goes_to_a_split_fallback_that_ships():
    """INT8 in the QAT band, QAT skipped: rows set apart, one unit kept float ships."""
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02),
         "int8_qat": record(0.0, status="skipped", reason="no torch module"),
         "int8_ptq_mixed": record(0.003, 1.8)},
        {"auto": units(8, bad=("u5",))}, lambda p: 0.0 if "u5" in p else 0.02,
    )  # fmt: skip
    s.note = "probe: rtn"
    t = s.walk(split=(["dataset.selection_rows=9"], "rows 0-8 apart"))
    steps, decisions, sections = trail(t)
    assert steps == [
        ("FP32 reference", "fp32_ptq", "ok", "accuracy 0.9, 1 MB", "INT8 PTQ next"),
        (
            "INT8 PTQ",
            "int8_ptq",
            "try QAT",
            "accuracy 0.9 -> 0.882 (drop +2.00 %), speed 2.00x [1.90, 2.10], 1 MB (b)",
            "drop between the thresholds: QAT next",
        ),
        (
            "INT8 QAT",
            "int8_qat",
            "failed",
            "skipped: no torch module",
            "QAT cannot run here: mixed-precision fallback next",
        ),
        ("INT8 selection split", None, "apart", "rows 0-8 apart", "per-layer sensitivity next"),
        (
            "INT8 sensitivity (auto)",
            "rank_auto",
            "ranked",
            (
                "8 units on 10 samples; all quantized +20.00 %; worst: u5 (+10.00 %), u0 (+0.00 "
                "%), u1 (+0.00 %), u2 (+0.00 %), u3 (+0.00 %) (probe: rtn)"
            ),
            "bisect over the top 2 units for the fewest kept float",
        ),
        (
            "INT8 mixed",
            "int8_ptq_mixed",
            "ship",
            (
                "1 unit(s) kept float (u5); accuracy 0.9 -> 0.8973 (drop +0.30 %), speed 1.80x "
                "[1.71, 1.89], 1 MB (b); against every layer quantized: speed 2.00x -> 1.80x, size "
                "1 -> 1 MB"
            ),
            "ship: every interval clears its bar",
        ),
    ]
    assert decisions == [
        (
            "int8",
            "int8_ptq_mixed",
            (
                "A small loss: accuracy 0.8973 vs 0.9 baseline, -0.27 pp (0.30 relative % drop), "
                "within the 1 % ship threshold."
            ),
        ),
    ]
    assert sections == [
        (
            "### INT8 fallback by auto: units kept float, drop on the subset\n\nBisection over "
            "the ranking (aim: 0.75 x the threshold on the subset).\n\n| kept | units | drop % "
            "|\n|---:|---|---:|\n| 0 | (none) | +20.00 |\n| 1 | u5 | +0.00 |\n| 2 | u5, u0 | "
            "+0.00 |\n"
        ),
    ]


def test_blocks_and_kinds_that_cannot_reach_the_aim_say_stay_with_their_drops():
    """Over the QAT threshold: 2 of 8 blocks, then 2 of 9 blocks and kinds, leave 20 %."""
    kinds = [{"unit": "/l.*/down", "patterns": ["/l.*/down"], "drop": 0.1}]
    s = Spy({"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3)},
            {"auto": units(8, bad=("u1",)), "kind": kinds}, lambda p: 0.2)  # fmt: skip
    t = s.walk()
    steps, decisions, sections = trail(t)
    assert steps == [
        ("FP32 reference", "fp32_ptq", "ok", "accuracy 0.9, 1 MB", "INT8 PTQ next"),
        (
            "INT8 PTQ",
            "int8_ptq",
            "stay FP16",
            "accuracy 0.9 -> 0.63 (drop +30.00 %), speed 2.00x [1.90, 2.10], 1 MB (b)",
            "over the QAT threshold: per-layer sensitivity and mixed-precision fallback next",
        ),
        (
            "INT8 sensitivity (auto)",
            "rank_auto",
            "ranked",
            (
                "8 units on 10 samples; all quantized +20.00 %; worst: u1 (+10.00 %), u0 (+0.00 "
                "%), u2 (+0.00 %), u3 (+0.00 %), u4 (+0.00 %)"
            ),
            "bisect over the top 2 units for the fewest kept float",
        ),
        (
            "INT8 fallback (auto)",
            None,
            "not enough",
            "2 units kept float still drop +20.00 % on the subset (aim 2.25 %)",
            "next unit",
        ),
        (
            "INT8 sensitivity (auto + kind)",
            "rank_kind",
            "ranked",
            (
                "9 units on 10 samples; all quantized +20.00 %; worst: u1 (+10.00 %), /l.*/down "
                "(+10.00 %), u0 (+0.00 %), u2 (+0.00 %), u3 (+0.00 %)"
            ),
            "bisect over the top 2 units for the fewest kept float",
        ),
        (
            "INT8 fallback (auto + kind)",
            None,
            "not enough",
            "2 units kept float still drop +20.00 % on the subset (aim 2.25 %)",
            "stop: stay FP16/FP32",
        ),
    ]
    assert decisions == [
        (
            "int8",
            None,
            (
                "stay FP16/FP32: kept float, 2 of 8 auto units leave +20.00 %; 2 of 9 auto + kind "
                "units leave +20.00 % (raise --max-kept to keep more)"
            ),
        ),
    ]
    assert sections == [
        (
            "### INT8 fallback by auto: units kept float, drop on the subset\n\nBisection over "
            "the ranking (aim: 0.75 x the threshold on the subset).\n\n| kept | units | drop % "
            "|\n|---:|---|---:|\n| 0 | (none) | +20.00 |\n| 2 | u1, u0 | +20.00 |\n"
        ),
        (
            "### INT8 fallback by auto + kind: units kept float, drop on the "
            "subset\n\nBisection over the ranking (aim: 0.75 x the threshold on the "
            "subset).\n\n| kept | units | drop % |\n|---:|---|---:|\n| 0 | (none) | +20.00 "
            "|\n| 2 | u1, /l.\\*/down | +20.00 |\n"
        ),
    ]


def test_a_broken_int8_fallback_and_a_failed_int4_mixed_job_are_said_so():
    """A language model: the INT8 fallback's probe breaks, the INT4 mixed job fails."""
    s = Spy(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02),
         "int4_ptq": record(0.2, 2.5, precision="int4"),
         "int4_ptq_mixed": record(0.0, status="failed", reason="OOM\nmore")},
        {"auto": units(4, bad=("lm_head",))}, lambda p: 0.01 if "lm_head" in p else 0.2,
    )  # fmt: skip
    real = s.subset_drop

    def drop(over, key, patterns):
        if key == "model.keep_float":
            raise RuntimeError("probe broke\nsecond line")
        return real(over, key, patterns)

    s.subset_drop = drop
    t = s.walk(lm=True)
    steps, decisions, sections = trail(t)
    assert steps == [
        ("FP32 reference", "fp32_ptq", "ok", "accuracy 0.9, 1 MB", "INT8 PTQ next"),
        (
            "INT8 PTQ",
            "int8_ptq",
            "try QAT",
            "accuracy 0.9 -> 0.882 (drop +2.00 %), speed 2.00x [1.90, 2.10], 1 MB (b)",
            (
                "a language model: QAT is not walked (days of CPU training): per-layer sensitivity "
                "and mixed-precision fallback next"
            ),
        ),
        (
            "INT8 sensitivity (auto)",
            "rank_auto",
            "ranked",
            (
                "5 units on 10 samples; all quantized +20.00 %; worst: lm_head (+10.00 %), u0 "
                "(+0.00 %), u1 (+0.00 %), u2 (+0.00 %), u3 (+0.00 %)"
            ),
            "bisect over the top 1 units for the fewest kept float",
        ),
        ("INT8 fallback", None, "failed", "RuntimeError: probe broke", "stop"),
        (
            "INT4 PTQ",
            "int4_ptq",
            "stay FP16",
            "accuracy 0.9 -> 0.72 (drop +20.00 %), speed 2.50x [2.38, 2.62], 1 MB (b)",
            "no INT4 QAT path: per-block sensitivity and 8-bit layers next",
        ),
        (
            "INT4 sensitivity (auto)",
            "rank_auto",
            "ranked",
            (
                "5 units on 10 samples; all quantized +20.00 %; worst: lm_head (+10.00 %), u0 "
                "(+0.00 %), u1 (+0.00 %), u2 (+0.00 %), u3 (+0.00 %)"
            ),
            "bisect over the top 1 units for the fewest kept 8-bit",
        ),
        (
            "INT4 mixed",
            "int4_ptq_mixed",
            "failed",
            "1 unit(s) kept 8-bit (lm_head); failed: OOM; cost unknown",
            "stop",
        ),
    ]
    assert decisions == [
        ("int8", None, "the mixed-precision fallback failed: RuntimeError: probe broke"),
        ("int4", "int4_ptq_mixed", "the mixed job failed: OOM\nmore"),
    ]
    assert sections == [
        (
            "### INT4 fallback by auto: units kept 8-bit, drop on the subset\n\nBisection over "
            "the ranking (aim: 0.75 x the threshold on the subset).\n\n| kept | units | drop % "
            "|\n|---:|---|---:|\n| 0 | (none) | +20.00 |\n| 1 | lm_head | +1.00 |\n"
        ),
    ]
