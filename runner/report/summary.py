"""A sweep's records as a table: verdicts, Pareto fronts, the recommendation and why.

Reads every result.json under a folder (nested multirun dirs included), never raises on a bad
record (it is listed as unreadable instead), and writes summary.md, summary.csv and
pareto.png into it. The recommended recipes are written by runner.recipes.export
(`summarize_sweep` does both: what `python -m runner.summarize` and a multirun's end call).
"""

from __future__ import annotations

import logging
import math
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from runner.core.safe_io import md_escape, one_line
from runner.report.family import candidates, family_note
from runner.report.paired import scale_to_reference, speed_fields
from runner.report.recommend import pareto_front, recommend
from runner.report.records import AXES, _num, load_outcomes, load_records
from runner.report.verdict import MB, OBJECTIVES, Thresholds, verdict

log = logging.getLogger(__name__)
GROUP = ("model", "dataset", "target")  # rows judged together: fronts and one recommendation
WIDTH = 100
# printed column -> (table column, format); DROP lists what goes first when too wide
SHOW = {
    "#": ("row", "d"), "model": ("model", "s"), "data": ("dataset", "s"),
    "prec": ("precision", "s"), "meth": ("method", "s"), "target": ("target", "s"),
    "backend": ("backend", "s"), "variant": ("variant", "s"), "metric": ("metric", ".4g"),
    "Δ%": ("delta_pct", "+.2f"),
    "CI Δ%": ("ci", "s"), "p50ms": ("p50_ms", ".3g"), "TTFTms": ("ttft_ms", ".3g"),
    "tok/s": ("decode_tps", ".3g"), "×spd": ("speedup", ".2f"),
    "MB": ("size_mb", ".3g"), "×cmp": ("compression", ".1f"), "memMB": ("peak_mem_mb", ".0f"),
    "verdict": ("shown_verdict", "s"), "front": ("front", "s"),
}  # fmt: skip
DROP = ("memMB", "×cmp", "backend", "CI Δ%", "metric", "variant", "p50ms")
OPTIONAL = ("ttft_ms", "decode_tps")  # language models' generation figures: shown when present
# Overrides that do not change what a job measures: never shown as a row's variant.
_NOT_VARIANT = (
    "hydra",
    "cache_dir",
    "fault",
    "force",
    "isolation",
    "timeout_s",
    "tracking",
    "summary",
    "torch_threads",
)

# Layer lists of a mixed-precision candidate (runner.decide's fallback): shown as mixed(N ...)
MIXED = {"keep_float": "float", "int8_layers": "8-bit"}


@dataclass
class Recommendation:
    """The job recommended for one (model, dataset, target) group, and why."""

    group: dict[str, str]
    record: dict[str, Any]
    why: str
    row: Any = None  # the table's index of the recommended row (None: a made-up baseline)


@dataclass
class Summary:
    """Everything summarize() found and decided; `text` is what the CLI prints."""

    root: Path
    table: pd.DataFrame
    garbage: list[tuple[Path, str]] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    unrecommended: list[tuple[str, str]] = field(default_factory=list)  # (group, why not)
    notes: list[str] = field(default_factory=list)  # what the verdicts rest on
    text: str = ""
    written: list[Path] = field(default_factory=list)

    def writer(self) -> Any:
        """The writer rooted at the sweep folder: every summary file goes through it."""
        from runner.core.writer import Writer

        return Writer(self.root, create=False)


def variant(rec: dict) -> str:
    """The job's non-group overrides (e.g. int4_algorithm=hqq): what tells apart two rows
    with the same axes."""
    groups = set(rec.get("choices") or {})
    out = []
    for o in rec.get("overrides") or []:
        key, _, value = str(o).partition("=")
        key = key.lstrip("+~")
        if key in groups or key.split(".")[0] in _NOT_VARIANT:
            continue
        leaf = key.split(".")[-1]
        if leaf in MIXED and value.strip("[] "):  # a list of layers: say how many, not which
            out.append(f"mixed({len(value.strip('[]').split(','))} {MIXED[leaf]})")
            continue
        out.append(f"{leaf}={value}")
    return " ".join(out) or "-"


def model_label(rec: dict) -> str:
    """The model as the table names it: a file-based source with its file (onnx_file:m.onnx),
    so a user's own model is recognizable and two files never share a group."""
    model = str(rec["axes"].get("model") or "-")
    for o in rec.get("overrides") or []:
        key, _, value = str(o).partition("=")
        if key.lstrip("+~") == "model.path" and value:
            return f"{model}:{Path(value.strip(chr(39) + chr(34))).name}"
    return model


def _artifact(path: Path, rec: dict) -> str:
    """Where an ok job's model file is: relative to the sweep folder's parent when it lies
    beside the record, else as recorded (the FP32 row's is the cached baseline)."""
    from runner.core.record import artifact_path

    found = artifact_path(rec, path.parent) if rec.get("status") == "ok" else None
    if found is None:
        return "-"
    if Path(str(rec["artifact"])).is_absolute():  # the cached baseline, outside the sweep
        return str(found)
    return str(Path(path.parent.name) / found.name)


def _row(path: Path, rec: dict, sweep: list[dict], th: Thresholds) -> dict[str, Any]:
    """One table row: axes, metric with Δ and its CI, speed, size, memory, verdict."""
    v = verdict(rec, th, sweep=sweep, outcomes=load_outcomes(path, rec))
    m = rec.get("metric") or {}
    value, base = _num(m.get("value")), _num(m.get("baseline"))
    delta = value - base if m.get("delta_abs") is None else _num(m["delta_abs"])
    lo, hi = (_num(c) for c in (m.get("ci95") or (None, None)))
    pct = 100 / abs(base) if base else math.nan
    spd_ci = rec.get("speedup_ci") or (None, None)
    return {
        **{k: rec["axes"].get(k) or "-" for k in AXES}, "variant": variant(rec),
        "model": model_label(rec), "artifact": _artifact(path, rec),
        "metric_name": m.get("name"), "higher_is_better": m.get("higher_is_better", True),
        "metric": value, "baseline_metric": base, "delta_abs": delta,
        "delta_pct": delta * pct, "ci_lo_abs": lo, "ci_hi_abs": hi,
        "ci": "-" if math.isnan(lo * pct) else f"[{lo * pct:+.2f},{hi * pct:+.2f}]",
        # paired ratios (interval centres) and the raw figures scale_to_reference scales;
        # the baseline row is FP32 timed against itself: 1.00, its interval kept
        **speed_fields(rec, v.label == "baseline"),
        "speedup_ci_lo": _num(spd_ci[0]), "speedup_ci_hi": _num(spd_ci[1]),
        "size_mb": _num(rec.get("size_bytes")) / MB, "compression": _num(rec.get("compression")),
        "peak_mem_mb": _num(rec.get("peak_rss_bytes")) / MB, "status": rec["status"],
        "verdict": v.label, "risky_int4": v.risky_int4, "reason": v.reason,
        "run_key": rec.get("run_key"), "path": str(path),
    }  # fmt: skip


def build_table(
    records: list[tuple[Path, dict]], th: Thresholds, objective: str | None = None
) -> pd.DataFrame:
    """One row per job (index = position in records) with verdict and Pareto marks; verdicts
    judge the gain on `objective` (default: th.objective)."""
    if not records:
        return pd.DataFrame()
    th = replace(th, objective=objective) if objective else th
    sweep = [rec for _, rec in records]
    df = pd.DataFrame([_row(path, rec, sweep, th) for path, rec in records])
    df = scale_to_reference(df, GROUP)
    df.insert(0, "row", range(1, len(df) + 1))
    for cost in OBJECTIVES.values():
        df[f"pareto_{cost}"] = False
    for _, g in df[df.status == "ok"].groupby(list(GROUP), sort=False):
        for cost in OBJECTIVES.values():
            front = pareto_front(g, "metric", cost, bool(g.higher_is_better.iloc[0]))
            df.loc[g.index, f"pareto_{cost}"] = front
    flags = [df[f"pareto_{c}"].map({True: o[0].upper(), False: "-"}) for o, c in OBJECTIVES.items()]
    df["front"] = ["".join(x) for x in zip(*flags, strict=True)]
    df["shown_verdict"] = df.verdict + df.risky_int4.map({True: "!", False: ""})
    return df


def _recommendation(
    group: pd.DataFrame, records: list[dict], objective: str
) -> Recommendation | None:
    """The group's recommended record (a made-up FP32 PTQ record when nothing ships and the
    sweep ran no baseline job); None when the baseline failed or no job ran at all: nothing
    measured can then be trusted, and the summary says why instead."""
    keys = {k: str(group[k].iloc[0]) for k in GROUP}
    base = group[(group.precision == "fp32") & (group.method == "ptq")]
    if (base.status == "failed").any() or not (group.status == "ok").any():
        return None
    best, why = recommend(group, objective)
    if best is not None:
        return Recommendation(keys, records[best], why, best)
    rec = records[group.index[0]]
    choices = {**(rec.get("choices") or {}), "precision": "fp32", "method": "ptq"}
    made_up = {"axes": {**rec["axes"], **choices}, "choices": choices,
               "overrides": rec.get("overrides") or []}  # fmt: skip
    return Recommendation(keys, made_up, why)


def with_family_risk(rec: Recommendation, group: pd.DataFrame, records: list, th: Thresholds):
    """The recommendation with the family-wise risk of picking it among the group's ships."""
    if rec.row is None or group.verdict[rec.row] != "ship":
        return rec
    path, record = records[rec.row]
    note = family_note(candidates(group), record["metric"], load_outcomes(path, record),
                       th.ship_below, th.confidence)  # fmt: skip
    return replace(rec, why=f"{rec.why} {note}")


def no_recommendation(group: pd.DataFrame) -> str:
    """Why a group gets no recommendation: its baseline failed, or none of its jobs ran."""
    base = group[(group.precision == "fp32") & (group.method == "ptq")]
    failed = base[base.status == "failed"]
    if len(failed):
        return f"no recommendation: the FP32 baseline job failed ({failed.reason.iloc[0]})"
    counts = ", ".join(f"{n} {label}" for label, n in group.status.value_counts().items())
    return f"no recommendation: no job of this group ran to the end ({counts})"


def _cell(x: Any, spec: str) -> str:
    """One table cell; '-' for a missing number."""
    if isinstance(x, float) and math.isnan(x):
        return "-"
    return str(x) if spec == "s" else format(x, spec)


def render(df: pd.DataFrame, markdown: bool = False) -> str:
    """The table as aligned text within WIDTH columns (dropping minor columns), or Markdown."""
    hide_when_same = (*GROUP, "variant")
    cols = [
        c
        for c, (src, _) in SHOW.items()
        if (src not in hide_when_same or df[src].nunique() > 1)
        and (src not in OPTIONAL or df[src].notna().any())
    ]
    cells = {c: [c, *(_cell(x, SHOW[c][1]) for x in df[SHOW[c][0]])] for c in cols}
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in zip(*cells.values(), strict=True)]
        return "\n".join([lines[0], "|" + "---|" * len(cols), *lines[1:]])
    dropped = []
    for drop in (None, *DROP):
        if drop in cols:
            cols.remove(drop)
            dropped.append(drop)
        widths = [max(map(len, cells[c])) for c in cols]
        if sum(widths) + 2 * (len(cols) - 1) <= WIDTH:
            break
    rows = zip(*(cells[c] for c in cols), strict=True)
    lines = ["  ".join(x.rjust(w) for x, w in zip(r, widths, strict=True)) for r in rows]
    if dropped:
        lines.append(f"(to fit {WIDTH} columns, {', '.join(dropped)} only in summary.md)")
    return "\n".join(lines)


def _md_cells(df: pd.DataFrame, esc: Any = md_escape) -> pd.DataFrame:
    """The table with every string cell escaped for Markdown, or (esc=console) made one
    line without terminal control characters: record strings are untrusted."""
    return df.apply(lambda col: col.map(lambda x: esc(x) if isinstance(x, str) else x))


def speed_legend(df: pd.DataFrame) -> list[str]:
    """What the speed columns are: paired ratios, and figures scaled from one reference."""
    shown = [c for c, src in (("p50ms", "p50_ms"), ("TTFTms", "ttft_ms"), ("tok/s", "decode_tps"))
             if src in df and df[src].notna().any()]  # fmt: skip
    return [
        "×spd: paired speedup against FP32 timed in the same job (centre of its interval);",
        f"{', '.join(shown) or 'p50ms'}: the group's FP32 figure scaled by that job's paired ratio",
    ]


def console(value: Any) -> str:
    """A record string for the console: one line, terminal control characters replaced."""
    return one_line(value, 1500)  # a reason plus the recommendation's risk line


def report(s: Summary, th: Thresholds, objective: str, markdown: bool = False) -> str:
    """The whole human-readable summary: table, reasons, recommendation, unreadable files."""
    df, h = s.table, "## " if markdown else ""
    esc = md_escape if markdown else console  # record strings are inert in both
    fixed = [f"{k}={esc(df[k].iloc[0])}" for k in GROUP if len(df) and df[k].nunique() == 1]
    intro = (
        f"{len(df)} jobs; {', '.join(fixed) or 'no records'}; objective {objective}; "
        f"ship below {th.ship_below:.1%}, try QAT up to {th.qat_below:.1%}"
    )
    out = [
        *textwrap.wrap(f"{'# ' if markdown else ''}Sweep summary of {esc(s.root)}", WIDTH),
        *textwrap.wrap(intro, WIDTH),
        *(line for note in s.notes for line in textwrap.wrap(esc(note), WIDTH)),
        "",
        render(_md_cells(df, esc), markdown) if len(df) else "(no result records found)",
        "",
        "front: L/S/M = on the metric-vs-latency/size/memory Pareto front; ! = risky INT4",
        *speed_legend(df),
        "",
        f"{h}Verdicts",
    ]
    for r in df.itertuples():
        warned = f" Warning: {esc(r.warnings)}." if r.warnings else ""
        line = f"- #{r.row} {esc(r.precision)}/{esc(r.method)} [{r.verdict}]: {esc(r.reason)}"
        line += warned + (f" Model file: {esc(r.artifact)}." if r.artifact != "-" else "")
        out += textwrap.wrap(line, WIDTH, subsequent_indent="  ")
    out += ["", f"{h}Recommendation"]
    for rec in s.recommendations:
        a = rec.record["axes"]
        where, how = "/".join(rec.group.values()), f"{a['precision']}/{a['method']}"
        line = f"- {esc(where)}: {esc(how)}, {esc(rec.why)}"
        out += textwrap.wrap(line, WIDTH, subsequent_indent="  ")
    for group, why in s.unrecommended:
        out += textwrap.wrap(f"- {esc(group)}: {esc(why)}", WIDTH, subsequent_indent="  ")
    if not s.recommendations and not s.unrecommended:
        out.append("- nothing to recommend: no usable result records")
    if s.garbage:
        out += ["", f"{h}Unreadable records (skipped)"]
        for path, why in s.garbage:
            line = f"- {esc(path.relative_to(s.root))}: {esc(why)}"
            out += textwrap.wrap(line, WIDTH, subsequent_indent="  ")
    return "\n".join(out) + "\n"


def sample_notes(records: list[tuple[Path, dict]]) -> list[str]:
    """Per group, how many validation samples the verdicts rest on, and why they are a split."""
    notes: dict[str, str] = {}
    for _, rec in records:
        m, splits = rec.get("metric") or {}, rec.get("splits")
        n = m.get("n_samples")
        if rec.get("status") != "ok" or not isinstance(n, int) or not isinstance(splits, dict):
            continue
        group = "/".join(str(rec["axes"].get(k)) for k in GROUP)
        counts = [splits.get(k) for k in ("validation", "calibration", "train")]
        if group in notes or not all(isinstance(c, int) for c in counts):
            continue
        unit = "tokens" if rec.get("task") == "language_modeling" else "samples"
        val, calib, train = counts
        if min(counts) < 0 or max(counts) > 10**12:
            continue  # not a count any real sweep holds: a crafted record
        share = val / max(1, val + calib + train)
        held = (
            f"the calibration ({calib}) and QAT training ({train}) splits are held apart"
            if train
            else f"the calibration split ({calib}) is held apart, and there is no QAT training "
            "split (QAT cannot run for this model, so validation gets that share)"
        )
        notes[group] = (
            f"{group}: verdicts rest on {n} validation {unit}, the validation split "
            f"({share:.0%} of the data); {held}, so no candidate is judged on data it was "
            "tuned on."
        )
    return list(notes.values())


def _warnings(rec: dict) -> str:
    """The job's recorded warnings (details.warnings) as one string."""
    details = rec.get("details")
    found = details.get("warnings") if isinstance(details, dict) else None
    return "; ".join(w for w in found if isinstance(w, str)) if isinstance(found, list) else ""


def save(s: Summary, name: str, fill: Any) -> None:
    """Write one summary file at the sweep folder's root through its writer (no symlink
    followed, nothing outside it); a refusal costs only that file."""
    try:
        s.written.append(s.writer().write_with(name, fill))
    except OSError as exc:
        log.warning("could not write %s: %s", name, one_line(exc))


def _write(s: Summary, th: Thresholds, objective: str) -> None:
    """summary.md, summary.csv and pareto.png into the sweep dir (the recommended recipes are
    runner.recipes' to write: runner.recipes.export.summarize_sweep does both)."""
    md = report(s, th, objective, markdown=True)
    save(s, "summary.md", lambda p: p.write_text(md))
    save(s, "summary.csv", lambda p: s.table.to_csv(p, index=False))
    try:
        from runner.report.plots import plot_pareto

        shown = _md_cells(s.table, console)  # labels without control characters
        chosen = [r.row for r in s.recommendations if r.row is not None]
        save(s, "pareto.png", lambda p: plot_pareto(shown, p, chosen))
    except Exception as exc:  # a plotting failure must not lose the rest of the summary
        log.warning("could not draw pareto.png: %s", exc)


def contended_warning(records: list[dict]) -> str:
    """A warning line (also logged) when ok jobs were timed side by side without isolation."""
    n = sum(
        r.get("status") == "ok" and (r.get("latency") or {}).get("isolation") == "contended"
        for r in records
    )
    if not n:
        return ""
    line = (
        f"warning: {n} job(s) timed contended (latency.isolation=off, beside other jobs): their "
        "latencies and speedups are not comparable; re-run with latency.isolation=auto"
    )
    log.warning("%s", line)
    return line + "\n"


def summarize(
    root: Path,
    *,
    objective: str = "latency",
    thresholds: Thresholds | None = None,
    write: bool = True,
) -> Summary:
    """Summarize every result.json under root; bad records are listed and warned, never raised."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    th, root = thresholds or Thresholds(), Path(root)
    if not root.is_dir():
        log.warning("%s is not a directory: nothing to summarize", root)
    records, garbage = load_records(root) if root.is_dir() else ([], [])
    s = Summary(root, build_table(records, th, objective), garbage, notes=sample_notes(records))
    if len(s.table):
        s.table["warnings"] = [_warnings(rec) for _, rec in records]
    for keys, group in s.table.groupby(list(GROUP), sort=False) if len(s.table) else []:
        rec = _recommendation(group, [r for _, r in records], objective)
        if rec is None:
            s.unrecommended.append(("/".join(map(str, keys)), no_recommendation(group)))
        else:
            s.recommendations.append(with_family_risk(rec, group, records, th))
    s.text = report(s, th, objective) + contended_warning([r for _, r in records])
    if write and root.is_dir():
        try:
            _write(s, th, objective)
        except OSError as exc:
            log.warning("could not write the summary files into %s: %s", root, exc)
    return s
