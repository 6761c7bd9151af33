"""decide's boundaries: records whose drop sits exactly on the 1 % and 3 % thresholds, a CI
whose end sits on one, and subset drops exactly on the fallback's noise margin.

The drops are exact in binary floating point: a baseline of 100 and a value of 99 give
(100 - 99) / 100 == 0.01, the same double as the threshold 0.01. The expected bands are the
documented rule, written out here: ship when the drop is BELOW ship_below, QAT up to AND
INCLUDING qat_below, stay above it; the fallback's target counts as met AT MARGIN x threshold.
"""

from __future__ import annotations

import math

import pytest

from runner.policy import walk
from runner.policy.gather import standing
from runner.policy.walk import Walker, search
from runner.report.verdict import Thresholds, verdict

TH = Thresholds()  # ship below 1 %, QAT up to 3 %


def rec(value: float, base: float = 100.0, ci=None, higher_is_better: bool = True) -> dict:
    """An ok INT8 candidate with a clear speed gain: only the metric decides its band."""
    return {
        "status": "ok",
        "reason": None,
        "axes": {"model": "m", "dataset": "d", "precision": "int8", "method": "ptq",
                 "target": "t", "backend": "b"},
        "task": "classification",
        "metric": {"name": "score", "higher_is_better": higher_is_better, "value": value,
                   "baseline": base, "ci95": ci, "n_samples": 10_000},
        "speedup": 2.0, "speedup_ci": [1.9, 2.1], "latency": {"p50_ms": 1.0},
        "size_bytes": 1, "baseline_size_bytes": 4, "quantized_fraction": 1.0,
        "target_budget": {},
    }  # fmt: skip


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


def test_the_drops_below_are_exactly_on_the_thresholds():
    assert (100.0 - 99.0) / 100.0 == TH.ship_below == 0.01
    assert (100.0 - 97.0) / 100.0 == TH.qat_below == 0.03
    assert (101.0 - 100.0) / 100.0 == 0.01  # lower is better: a rise is the drop


@pytest.mark.parametrize(
    ("value", "higher_is_better", "where", "label"),
    [
        (99.0, True, "qat", "try QAT"),  # exactly 1 %: not below the ship threshold
        (99.5, True, "ship", "ship"),
        (above(99.0), True, "ship", "ship"),  # a hair under 1 %
        (97.0, True, "qat", "try QAT"),  # exactly 3 %: still within the QAT band
        (below(97.0), True, "stay", "stay FP16"),  # a hair over 3 %
        (101.0, False, "qat", "try QAT"),  # perplexity-like: exactly 1 % worse
        (below(101.0), False, "ship", "ship"),
        (103.0, False, "qat", "try QAT"),  # exactly 3 % worse
        (above(103.0), False, "stay", "stay FP16"),
        (100.0, True, "ship", "ship"),  # no change
    ],
)
def test_band_and_verdict_at_the_thresholds(value, higher_is_better, where, label):
    r = rec(value, higher_is_better=higher_is_better)
    assert standing(r, TH)[0] == where
    assert verdict(r, TH).label == label


def test_other_thresholds_move_the_boundaries_with_them():
    th = Thresholds(ship_below=0.02, qat_below=0.05)
    assert [standing(rec(v), th)[0] for v in (98.0, above(98.0), 95.0, below(95.0))] == [
        "qat",
        "ship",
        "qat",
        "stay",
    ]
    same = Thresholds(ship_below=0.03, qat_below=0.03)  # no QAT band at all
    assert [standing(rec(v), same)[0] for v in (97.0, above(97.0), below(97.0))] == [
        "qat",
        "ship",
        "stay",
    ]


def test_thresholds_refuse_an_inverted_order_but_take_equal_ones():
    Thresholds(ship_below=0.0, qat_below=0.0)
    with pytest.raises(ValueError, match="ship_below <= qat_below"):
        Thresholds(ship_below=0.03, qat_below=0.01)
    with pytest.raises(ValueError, match="0 <= ship_below"):
        Thresholds(ship_below=-0.01, qat_below=0.03)


@pytest.mark.parametrize(
    ("ci", "straddles"),
    [
        ([-2.0, -1.0], False),  # drop CI [1 %, 2 %]: its low end ON the 1 % bar, no straddle
        ([-3.0, -1.0], False),  # [1 %, 3 %]: both ends on a bar
        ([-2.0, -0.5], True),  # [0.5 %, 2 %]: straddles 1 %
        ([-3.5, -1.0], True),  # [1 %, 3.5 %]: straddles 3 %
    ],
)
def test_a_ci_ending_on_a_threshold_does_not_straddle_it(ci, straddles):
    r = rec(98.5, ci=ci)  # drop 1.5 %: the QAT band by its point, never decided on it
    where, _, needs = standing(r, TH)
    assert (where, needs) == (("inconclusive", {"samples"}) if straddles else ("qat", set()))
    assert verdict(r, TH).label == ("inconclusive" if straddles else "try QAT")


# --- the fallback's noise margin: "already met" and the bisection's target -------------------


def test_the_margin_is_three_quarters_of_a_threshold():
    assert walk.MARGIN == 0.75
    assert 0.75 * 0.01 == 0.0075 and 0.75 * 0.03 == 0.0225  # exact: the values used below


class Fakes:
    """A language model's walk: FP32, INT8 in the QAT band (so the fallback runs), INT4 ships;
    the ranking and subset drops come from the test."""

    def __init__(self, everything: float, drop_of, n: int = 8):
        self.everything, self.drop_of, self.evaluated, self.jobs = everything, drop_of, [], []
        self.ranking = [{"unit": f"u{i}", "patterns": [f"u{i}"], "drop": 0.1 - i / 100}
                        for i in range(n)]  # fmt: skip

    def job(self, name, overrides):
        self.jobs.append(name)
        return {
            "fp32_ptq": rec(100.0),
            "int8_ptq": rec(98.0),  # 2 %: QAT band; a language model skips QAT
            "int4_ptq": rec(99.9),
            "int8_ptq_mixed": rec(99.9),
        }[name]

    def rank(self, over, unit):
        return {
            "ranking": self.ranking if unit == "auto" else [],
            "subset": {"rows": 10, "of": "windows"},
            "all_quantized": {"drop": self.everything},
        }

    def subset_drop(self, over, key, patterns):
        self.evaluated.append(len(patterns))
        return self.drop_of(len(patterns))

    def walk(self):
        w = Walker(True, TH, self.job, self.rank, self.subset_drop, max_kept=1.0, units=("auto",))
        return w.walk([], [])


@pytest.mark.parametrize(
    ("everything", "searched"),
    [(0.0075, False), (above(0.0075), True), (0.009, True)],
)
def test_already_met_at_exactly_the_margin_of_the_ship_threshold(everything, searched):
    f = Fakes(everything, lambda k: 0.1)  # keeping layers never helps enough
    f.walk()
    # the ship search first checks n_max; the QAT target (0.0225) is met already either way
    assert f.evaluated == ([8] if searched else [])
    assert "int8_ptq_mixed" not in f.jobs


@pytest.mark.parametrize(
    ("everything", "searched"),
    [(0.0225, False), (above(0.0225), True), (0.025, True)],
)
def test_already_met_at_exactly_the_margin_of_the_qat_threshold(everything, searched):
    f = Fakes(everything, lambda k: 0.02 if k >= 3 else 0.1)  # never ships; QAT from 3 kept
    t = f.walk()
    int8 = next(d for d in t.decisions if d.precision == "int8")
    if searched:  # bisection for the fewest units that bring the subset within 2.25 %
        assert f.evaluated[0] == 8 and "int8_ptq_mixed" in f.jobs
        mixed = next(s for s in t.steps if s.job == "int8_ptq_mixed")
        assert mixed.figures.startswith("3 unit(s) kept float (u0, u1, u2)")
    else:  # only the ship search's check of n_max
        assert f.evaluated == [8] and "int8_ptq_mixed" not in f.jobs
        assert int8.record is None


def test_a_subset_drop_exactly_on_the_target_counts_as_met():
    target = 0.0075
    drops = {k: (target if k >= 5 else above(target)) for k in range(0, 9)}
    assert search(lambda k: drops[k], 8, target, {}) == 5
    assert search(lambda k: above(target), 8, target, {}) is None
