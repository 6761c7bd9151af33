"""The decision framework's walk, apart from its steps (runner.policy.decide's Runner runs the
jobs) and its trail (runner.policy.trail): INT8 PTQ; ship under summary.ship_below; QAT
between the thresholds; over summary.qat_below, or when QAT cannot run or is not enough,
per-layer sensitivity and the mixed-precision fallback before "stay FP16/FP32"; a language
model also walks INT4 weight-only with 8-bit layers as its fallback.

The Walker calls injected actions, so tests drive every branch with fakes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from runner.policy.gather import Settled, settle
from runner.policy.trail import (
    Decision,
    Step,
    Trail,
    base_figures,
    bisect_table,
    cost_line,
    figures,
    label_of,
    ship_then,
)
from runner.report.verdict import Thresholds

log = logging.getLogger(__name__)


MARGIN = 0.75  # the fallback aims at this share of a threshold on its subset (room for noise)


def said(s: Settled) -> str:
    """A judged candidate's figures, and its looks when it took more than one."""
    more = f"; {'; '.join(s.looks)}" if len(s.looks) > 1 else ""
    return figures(s.rec) + more


def search(
    evaluate: Callable[[int], float], n_max: int, target: float, seen: dict[int, float]
) -> int | None:
    """The fewest top-ranked units to keep (1..n_max) whose drop is <= target, by bisection
    over the ranking (keeping more is taken to hurt less); None when even n_max is not enough.
    `seen` memoizes evaluate(k) across searches (and resumes)."""

    def f(k: int) -> float:
        if k not in seen:
            seen[k] = evaluate(k)
        return seen[k]

    if n_max < 1 or f(n_max) > target:
        return None
    lo, hi = 0, n_max  # f(0) is the fully quantized model, known to miss the target
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if f(mid) <= target:
            hi = mid
        else:
            lo = mid
    return hi


def most_kept(ranking: list[dict], share: float) -> int:
    """How many top-ranked units the fallback may keep: the most whose layers together are at
    most `share` of the model's layers (at least one unit)."""

    def layers(r: dict) -> set[str]:
        return set(r.get("layers") or r["patterns"])

    total = len(set().union(*(layers(r) for r in ranking))) if ranking else 0
    kept: set[str] = set()
    for k, r in enumerate(ranking):
        kept |= layers(r)
        if len(kept) > share * total:
            return max(1, k)
    return len(ranking)


def quoted(patterns: list[str]) -> str:
    """A Hydra list override value: ['a','b'] with each string quoted as Hydra's grammar reads
    it back: backslashes doubled only where they precede a quote or end the string, quotes
    and interpolations (${) escaped."""

    def one(p: str) -> str:
        p = re.sub(r"(\\+)(?='|\$\{|$)", lambda m: m.group(1) * 2, p)
        return "'" + p.replace("'", "\\'").replace("${", "\\${") + "'"

    return "[" + ",".join(one(p) for p in patterns) + "]"


class Walker:
    """The framework over injected actions, so tests drive every branch with fakes:
    `job(name, overrides) -> record`, `rank(overrides) -> sensitivity dict`,
    `subset_drop(overrides, key, patterns) -> drop on the probe's subset`, `room(record) ->
    (override, setting) | None`: what raises a job's sample count (None: the data allow no
    more), `split(fully quantized record) -> (overrides, what it did) | None`: the rows set
    apart for the fallback's selection, its candidate judged on the others.
    Every candidate is judged through runner.policy.gather (more looks where an interval
    straddles a bar), never on its point estimate."""

    def __init__(
        self,
        lm: bool,
        th: Thresholds,
        job,
        rank,
        subset_drop,
        *,
        max_kept: float = 0.25,
        units: tuple[str, ...] = ("auto", "kind"),
        echo: Callable[[str], object] | None = None,
        room: Callable[[dict], tuple[str, int] | None] = lambda rec: None,
        split: Callable[[dict], tuple[list[str], str] | None] = lambda full: None,
    ):
        self.lm, self.th, self.job, self.rank, self.subset_drop = lm, th, job, rank, subset_drop
        self.room, self.split = room, split
        self.max_kept, self.units = max_kept, units
        self.trail = Trail(echo=echo)

    def walk(self, int8: list[str], int4: list[str]) -> Trail:
        t = self.trail
        base = self.job("fp32_ptq", ["precision=fp32", "method=ptq"])
        t.add(
            Step(
                "FP32 reference",
                "fp32_ptq",
                base.get("status", "?"),
                base_figures(base),
                "INT8 PTQ next",
            )
        )
        if base.get("status") != "ok":
            t.decisions.append(
                Decision("int8", None, None, "the FP32 reference failed: " + figures(base))
            )
            return t
        self.int8(int8)
        if self.lm:
            self.int4(int4)
        return t

    def int8(self, extra: list[str]) -> None:
        t = self.trail
        s = self.judge("int8_ptq", ["precision=int8", "method=ptq", *extra])
        rec, where = s.rec, s.where
        if self._settled("int8", "INT8 PTQ", s):
            return
        if where == "qat" and not self.lm:
            t.add(
                Step(
                    "INT8 PTQ",
                    s.job,
                    label_of(where),
                    said(s),
                    "drop between the thresholds: QAT next",
                )
            )
            q = self.judge("int8_qat", ["precision=int8", "method=qat"])
            q_where = q.where
            if q_where in ("ship", "inconclusive"):
                self._settled("int8", "INT8 QAT", q)
                return
            then = (
                "QAT cannot run here: mixed-precision fallback next"
                if q_where == "failed"
                else f"QAT did not reach the ship threshold ({q_where}): mixed precision next"
            )
            t.add(Step("INT8 QAT", q.job, q_where, said(q), then))
        else:
            what = (
                "over the QAT threshold"
                if where == "stay"
                else "a language model: QAT is not walked (days of CPU training)"
            )
            t.add(
                Step(
                    "INT8 PTQ",
                    s.job,
                    label_of(where),
                    said(s),
                    f"{what}: per-layer sensitivity and mixed-precision fallback next",
                )
            )
        self.fallback(
            "int8", ["precision=int8", "method=ptq", *extra], rec, "model.keep_float", "float"
        )

    def judge(self, name: str, over: list[str]) -> Settled:
        """Run a candidate's job, and more looks at it where an interval straddles a bar."""
        return settle(self.job, self.room, name, over, self.th)

    def _settled(self, precision: str, step: str, s: Settled) -> bool:
        """Trail and decision of a job that ships or stops the walk (no gain, does not fit,
        failed, inconclusive after its looks); False when the walk goes on from it."""
        job, rec, where, why = s.job, s.rec, s.where, s.why
        if where == "ship":
            self.trail.add(Step(step, job, label_of(where), said(s), ship_then()))
            self.trail.decisions.append(Decision(precision, rec, job, why))
            return True
        if where == "inconclusive":
            self.trail.add(Step(step, job, where, said(s), f"stop: {why}"))
            self.trail.decisions.append(
                Decision(precision, None, job, f"no {precision.upper()} to ship yet: {why}")
            )
            return True
        if where in ("failed", "nogain", "unfit"):
            self.trail.add(Step(step, job, where, said(s), f"stop: {why}"))
            self.trail.decisions.append(
                Decision(precision, None, job, f"no {precision.upper()} to ship: {why}")
            )
            return True
        return False

    def _bisect(self, precision, unit, over, key, kept_as, ranking, n_max, everything):
        """(fewest top units kept that meet ship, else QAT, aim; or None) and what it saw. A
        target the fully quantized model already meets on the subset (`everything`) is not
        searched: keeping layers would only cost speed."""
        seen: dict[int, float] = {0: everything}

        def evaluate(k: int) -> float:
            return self.subset_drop(over, key, [p for r in ranking[:k] for p in r["patterns"]])

        chosen = None
        for limit in (self.th.ship_below, self.th.qat_below):
            if everything <= MARGIN * limit:
                break  # already met with every layer quantized: nothing to keep for it
            chosen = search(evaluate, n_max, MARGIN * limit, seen)
            if chosen is not None:
                break
        self.trail.sections.append(bisect_table(precision, unit, kept_as, ranking, seen, MARGIN))
        return chosen, seen

    def int4(self, extra: list[str]) -> None:
        t = self.trail
        over = ["precision=int4", "method=ptq", *extra]
        s = self.judge("int4_ptq", over)
        rec, where = s.rec, s.where
        if self._settled("int4", "INT4 PTQ", s):
            return
        t.add(
            Step(
                "INT4 PTQ",
                s.job,
                label_of(where),
                said(s),
                "no INT4 QAT path: per-block sensitivity and 8-bit layers next",
            )
        )
        self.fallback("int4", over, rec, "model.int8_layers", "8-bit")

    def fallback(self, precision: str, over: list[str], full: dict, key: str, kept_as: str) -> None:
        """The mixed-precision fallback; an error in it ends this precision's walk in the trail
        (the records already written stay, and the other precision still runs)."""
        try:
            self._fallback(precision, over, full, key, kept_as)
        except Exception as exc:  # noqa: BLE001 - say it in the trail, keep what was measured
            log.exception("decide: the %s fallback failed", precision)
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            self.trail.add(Step(f"{precision.upper()} fallback", None, "failed", why, "stop"))
            self.trail.decisions.append(
                Decision(precision, None, None, f"the mixed-precision fallback failed: {why}")
            )

    def _fallback(self, precision: str, over: list[str], full: dict, key: str, kept_as: str):
        """Rank the units, bisect for the fewest kept, run the mixed candidate as a job; when
        the transformer's blocks cannot do it, rank again by kind (one projection across every
        block) before concluding."""
        t, th = self.trail, self.th
        if apart := self.split(full):  # select on some rows, judge the pick on the others
            over = [*over, *apart[0]]
            t.add(Step(f"{precision.upper()} selection split", None, "apart", apart[1],
                       "per-layer sensitivity next"))  # fmt: skip
        found, tried, pool = None, [], []
        for i, unit in enumerate(self.units):
            s = self.rank(over, unit)
            if i > 0 and not any("*" in p for r in s["ranking"] for p in r["patterns"]):
                break  # no kinds in this model (no numbered blocks): nothing new to try
            # a later pass ranks its units together with the earlier ones (kinds and blocks)
            pool += [r for r in s["ranking"] if r["unit"] not in {q["unit"] for q in pool}]
            ranking = sorted(pool, key=lambda r: -r["drop"])
            unit = " + ".join(self.units[: i + 1])  # what this pass ranks
            n_max = most_kept(ranking, self.max_kept)
            top = ", ".join(f"{r['unit']} ({100 * r['drop']:+.2f} %)" for r in ranking[:5])
            t.add(
                Step(
                    f"{precision.upper()} sensitivity ({unit})",
                    s.get("folder"),
                    "ranked",
                    f"{len(ranking)} units on {s['subset']['rows']} {s['subset']['of']}; all "
                    f"quantized {100 * s['all_quantized']['drop']:+.2f} %; worst: {top}"
                    + (f" ({s['note']})" if s.get("note") else ""),
                    f"bisect over the top {n_max} units for the fewest kept {kept_as}",
                )
            )
            everything = s["all_quantized"]["drop"]
            chosen, seen = self._bisect(
                precision, unit, over, key, kept_as, ranking, n_max, everything
            )
            if chosen is not None:
                found = (ranking, chosen)
                break
            worst = seen.get(n_max)  # unmeasured: every unit quantized met the aim already
            left = (
                f"{100 * worst:+.2f} %"
                if worst is not None
                else f"n/a (all quantized {100 * everything:+.2f} % meets the aim: nothing to keep)"
            )
            tried.append(f"{n_max} of {len(ranking)} {unit} units leave {left}")
            t.add(
                Step(
                    f"{precision.upper()} fallback ({unit})",
                    None,
                    "not enough",
                    f"{n_max} units kept {kept_as} still drop {left} on the subset "
                    f"(aim {100 * MARGIN * th.qat_below:.2f} %)",
                    "next unit" if i + 1 < len(self.units) else "stop: stay FP16/FP32",
                )
            )
        if found is None:
            t.decisions.append(
                Decision(
                    precision,
                    None,
                    None,
                    f"stay FP16/FP32: kept {kept_as}, {'; '.join(tried)} (raise --max-kept to "
                    "keep more)",
                )
            )
            return
        ranking, chosen = found

        def patterns(k: int) -> list[str]:
            return [p for r in ranking[:k] for p in r["patterns"]]

        kept = patterns(chosen)
        name = f"{precision}_ptq_mixed"
        s = self.judge(name, [*over, f"{key}={quoted(kept)}"])
        rec, where, why, name = s.rec, s.where, s.why, s.job
        cost = cost_line(full, rec)
        units = ", ".join(r["unit"] for r in ranking[:chosen])
        line = f"{chosen} unit(s) kept {kept_as} ({units}); {said(s)}; {cost}"
        if where == "ship":
            t.add(Step(f"{precision.upper()} mixed", name, label_of(where), line, ship_then()))
            t.decisions.append(Decision(precision, rec, name, why))
        elif where == "inconclusive":
            t.add(Step(f"{precision.upper()} mixed", name, where, line, f"stop: {why}"))
            t.decisions.append(
                Decision(precision, None, name, f"no {precision.upper()} to ship yet: {why}")
            )
        elif where == "qat":
            t.add(
                Step(
                    f"{precision.upper()} mixed",
                    name,
                    label_of(where),
                    line,
                    "within the QAT band: QAT with these layers float is the next step "
                    "(not walked: the QAT backends do not take keep_float)",
                )
            )
            t.decisions.append(
                Decision(precision, None, name, f"QAT band with these layers float: {why}", rec)
            )
        elif where == "failed":
            t.add(Step(f"{precision.upper()} mixed", name, "failed", line, "stop"))
            t.decisions.append(Decision(precision, None, name, f"the mixed job failed: {why}"))
        else:
            t.add(Step(f"{precision.upper()} mixed", name, where, line, "stop: stay FP16/FP32"))
            t.decisions.append(Decision(precision, None, name, f"stay FP16/FP32: {why}"))
