"""The family-wise risk of recommending the best of K candidates, stated and, with outcomes,
re-judged at the Bonferroni level."""

from __future__ import annotations

from runner.core.stats import tango_delta_ci
from runner.report.family import family_note
from runner.report.summary import summarize
from tests.records import baseline_record, flips, make_record, write_job


def _accuracy(base, cand) -> dict:
    return {"name": "accuracy", "higher_is_better": True, "value": float(cand.mean()),
            "baseline": float(base.mean())}  # fmt: skip


def test_the_bound_for_eight_candidates_is_k_times_the_one_sided_rate():
    note = family_note(8, _accuracy(*flips(500, 450, 0, 0)), None, 0.01)
    assert "Best of 8 candidates" in note and "at most 20%" in note  # 8 x 2.5 %
    assert f"({1 - 0.975**8:.0%} if independent)" == "(18% if independent)"
    assert "(18% if independent)" in note and "at the 1 % line" in note
    assert "not re-judged at 99.38%" in note
    assert "at most 2.5%" in family_note(1, {}, None, 0.01)


def test_with_outcomes_the_recommended_row_is_re_judged_at_the_bonferroni_level():
    clear = flips(5000, 4500, 0, 0)  # agrees everywhere: clears 1 % even at 99.4 %
    note = family_note(8, _accuracy(*clear), clear, 0.01)
    lo, hi = tango_delta_ci(0, 0, 5000, 1 - 0.05 / 8)  # written out: Tango at 99.375 %
    assert f"[{-100 * hi / 0.9:.2f}, {-100 * lo / 0.9:.2f}] % still clears" in note
    assert "family-wise risk at most 2.5%" in note
    near = flips(500, 450, 3, 0)  # a 0.67 % drop, n = 500: clears at 95 %? not at 99.4 %
    note = family_note(8, _accuracy(*near), near, 0.01)
    assert "reaches the line, so that risk stands" in note


def test_the_summary_states_the_risk_beside_its_recommendation(tmp_path):
    write_job(tmp_path, "0", baseline_record())
    for i, precision in enumerate(("int8", "int4", "fp16")):
        write_job(tmp_path, f"{i + 1}", make_record(precision, drop=0.001,
                                                    task="language_modeling"))  # fmt: skip
    s = summarize(tmp_path, write=False)
    assert "Best of 3 candidates judged" in s.recommendations[0].why
    assert "at most 8%" in s.recommendations[0].why  # 3 x 2.5 %
    assert "Best of 3" in s.text


def test_the_bound_never_exceeds_one():
    assert "at most 100%" in family_note(50, {}, None, 0.01)


def test_two_candidates_are_a_family_and_the_interval_is_said_in_percent():
    near = flips(500, 450, 3, 0)
    note = family_note(2, _accuracy(*near), near, 0.01)
    assert note.startswith("Best of 2 candidates") and "at most 5%" in note  # 2 x 2.5 %
    lo, hi = tango_delta_ci(3, 0, 500, 1 - 0.05 / 2)  # written out: Tango at 97.5 %
    assert (
        f"level 97.50% its drop interval [{-100 * hi / 0.9:.2f}, {-100 * lo / 0.9:.2f}] % "
        "reaches the line, so that risk stands: more validation samples would lower it."
    ) in note


def test_an_interval_ending_on_the_line_does_not_clear_it(monkeypatch):
    import runner.report.family as family

    monkeypatch.setattr(family, "drop_interval_at", lambda m, o, level: (0.0123, 0.02))
    assert "[1.23, 2.00] % reaches the line" in family_note(3, {}, (), 0.02)
    monkeypatch.setattr(family, "drop_interval_at", lambda m, o, level: (0.0123, 0.0199))
    assert "[1.23, 1.99] % still clears the line" in family_note(3, {}, (), 0.02)


def test_candidates_counts_ok_rows_that_are_not_the_baseline():
    import pandas as pd

    from runner.report.family import candidates

    verdicts = ["baseline", "ship", "hold", "skipped", "failed", "inconclusive", "ship"]
    status = ["ok", "ok", "ok", "ok", "ok", "ok", "failed"]
    t = pd.DataFrame({"verdict": verdicts, "status": status})
    assert candidates(t) == 3  # ship, hold, inconclusive; the failed job's ship is not judged
    assert candidates(t.drop(columns="status")) == 4  # no status column: every row is ok
    assert candidates(t.drop(columns="status").set_index(pd.Index(list("abcdefg")))) == 4
