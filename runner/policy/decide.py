"""`python -m runner.decide [overrides]`: walk the decision framework for one model.

1. INT8 PTQ, measured on the user's data (with the FP32 reference job beside it);
2. a drop under summary.ship_below ships;
3. between the thresholds, QAT (when the model can be trained), then re-measured;
4. over summary.qat_below, or when QAT cannot run or is not enough: per-layer sensitivity,
   then the mixed-precision fallback (the most harmful units kept in float, found by bisection
   over the ranking) before concluding "stay FP16/FP32";
5. a language model also gets INT4 weight-only (GPTQ), with 8-bit layers as its fallback.

Every step is a normal job with a normal result record in one output folder (re-running the
same command with --out resumes it); the trail (each step, its figures, why the next step)
goes to the console and decision.md, the recommendations to recommended_<precision>.yaml.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runner.report.verdict import MB, Thresholds, relative_drop, verdict

log = logging.getLogger(__name__)
STEPS = ("fp32_ptq", "int8_ptq", "int8_qat", "int8_ptq_mixed", "int4_ptq", "int4_ptq_mixed")
MARGIN = 0.75  # the fallback aims at this share of a threshold on its subset (room for noise)


@dataclass
class Step:
    """One line of the trail."""

    step: str
    job: str | None
    label: str
    figures: str
    then: str


@dataclass
class Decision:
    """The walk's result for one precision: the record to ship (or None) and why."""

    precision: str
    record: dict[str, Any] | None
    job: str | None
    why: str
    # a candidate worth the next step (QAT of a mixed model), not shipped: its recipe is
    # written as candidate_<precision>.yaml so the next step starts from it
    candidate: dict[str, Any] | None = None


@dataclass
class Trail:
    steps: list[Step] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # sensitivity / fallback details (md)

    def add(self, step: Step) -> None:
        self.steps.append(step)
        print(f"[decide] {step.step}: {step.label} - {step.figures}\n         -> {step.then}")


def band(rec: dict[str, Any], th: Thresholds) -> tuple[str, str, bool]:
    """(where the candidate stands, its verdict's reason, provisional): ship | qat | stay by
    the point drop, or nogain | unfit | failed. Provisional: the verdict was inconclusive (an
    interval straddles a threshold or the speed bar), so the point estimate led the way."""
    v = verdict(rec, th)
    if v.label in ("skipped", "failed"):
        return "failed", v.reason, False
    if v.label == "does not fit":
        return "unfit", v.reason, False
    if v.label == "no gain":
        return "nogain", v.reason, False
    m = rec.get("metric") or {}
    drop = relative_drop(m["value"], m["baseline"], m.get("higher_is_better", True))
    if drop is None:
        return "failed", v.reason, False
    where = "ship" if drop < th.ship_below else "qat" if drop <= th.qat_below else "stay"
    return where, v.reason, v.label == "inconclusive"


def figures(rec: dict[str, Any]) -> str:
    """metric baseline -> value (drop), speedup, size: one line."""
    if rec.get("status") != "ok":
        return f"{rec.get('status')}: {str(rec.get('reason') or '').splitlines()[0][:160]}"
    m = rec["metric"]
    drop = relative_drop(m["value"], m["baseline"], m.get("higher_is_better", True))
    ci = rec.get("speedup_ci") or [None, None]
    spd = f"{rec['speedup']:.2f}x" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci[0] is not None else "")
    drop_s = "n/a" if drop is None else f"{100 * drop:+.2f} %"
    return (
        f"{m['name']} {m['baseline']:.4g} -> {m['value']:.4g} (drop {drop_s}), speed {spd}, "
        f"{rec['size_bytes'] / MB:.3g} MB ({rec['axes'].get('backend')})"
    )


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
    """A Hydra list override value: ['a','b'] with each string quoted."""
    return (
        "["
        + ",".join("'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in patterns)
        + "]"
    )


class Walker:
    """The framework over injected actions, so tests drive every branch with fakes:
    `job(name, overrides) -> record`, `rank(overrides) -> sensitivity dict`,
    `subset_drop(overrides, key, patterns) -> drop on the probe's subset`."""

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
    ):
        self.lm, self.th, self.job, self.rank, self.subset_drop = lm, th, job, rank, subset_drop
        self.max_kept, self.units = max_kept, units
        self.trail = Trail()

    def walk(self, int8: list[str], int4: list[str]) -> Trail:
        t = self.trail
        base = self.job("fp32_ptq", ["precision=fp32", "method=ptq"])
        t.add(
            Step(
                "FP32 reference",
                "fp32_ptq",
                base.get("status", "?"),
                _base_figures(base),
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
        t, th = self.trail, self.th
        rec = self.job("int8_ptq", ["precision=int8", "method=ptq", *extra])
        where, why, prov = band(rec, th)
        if self._settled("int8", "INT8 PTQ", "int8_ptq", rec, where, why, prov):
            return
        if where == "qat" and not self.lm:
            t.add(
                Step(
                    "INT8 PTQ",
                    "int8_ptq",
                    _label(where, prov),
                    figures(rec),
                    "drop between the thresholds: QAT next",
                )
            )
            qat = self.job("int8_qat", ["precision=int8", "method=qat"])
            q_where, q_why, q_prov = band(qat, th)
            if q_where == "ship":
                self._settled("int8", "INT8 QAT", "int8_qat", qat, q_where, q_why, q_prov)
                return
            then = (
                "QAT cannot run here: mixed-precision fallback next"
                if q_where == "failed"
                else f"QAT did not reach the ship threshold ({q_where}): mixed precision next"
            )
            t.add(Step("INT8 QAT", "int8_qat", q_where, figures(qat), then))
        else:
            what = (
                "over the QAT threshold"
                if where == "stay"
                else "a language model: QAT is not walked (days of CPU training)"
            )
            t.add(
                Step(
                    "INT8 PTQ",
                    "int8_ptq",
                    _label(where, prov),
                    figures(rec),
                    f"{what}: per-layer sensitivity and mixed-precision fallback next",
                )
            )
        self.fallback(
            "int8", ["precision=int8", "method=ptq", *extra], rec, "model.keep_float", "float"
        )

    def _settled(self, precision, step, job, rec, where, why, prov) -> bool:
        """Trail and decision of a job that ships or stops the walk (no gain, does not fit,
        failed); False when the walk goes on from it."""
        if where == "ship":
            self.trail.add(Step(step, job, _label(where, prov), figures(rec), _ship_then(prov)))
            self.trail.decisions.append(Decision(precision, rec, job, _ship_why(why, prov)))
            return True
        if where in ("failed", "nogain", "unfit"):
            self.trail.add(Step(step, job, where, figures(rec), f"stop: {why}"))
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
        self.trail.sections.append(_bisect_table(precision, unit, kept_as, ranking, seen))
        return chosen, seen

    def int4(self, extra: list[str]) -> None:
        t, th = self.trail, self.th
        over = ["precision=int4", "method=ptq", *extra]
        rec = self.job("int4_ptq", over)
        where, why, prov = band(rec, th)
        if self._settled("int4", "INT4 PTQ", "int4_ptq", rec, where, why, prov):
            return
        t.add(
            Step(
                "INT4 PTQ",
                "int4_ptq",
                _label(where, prov),
                figures(rec),
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
            worst = seen.get(n_max, float("nan"))
            tried.append(f"{n_max} of {len(ranking)} {unit} units leave {100 * worst:+.2f} %")
            t.add(
                Step(
                    f"{precision.upper()} fallback ({unit})",
                    None,
                    "not enough",
                    f"{n_max} units kept {kept_as} still drop {100 * worst:+.2f} % on the subset "
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
        rec = self.job(name, [*over, f"{key}={quoted(kept)}"])
        where, why, prov = band(rec, th)
        cost = _cost(full, rec)
        units = ", ".join(r["unit"] for r in ranking[:chosen])
        said = f"{chosen} unit(s) kept {kept_as} ({units}); {figures(rec)}; {cost}"
        if where == "ship":
            t.add(
                Step(
                    f"{precision.upper()} mixed", name, _label(where, prov), said, _ship_then(prov)
                )
            )
            t.decisions.append(Decision(precision, rec, name, _ship_why(why, prov)))
        elif where == "qat":
            t.add(
                Step(
                    f"{precision.upper()} mixed",
                    name,
                    _label(where, prov),
                    said,
                    "within the QAT band: QAT with these layers float is the next step "
                    "(not walked: the QAT backends do not take keep_float)",
                )
            )
            t.decisions.append(
                Decision(precision, None, name, f"QAT band with these layers float: {why}", rec)
            )
        elif where == "failed":
            t.add(Step(f"{precision.upper()} mixed", name, "failed", said, "stop"))
            t.decisions.append(Decision(precision, None, name, f"the mixed job failed: {why}"))
        else:
            t.add(Step(f"{precision.upper()} mixed", name, where, said, "stop: stay FP16/FP32"))
            t.decisions.append(Decision(precision, None, name, f"stay FP16/FP32: {why}"))


def _bisect_table(precision, unit, kept_as, ranking, seen) -> str:
    rows = "\n".join(
        f"| {k} | {', '.join(r['unit'] for r in ranking[:k]) if k else '(none)'} | {100 * d:+.2f} |"
        for k, d in sorted(seen.items())
    )
    return (
        f"### {precision.upper()} fallback by {unit}: units kept {kept_as}, drop on the subset\n\n"
        f"Bisection over the ranking (aim: {MARGIN:g} x the threshold on the subset).\n\n"
        f"| kept | units | drop % |\n|---:|---|---:|\n{rows}\n"
    )


def _label(where: str, provisional: bool) -> str:
    names = {"ship": "ship", "qat": "try QAT", "stay": "stay FP16"}
    return names.get(where, where) + (" (provisional)" if provisional else "")


def _ship_then(provisional: bool) -> str:
    if provisional:
        return "ship on the point estimate: an interval straddles a bar (see the reason)"
    return "ship"


def _ship_why(why: str, provisional: bool) -> str:
    return ("provisional - " if provisional else "") + why


def _base_figures(rec: dict) -> str:
    if rec.get("status") != "ok":
        return figures(rec)
    m = rec["metric"]
    return f"{m['name']} {m['baseline']:.4g}, {rec['size_bytes'] / MB:.3g} MB"


def _cost(full: dict, mixed: dict) -> str:
    """What keeping layers costs against the fully quantized job: speed and size."""
    if full.get("status") != "ok" or mixed.get("status") != "ok":
        return "cost unknown"
    return (
        f"against every layer quantized: speed {full['speedup']:.2f}x -> {mixed['speedup']:.2f}x, "
        f"size {full['size_bytes'] / MB:.3g} -> {mixed['size_bytes'] / MB:.3g} MB"
    )


def markdown(trail: Trail, argv: list[str], th: Thresholds) -> str:
    """decision.md: the trail as a table, the decisions, then the fallback details."""
    lines = [
        "# Decision trail",
        "",
        f"`python -m runner.decide {' '.join(argv)}`; ship below {100 * th.ship_below:g} %, "
        f"QAT up to {100 * th.qat_below:g} % relative drop; speed bar {th.min_speedup:g}x. "
        "Each job's record is in its folder `<n>_<job>`.",
        "",
        "| # | step | job | verdict | figures | then |",
        "|---:|---|---|---|---|---|",
    ]
    for i, s in enumerate(trail.steps, 1):
        cells = [s.step, f"`{s.job}`" if s.job else "-", s.label, s.figures, s.then]
        lines.append(f"| {i} | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Decision", ""]
    for d in trail.decisions:
        shipped = (
            f"ship `{d.job}`"
            if d.record is not None
            else f"nothing to ship yet; `{d.job}` is the candidate for the next step"
            if d.candidate is not None
            else "nothing to ship"
        )
        lines.append(f"- **{d.precision.upper()}**: {shipped}. {d.why}")
    if trail.sections:
        lines += ["", "## Fallback", "", *trail.sections]
    return "\n".join(lines) + "\n"


class Runner:
    """The real actions: jobs through the pipeline (one folder each), sensitivity and subset
    scores through one Probe per precision."""

    def __init__(self, overrides: list[str], out: Path, samples: int | None, unit: str):
        self.overrides, self.out, self.samples, self.unit = overrides, out, samples, unit
        self.probes: dict[str, Any] = {}
        self.memo_path = out / "fallback.json"
        try:
            self.memo = json.loads(self.memo_path.read_text())
        except (OSError, ValueError):
            self.memo = {}

    def job(self, name: str, extra: list[str]) -> dict[str, Any]:
        from runner.core.compose import compose
        from runner.job import pipeline

        over = [*self.overrides, *extra]
        cfg, choices = compose(over)
        n = STEPS.index(name) + 1 if name in STEPS else len(STEPS) + 1
        folder = self.out / f"{n}_{name}"  # a fixed folder per step: a re-run resumes it
        log.info("decide: job %s (%s)", folder.name, " ".join(extra))
        return pipeline.run(cfg, folder, over, choices, multirun=True, job_num=n)

    def probe(self, over: list[str]):
        from runner.core.compose import compose
        from runner.policy.sensitivity import Probe

        key = " ".join(over)
        if key not in self.probes:
            for p in self.probes.values():
                p.close()
            self.probes.clear()
            cfg, _ = compose([*self.overrides, *over])
            if cfg.precision.int4_algorithm == "gptq":  # one GPTQ pass per probe is too slow
                cfg = replace(cfg, precision=replace(cfg.precision, int4_algorithm="rtn"))
            self.probes[key] = Probe(cfg, self.out / "probe", self.samples)
        return self.probes[key]

    def rank(self, over: list[str], unit: str) -> dict[str, Any]:
        from runner.policy import sensitivity

        precision = next(o.split("=", 1)[1] for o in over if o.startswith("precision="))
        folder = self.out / (f"sensitivity_{precision}" + ("" if unit == self.unit else f"_{unit}"))
        key = {"overrides": [*self.overrides, *over], "unit": unit, "samples": self.samples}
        s = sensitivity.ranked(folder, key, unit, lambda: self.probe(over))
        s["folder"] = folder.name
        gptq = "precision.int4_algorithm=gptq" in over  # the probe's rtn stands in for it
        s["note"] = "probe: rtn in place of the jobs' gptq" if gptq else ""
        return s

    def subset_drop(self, over: list[str], key: str, patterns: list[str]) -> float:
        memo_key = json.dumps([self.overrides, over, key, patterns, self.samples])
        if memo_key not in self.memo:
            probe = self.probe(over)
            leaf = key.split(".")[-1]
            cfg = replace(probe.cfg, model=replace(probe.cfg.model, **{leaf: list(patterns)}))
            m = probe.score(cfg)
            self.memo[memo_key] = m["drop"]
            self.memo_path.write_text(json.dumps(self.memo, indent=1))
            log.info("fallback: %d pattern(s) kept: drop %+.2f %%", len(patterns), 100 * m["drop"])
        return self.memo[memo_key]

    def close(self) -> None:
        for p in self.probes.values():
            p.close()
        self.probes.clear()


def write_outputs(out: Path, trail: Trail, argv: list[str], th: Thresholds) -> list[Path]:
    """decision.md, the sweep summary of the folder, recommended_<precision>.yaml."""
    from runner.recipes.writer import recipe_yaml
    from runner.report.summary import summarize

    written = []
    for stale in [*out.glob("recommended_*.yaml"), *out.glob("candidate_*.yaml")]:
        stale.unlink()  # an earlier walk's recipe must not outlive this trail
    (out / "decision.md").write_text(markdown(trail, argv, th))
    written.append(out / "decision.md")
    s = summarize(out, objective=th.objective, thresholds=th)
    written += s.written
    for d in trail.decisions:
        rec = d.record or d.candidate
        if rec is None:
            continue
        name = f"{'recommended' if d.record else 'candidate'}_{d.precision}"
        try:
            by = (
                "Recommended by runner.decide"
                if d.record
                else "Next step's candidate (runner.decide)"
            )
            text = recipe_yaml(rec, d.why, out, name, by=by)
            (out / f"{name}.yaml").write_text(text)
            written.append(out / f"{name}.yaml")
        except Exception as exc:  # noqa: BLE001 - the trail and records are already written
            log.warning("could not write %s.yaml: %s", name, exc)
    return written


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m runner.decide",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m runner.decide model=smollm2 --int8-backend ort_dynamic_int8",
    )
    p.add_argument("overrides", nargs="*", help="model / dataset / target overrides, as for runner")
    p.add_argument("--out", type=Path, default=None, help="output folder; an existing one resumes")
    p.add_argument("--int8-backend", default=None, help="method.backend of the INT8 steps")
    p.add_argument(
        "--int4-algorithm", default="gptq", help="INT4 weight-only algorithm (language models)"
    )
    p.add_argument(
        "--unit",
        choices=("auto", "layer", "block", "kind"),
        default="auto",
        help="what sensitivity quantizes alone (auto: a transformer's blocks, then kinds)",
    )
    p.add_argument("--samples", type=int, default=None, help="validation rows of the probe")
    p.add_argument(
        "--max-kept",
        type=float,
        default=0.25,
        help="the most the fallback keeps, as a share of the layers (0.25)",
    )
    return p


# The walk sets these itself (their settings, e.g. method.qat_epochs, may be given)
RESERVED = ("precision", "method", "method.backend")


def main(argv: list[str] | None = None) -> int:
    from runner.core.compose import compose, refused

    args = parser().parse_args(argv)
    from runner.core.compose import progress_logging

    progress_logging()
    over = list(args.overrides)
    try:
        if why := refused(over):
            raise ValueError(why)
        if bad := [o for o in over if o.split("=")[0].lstrip("+~") in RESERVED]:
            raise ValueError(
                f"{bad[0]} is set by the walk itself (INT8, QAT, INT4 in turn); use "
                "--int8-backend / --int4-algorithm, or python -m runner for one job"
            )
        from runner.core import registry

        int8_backends = [n for n, b in registry.items("backend") if b.precision == "int8"]
        if args.int8_backend and args.int8_backend not in int8_backends:
            raise ValueError(
                f"--int8-backend {args.int8_backend} is unknown; use one of "
                f"{', '.join(sorted(int8_backends))}"
            )
        if args.samples is not None and args.samples < 1:
            raise ValueError(f"--samples {args.samples} must be at least 1")
        if not 0 < args.max_kept <= 1:
            raise ValueError(f"--max-kept {args.max_kept} must be a share in (0, 1]")
        cfg, _ = compose(over)
        s = cfg.summary
        th = Thresholds(s.ship_below, s.qat_below, min_speedup=s.min_speedup, objective=s.objective)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    out = args.out or Path("outputs/decide") / f"{stamp}_{cfg.model.name}_{cfg.target.name}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"[decide] {cfg.model.name} on {cfg.target.name}: output in {out}")
    print(f"[decide] the same command with --out {out} resumes it")
    int8 = [f"method.backend={args.int8_backend}"] if args.int8_backend else []
    int4 = [f"precision.int4_algorithm={args.int4_algorithm}"]
    runner = Runner(over, out, args.samples, args.unit)
    lm = cfg.model.task == "language_modeling"
    units = (args.unit, "kind") if args.unit in ("auto", "block") else (args.unit,)
    walker = Walker(
        lm, th, runner.job, runner.rank, runner.subset_drop, max_kept=args.max_kept, units=units
    )
    code = 0
    try:
        trail = walker.walk(int8, int4)
    except Exception as exc:  # noqa: BLE001 - the steps measured so far are still written
        log.exception("decide: the walk stopped")
        first = (str(exc).splitlines() or [""])[0]
        walker.trail.add(Step("walk", None, "failed", f"{type(exc).__name__}: {first}", "stop"))
        trail, code = walker.trail, 1
    finally:
        runner.close()
    shown = sys.argv[1:] if argv is None else list(argv)
    for path in write_outputs(out, trail, shown, th):
        print(f"wrote {path}")
    print(
        "\n"
        + "\n".join(
            f"[decide] {d.precision.upper()}: {d.job or '-'} - {d.why}" for d in trail.decisions
        )
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
