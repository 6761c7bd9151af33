"""The decision trail: each step of runner.decide's walk, its figures and why the next step,
the decision per precision, and decision.md. Text only: no job runs here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.core.safe_io import md_escape, one_line, printable
from runner.report.verdict import MB, Thresholds, relative_drop


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
    """The walk's record: its steps in order, one decision per precision, and the fallback's
    details; `echo` shows each step as it is added (the command passes print)."""

    steps: list[Step] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # sensitivity / fallback details (md)
    echo: Callable[[str], object] | None = None

    def add(self, step: Step) -> None:
        self.steps.append(step)
        if self.echo is not None:  # record strings reach the console: no control characters
            self.echo(
                printable(
                    f"[decide] {step.step}: {step.label} - {step.figures}\n         -> {step.then}"
                )
            )


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


def bisect_table(precision, unit, kept_as, ranking, seen, margin: float) -> str:
    """The fallback's bisection as a Markdown table: units kept, drop on the subset."""
    rows = "\n".join(
        f"| {k} | {', '.join(md_escape(r['unit']) for r in ranking[:k]) if k else '(none)'} | "
        f"{100 * d:+.2f} |"
        for k, d in sorted(seen.items())
    )
    return (
        f"### {precision.upper()} fallback by {unit}: units kept {kept_as}, drop on the subset\n\n"
        f"Bisection over the ranking (aim: {margin:g} x the threshold on the subset).\n\n"
        f"| kept | units | drop % |\n|---:|---|---:|\n{rows}\n"
    )


def label_of(where: str) -> str:
    names = {"ship": "ship", "qat": "try QAT", "stay": "stay FP16"}
    return names.get(where, where)


def ship_then() -> str:
    return "ship: every interval clears its bar"


def base_figures(rec: dict) -> str:
    if rec.get("status") != "ok":
        return figures(rec)
    m = rec["metric"]
    return f"{m['name']} {m['baseline']:.4g}, {rec['size_bytes'] / MB:.3g} MB"


def cost_line(full: dict, mixed: dict) -> str:
    """What keeping layers costs against the fully quantized job: speed and size."""
    if full.get("status") != "ok" or mixed.get("status") != "ok":
        return "cost unknown"
    return (
        f"against every layer quantized: speed {full['speedup']:.2f}x -> {mixed['speedup']:.2f}x, "
        f"size {full['size_bytes'] / MB:.3g} -> {mixed['size_bytes'] / MB:.3g} MB"
    )


def code(value: object) -> str:
    """A value as an inline code span: one line, no backtick to close it early (HTML inside a
    code span is shown, not rendered)."""
    return "`" + one_line(value, 500).replace("`", "'") + "`"


def markdown(trail: Trail, argv: list[str], th: Thresholds) -> str:
    """decision.md: the trail as a table, the decisions, then the fallback details; record
    strings escaped as in summary.md (a resumed folder's records are received data)."""
    lines = [
        "# Decision trail",
        "",
        f"Command: python -m runner.decide {md_escape(' '.join(argv))}; "
        f"ship below {100 * th.ship_below:g} %, "
        f"QAT up to {100 * th.qat_below:g} % relative drop; speed bar {th.min_speedup:g}x; "
        "nothing ships on a point estimate: an interval across a bar gets up to 2 more looks "
        "(more tokens, timing runs) at alpha-spending boundaries, else it is inconclusive. "
        "Each job's record is in its folder `<n>_<job>`.",
        "",
        "| # | step | job | verdict | figures | then |",
        "|---:|---|---|---|---|---|",
    ]
    for i, s in enumerate(trail.steps, 1):
        job = code(s.job).replace("|", "\\|") if s.job else "-"  # a cell: | splits even `x|y`
        cells = [md_escape(c) for c in (s.step, s.label, s.figures, s.then)]
        cells.insert(1, job)
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    lines += ["", "## Decision", ""]
    for d in trail.decisions:
        shipped = (
            f"ship {code(d.job)}"
            if d.record is not None
            else f"nothing to ship yet; {code(d.job)} is the candidate for the next step"
            if d.candidate is not None
            else "nothing to ship"
        )
        lines.append(f"- **{md_escape(d.precision.upper())}**: {shipped}. {md_escape(d.why)}")
    if trail.sections:
        lines += ["", "## Fallback", "", *trail.sections]
    return "\n".join(lines) + "\n"
