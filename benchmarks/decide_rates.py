"""decide's ship rates at a true drop on the bar (issue 22, items 2 and 3), simulated:

    python benchmarks/decide_rates.py [reps]      # 2000 by default; also run by coverage.py

4. with its evidence gathering: a language model whose true perplexity rise is exactly the
   1 % ship bar, per-token NLL differences dependent within the text (a moving average of
   20 tokens), judged by runner.policy.gather.settle (up to 3 looks: 2,047, 4,095, 8,191
   scored tokens, O'Brien-Fleming-type spending) on records made by runner.job.evaluate
   (the interval over blocks of tokens); beside it the same looks at the fixed 95 % every
   time, and the former rule (an interval across the bar follows its point estimate).
5. selection, then verdict: 8 candidates, each truly 1 % worse in accuracy (0.90 -> 0.891),
   the best on the first 256 of 2,000 validation rows chosen, then judged (Tango's interval
   and the verdict): on all 2,000 rows (they contain the 256; the former way) or on the
   1,744 after them (dataset.selection_rows, what decide does now).
Goals: both <= 2.5 %.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.core import stats  # noqa: E402
from runner.job import evaluate  # noqa: E402
from runner.policy import gather  # noqa: E402
from runner.report.verdict import Thresholds, judge_candidate  # noqa: E402

TOKENS, SD, SPAN = 2048, 0.1, 20  # first look's eval_tokens; per-token sd; dependence span


def lm_record(base: np.ndarray, cand: np.ndarray) -> dict:
    """A language model's ok record from its per-token NLLs; speed clearly above the bar."""
    return {
        "status": "ok", "reason": None, "task": "language_modeling",
        "axes": {"model": "m", "dataset": "d", "precision": "int8", "method": "ptq",
                 "target": "t", "backend": "b"},
        "metric": evaluate.compare("language_modeling", base, cand),
        "speedup": 2.0, "speedup_ci": [1.95, 2.05], "latency": {"session_runs": 5},
        "size_bytes": 1, "baseline_size_bytes": 4, "compression": 4.0, "target_budget": {},
    }  # fmt: skip


def text(rng: np.random.Generator, n: int, span: int = SPAN) -> tuple[np.ndarray, np.ndarray]:
    """Per-token NLLs of FP32 and of a candidate whose true perplexity is 1 % higher; the
    differences a moving average over `span` tokens (1: independent tokens)."""
    base = rng.gamma(2.0, 1.5, n)
    noise = np.convolve(rng.standard_normal(n + span), np.ones(span), "valid")[:n]
    return base, base + math.log(1.01) + SD * noise / math.sqrt(span)


def settle_once(rng: np.random.Generator, th: Thresholds, span: int = SPAN, room=True) -> str:
    """One candidate through gather.settle: the job scores a prefix of one long text."""
    base, cand = text(rng, 4 * TOKENS, span)

    def job(name, over):
        got = dict(o.split("=", 1) for o in over)
        n = int(got.get("model.eval_tokens", TOKENS)) - 1
        return lm_record(base[:n], cand[:n])

    grow = (lambda rec: ("model.eval_tokens", TOKENS)) if room else (lambda rec: None)
    return gather.settle(job, grow, "c", [], th).where


def point_rule(rng: np.random.Generator, th: Thresholds, span: int = SPAN) -> bool:
    """The former rule: one look; an interval across the bar ships when the point is under."""
    base, cand = text(rng, TOKENS - 1, span)
    m = lm_record(base, cand)["metric"]
    drop = m["value"] / m["baseline"] - 1
    return drop < th.ship_below


def gathering_table(reps: int) -> None:
    th = Thresholds()
    print(f"4. decide at a true 1 % perplexity rise, {reps} simulated candidates, up to 3 looks")
    print(f"{'tokens':<22} {'now (spending)':>15} {'95 % each look':>15} {'one look':>9} "
          f"{'before (point)':>15}")  # fmt: skip
    for span, name in ((1, "independent"), (SPAN, f"moving avg. of {SPAN}")):

        def rate(span: int = span, **kw) -> float:
            runs = (settle_once(np.random.default_rng(r), th, span, **kw) for r in range(reps))
            return sum(w == "ship" for w in runs) / reps

        now, one = rate(), rate(room=False)
        with mock.patch.object(gather.Track, "_boundary", lambda self: gather.Z95):
            naive = rate()
        point = sum(point_rule(np.random.default_rng(r), th, span) for r in range(reps)) / reps
        print(f"{name:<22} {now:>15.3f} {naive:>15.3f} {one:>9.3f} {point:>15.3f}")
    print("goal: now <= 0.025 ('one look': the block interval alone, 2,047 tokens at 95 %)\n")


def judged_ship(n10: int, n01: int, n: int, base_acc: float = 0.9) -> bool:
    lo, hi = stats.tango_delta_ci(n10, n01, n)
    value = base_acc + (n01 - n10) / n
    rec = {"metric": {"name": "accuracy", "value": value, "baseline": base_acc,
                      "higher_is_better": True, "ci95": [lo, hi]}}  # fmt: skip
    return judge_candidate(rec, Thresholds()).label == "ship"


def selection_table(reps: int, k: int = 8, n: int = 2000, sel: int = 256) -> None:
    """Pick the best of k candidates on the selection rows, then judge it."""
    p10, p01 = 0.02, 0.011  # losses and gains per row: accuracy 0.9 -> 0.891, a 1 % drop
    rng = np.random.default_rng(7)
    shared = apart = 0
    for _ in range(reps):
        u = rng.random((k, n))
        loss, gain = u < p10, (u >= p10) & (u < p10 + p01)
        best = int(np.argmin(loss[:, :sel].sum(1) - gain[:, :sel].sum(1)))
        n10, n01 = int(loss[best].sum()), int(gain[best].sum())
        shared += judged_ship(n10, n01, n)
        n10, n01 = int(loss[best, sel:].sum()), int(gain[best, sel:].sum())
        apart += judged_ship(n10, n01, n - sel)
    print(f"5. selection then verdict: best of {k} candidates, each truly 1 % worse, chosen on "
          f"{sel} of {n} rows, {reps} simulated walks")  # fmt: skip
    print(f"ship rate judged on disjoint rows (now): {apart / reps:.3f} (goal <= 0.025); "
          f"on all rows, the selection's included (before): {shared / reps:.3f}\n")  # fmt: skip


def main(reps: int = 2000) -> None:
    gathering_table(reps)
    selection_table(reps)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
