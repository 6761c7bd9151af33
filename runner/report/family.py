"""The family-wise risk of a recommendation that picks the best of K candidates.

Each candidate's "ship" is a one-sided call at (1 - confidence) / 2 (2.5 % at 95 %): a
candidate whose true drop sits at the ship bar ships at most that often. A sweep judging K
candidates and recommending one of the ships gives K such chances: the risk that some
candidate at or past the bar ships, and may be the one recommended, is at most K x 2.5 %
(Bonferroni, whatever the dependence between the calls; about 1 - 0.975^K if independent).
Where the recommended row's per-sample outcomes are at hand, its drop interval is re-made at
the Bonferroni level 1 - (1 - confidence) / K: clearing the bar there holds the family-wise
risk at 2.5 %.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from runner.report.outcomes import drop_interval_at

NOT_CANDIDATES = ("baseline", "skipped", "failed")


def candidates(group: pd.DataFrame) -> int:
    """How many candidates the group's verdicts judged (ok rows other than the baseline)."""
    ok = group.status == "ok" if "status" in group else pd.Series(True, group.index)
    return int((ok & ~group.verdict.isin(NOT_CANDIDATES)).sum())


def family_note(k: int, metric: dict[str, Any], outcomes: Any, ship_below: float,
                confidence: float = 0.95) -> str:  # fmt: skip
    """One sentence: the family-wise risk of recommending the best of k candidates, and
    whether the recommended one's drop still clears the bar at the Bonferroni level."""
    one = (1.0 - confidence) / 2.0
    if k <= 1:
        return f"One candidate judged: the risk that it ships past the bar is at most {one:.1%}."
    bound, independent = min(1.0, k * one), 1.0 - (1.0 - one) ** k
    head = (
        f"Best of {k} candidates judged at the {100 * ship_below:g} % line, each call at "
        f"{one:.1%}: the family-wise risk that one past the line ships is at most {bound:.0%} "
        f"({independent:.0%} if independent)"
    )
    level = 1.0 - (1.0 - confidence) / k
    ci = drop_interval_at(metric, outcomes, level)
    if ci is None:
        return f"{head}; without its per-sample outcomes it is not re-judged at {level:.2%}."
    if ci[1] < ship_below:
        return (
            f"{head}; at the Bonferroni level {level:.2%} its drop interval [{100 * ci[0]:.2f}, "
            f"{100 * ci[1]:.2f}] % still clears the line: family-wise risk at most {one:.1%}."
        )
    return (
        f"{head}; at the Bonferroni level {level:.2%} its drop interval [{100 * ci[0]:.2f}, "
        f"{100 * ci[1]:.2f}] % reaches the line, so that risk stands: more validation samples "
        "would lower it."
    )
