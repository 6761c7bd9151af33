"""More evidence where an interval straddles a bar, under a group-sequential design.

decide never ships on a point estimate. Where the metric's interval straddles a threshold
(or the speed interval the speed bar), the job runs again with more data when the data allow:
more scored tokens / validation samples (the model's sample-count setting, which the runner
names) and more fresh-session timing runs (latency.session_runs), each doubled per look, up
to LOOKS looks. Every look judges the intervals at its alpha-spending boundary
(runner.core.sequential): O'Brien-Fleming-type for the metric, Pocock-type for the few timing
runs, each one-sided at ALPHA, so the chance of shipping a candidate whose true drop sits on
the bar stays at most ALPHA however many looks are taken. Where no look settles it, the
candidate is "inconclusive", with the count that would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from runner.core.sequential import (
    boundaries,
    more_to_settle,
    widen,
    widen_ratio,
)
from runner.report.verdict import Thresholds, drop_interval, relative_drop, speed_call, verdict

LOOKS = 3  # the most looks at one candidate (its first job and up to two enlargements)
GROWTH = 2  # each look doubles the data of what it enlarges
ALPHA = 0.025  # one-sided error rate of each claim: one side of the 95 % interval
SAMPLES_SPENDING = "obrien_fleming"  # the metric: nearly the fixed-size boundary at the end
RUNS_SPENDING = "pocock"  # timing runs: few (5 to 20), t-based; spend evenly
RUNS_KEY = "latency.session_runs"
Z95 = NormalDist().inv_cdf(0.975)
# a verdict's label -> where the walk stands
PLAIN = {"skipped": "failed", "failed": "failed", "does not fit": "unfit", "no gain": "nogain",
         "ship": "ship", "try QAT": "qat", "stay FP16": "stay"}  # fmt: skip
SHORT = 0.98  # a look that got under this share of the data it asked for: the data ran out


@dataclass
class Track:
    """One quantity's looks: the override that enlarges it (None: nothing more to gather), its
    setting and the size each look really had, and the record of its latest look."""

    key: str | None
    settings: list[int]
    ns: list[int]
    kind: str
    rec: dict[str, Any]
    final: bool = False
    zs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.final = self.final or self.key is None
        self.zs.append(self._boundary())

    @property
    def n_max(self) -> int:
        return self.ns[0] * GROWTH ** (LOOKS - 1)

    def _boundary(self) -> float:
        return boundaries(self.ns, self.n_max, ALPHA, self.kind, self.final)[-1]

    def next_setting(self) -> int | None:
        return None if self.final else self.settings[0] * GROWTH ** len(self.ns)

    def add(self, setting: int, n: int, rec: dict[str, Any]) -> None:
        """A new look of `n`; it is the last when the data ran short or the plan is done."""
        if n <= self.ns[-1]:  # no more data came: stay with the last look (spent less)
            self.final = True
            return
        self.final = n < SHORT * self.ns[0] * GROWTH ** len(self.ns) or len(self.ns) + 1 >= LOOKS
        self.settings.append(setting)
        self.ns.append(n)
        self.rec = rec
        self.zs.append(self._boundary())

    @property
    def z(self) -> float:
        return self.zs[-1]


@dataclass
class Settled:
    """A candidate judged under the design: its (last) record, where it stands, why, and the
    looks it took (for the trail)."""

    rec: dict[str, Any]
    where: str  # ship | qat | stay | nogain | unfit | failed | inconclusive
    why: str
    job: str = ""  # the job (folder name) of the record: the first one's, or a look's
    looks: list[str] = field(default_factory=list)


def judged(samples: Track, runs: Track | None, latest: dict[str, Any]) -> dict[str, Any]:
    """The record as each look's boundary sees it: the metric interval of the samples' last
    look and the speed interval of the runs' last look, their shipping side (the drop's upper
    end, the speedup's lower end) widened to the boundary. The other side stays at 95 %: a
    look that stops on it ships nothing, so it cannot raise the error of shipping."""
    out = dict(latest)
    m = dict(samples.rec["metric"])
    if m.get("ci95") and m.get("value") is not None and m.get("baseline") is not None:
        wide = widen(m["value"] - m["baseline"], m["ci95"], samples.z, Z95, t_df(m))
        keep = 1 if m.get("higher_is_better", True) else 0  # the side that is not the ship's
        m["ci95"] = [m["ci95"][i] if i == keep else wide[i] for i in (0, 1)]
    out["metric"] = m
    if runs is not None:
        r = runs.rec
        out.update(speedup=r.get("speedup"), latency=r.get("latency"))
        wide = widen_ratio(r["speedup_ci"], runs.ns[-1], runs.z)
        out["speedup_ci"] = [wide[0], r["speedup_ci"][1]] if wide else r.get("speedup_ci")
    return out


def t_df(metric: dict[str, Any]) -> int | None:
    """The degrees of freedom of a metric's interval when it is a paired t interval (fewer
    than SMALL_N units: blocks of tokens for perplexity, samples otherwise), else None."""
    from runner.core.stats import SMALL_N

    units = metric.get("ci_blocks") or metric.get("n_samples")
    binary = metric.get("name") in ("accuracy", "top1_agreement")
    return None if binary or not units or units >= SMALL_N or units < 2 else int(units) - 1


def standing(rec: dict[str, Any], th: Thresholds) -> tuple[str, str, set[str]]:
    """(where, the verdict's reason, what more would settle it: samples and/or runs)."""
    v = verdict(rec, th)
    if v.label in PLAIN:
        return PLAIN[v.label], v.reason, set()
    m = rec.get("metric") or {}
    ci = drop_interval(m) if m.get("value") is not None else None
    if ci is None or m.get("baseline") in (None, 0):
        return "inconclusive", v.reason, set()
    speed = {"runs"} if speed_call(rec, th)[0] == "unsettled" else set()
    if any(ci[0] < t < ci[1] for t in (th.ship_below, th.qat_below)):
        return "inconclusive", v.reason, {"samples"} | (speed if ci[0] < th.ship_below else set())
    drop = relative_drop(m["value"], m["baseline"], m.get("higher_is_better", True))
    if drop < th.ship_below:  # the metric alone would ship (as the verdict reads it)
        return "inconclusive", v.reason, speed
    return ("qat" if drop <= th.qat_below else "stay"), v.reason, set()


def settle(
    job: Callable[[str, list[str]], dict],
    room: Callable[[dict], tuple[str, int] | None],
    name: str,
    over: list[str],
    th: Thresholds,
) -> Settled:
    """Run `name`, then more looks while an interval straddles a bar and the data allow."""
    rec = job(name, over)
    if rec.get("status") != "ok":
        where, why, _ = standing(rec, th)
        return Settled(rec, where, why, name)
    key, setting = room(rec) or (None, 0)
    n1 = int((rec.get("metric") or {}).get("n_samples") or 0)
    key = key if n1 > 0 else None  # a record without its sample count: nothing to grow
    samples = Track(key, [setting], [max(n1, 1)], SAMPLES_SPENDING, rec)
    runs_now = (rec.get("latency") or {}).get("session_runs")
    runs = (
        Track(RUNS_KEY, [runs_now], [runs_now], RUNS_SPENDING, rec)
        if runs_now and runs_now >= 2 and rec.get("speedup_ci")
        else None
    )
    looks, ran = [], name
    while True:
        seen = judged(samples, runs, rec)
        # th as given, not at the look's confidence: the only interval a kept reason labels is
        # the speed's, and judged leaves its no-gain side (the upper end) as recorded
        where, why, needs = standing(seen, th)
        looks.append(look_line(len(looks) + 1, samples, runs, where))
        grow = [t for t, need in ((samples, "samples"), (runs, "runs")) if need in needs and t]
        grow = [t for t in grow if t.next_setting() is not None]
        if where != "inconclusive" or not grow:
            break
        wanted = {t.key: t.next_setting() for t in grow}
        grown = [t for t in (samples, runs) if t and t.key and (t.key in wanted or t.ns[1:])]
        extra = [f"{t.key}={wanted.get(t.key, t.settings[-1])}" for t in grown]
        ran = f"{name}_look{len(looks) + 1}"
        rec = job(ran, [*over, *extra])
        if rec.get("status") != "ok":
            why = f"look {len(looks) + 1} failed: {rec.get('reason')}"
            return Settled(rec, "failed", why, ran, looks)
        for t in grow:
            n = int(rec["metric"]["n_samples"]) if t is samples else rec["latency"]["session_runs"]
            t.add(wanted[t.key], n, rec)
    if where == "inconclusive" and needs:
        why = unsettled(seen, th, samples, runs, needs) or why
    return Settled(rec, where, why, ran, looks)


def look_line(k: int, samples: Track, runs: Track | None, where: str) -> str:
    """'look 2: 4095 scored tokens at z 2.96, 10 timing runs at z 2.37 -> ship'."""
    lm = (samples.rec.get("metric") or {}).get("name") == "perplexity"
    parts = [f"{samples.ns[-1]} {'scored tokens' if lm else 'samples'} at z {samples.z:.2f}"]
    if runs is not None:
        parts.append(f"{runs.ns[-1]} timing runs at z {runs.z:.2f}")
    return f"look {k}: {', '.join(parts)} -> {where}"


def unsettled(rec: dict, th: Thresholds, samples: Track, runs: Track | None, needs) -> str:
    """Why the candidate stays inconclusive after its looks, with the counts that would settle
    it (a new study of that size, 80 % power at 95 %); "" when there is nothing to count (a
    straddling speed interval with no timing-run count): the verdict's own reason says it."""
    said = []
    m = rec["metric"]
    unit = "scored tokens" if m.get("name") == "perplexity" else "validation samples"
    if "samples" in needs:
        lo, hi = drop_interval(m)
        drop = relative_drop(m["value"], m["baseline"], m.get("higher_is_better", True))
        bar = min((t for t in (th.ship_below, th.qat_below) if lo < t < hi),
                  key=lambda t: abs(t - drop))  # fmt: skip
        n = samples.ns[-1]
        need = more_to_settle(n, (hi - lo) / 2, samples.z, drop - bar)
        count = f"about {need} {unit} (~{need - n} more) would settle it" if need else ""
        said.append(
            f"the drop's interval at the look's boundary [{100 * lo:.2f}, {100 * hi:.2f}] % "
            f"straddles the {100 * bar:g} % bar on {n} {unit}"
            + (
                f"; {count}"
                if count
                else "; its point sits (nearly) on the bar: no count is expected to settle it"
            )
        )
    if "runs" in needs and runs is not None:
        ci, n = rec["speedup_ci"], runs.ns[-1]
        half = (math.log(ci[1]) - math.log(ci[0])) / 2
        gap = (math.log(ci[0]) + math.log(ci[1])) / 2 - math.log(th.min_speedup)
        need = more_to_settle(n, half, runs.z, gap)
        said.append(
            f"the speed interval [{ci[0]:.2f}, {ci[1]:.2f}]x straddles the "
            f"{th.min_speedup:.2f}x bar on {n} timing runs"
            + (f"; about {need} fresh-session runs would settle it" if need else "")
        )
    return "inconclusive: " + "; ".join(said) if said else ""
