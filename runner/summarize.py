"""`python -m runner.summarize DIR`: table, verdicts, Pareto fronts and a runnable recommendation.

Reads every result.json under DIR (nested multirun dirs included), never raises on a bad
record (it is listed as unreadable instead), and writes summary.md, summary.csv, pareto.png
and recommended.yaml into DIR. `summarize()` is what the runner calls after a multirun.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runner.results import RESULT_FILE, read
from runner.verdict import MB, OBJECTIVES, Thresholds, pareto_front, recommend, verdict

log = logging.getLogger(__name__)
AXES = ("model", "dataset", "precision", "method", "target", "backend")
GROUP = ("model", "dataset", "target")  # rows judged together: fronts and one recommendation
WIDTH = 100
OUTCOME_KEYS = ("baseline", "candidate")  # arrays in a job's outcomes .npz
# printed column -> (table column, format); DROP lists what goes first when too wide
SHOW = {
    "#": ("row", "d"), "model": ("model", "s"), "data": ("dataset", "s"),
    "prec": ("precision", "s"), "meth": ("method", "s"), "target": ("target", "s"),
    "backend": ("backend", "s"), "variant": ("variant", "s"), "metric": ("metric", ".4g"),
    "Δ%": ("delta_pct", "+.2f"),
    "CI Δ%": ("ci", "s"), "p50ms": ("p50_ms", ".3g"), "×spd": ("speedup", ".2f"),
    "MB": ("size_mb", ".3g"), "×cmp": ("compression", ".1f"), "memMB": ("peak_mem_mb", ".0f"),
    "verdict": ("shown_verdict", "s"), "front": ("front", "s"),
}  # fmt: skip
DROP = ("memMB", "×cmp", "backend", "CI Δ%", "metric", "variant")
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
# What the summary reads, by block ("" = top level): numbers (or null) and strings (or null)
_NUMBERS = {
    "metric": ("value", "baseline", "delta_abs"), "latency": ("p50_ms",),
    "target_budget": ("max_latency_ms", "max_memory_mb"),
    "": ("speedup", "size_bytes", "compression", "peak_rss_bytes", "quantized_fraction"),
}  # fmt: skip
_STRINGS = {"axes": AXES, "metric": ("name",), "choices": (), "": ("reason", "outcomes_file")}


@dataclass
class Recommendation:
    """The job recommended for one (model, dataset, target) group, and why."""

    group: dict[str, str]
    record: dict[str, Any]
    why: str


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


def _num(x: Any) -> float:
    """A JSON number as a float; NaN for null or anything else."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def _misfit(rec: dict, spec: dict[str, tuple[str, ...]], fits: Any) -> str | None:
    """The first field of `spec` whose value does not fit, as "block.key" (or "block")."""
    for name, keys in spec.items():
        block = rec.get(name) if name else rec
        if block is not None and not isinstance(block, dict):
            return name
        for key in keys:
            if not fits((block or {}).get(key)):
                return f"{name or 'record'}.{key}"
    return None


def record_problem(rec: dict) -> str | None:
    """Why a record cannot be summarized (a field the summary reads is malformed), else None."""
    if rec.get("status") not in ("ok", "skipped", "failed"):
        return f"unknown status {rec.get('status')!r}"
    axes = rec.get("axes")
    if not isinstance(axes, dict) or not all(isinstance(axes.get(k), str) for k in AXES[:5]):
        return f"axes must name {', '.join(AXES)} as strings"
    if bad := _misfit(rec, _NUMBERS, lambda x: x is None or not math.isnan(_num(x))):
        return f"{bad} must be a number"
    if bad := _misfit(rec, _STRINGS, lambda x: x is None or isinstance(x, str)):
        return f"{bad} must be a string"
    m = rec.get("metric") or {}
    ci = m.get("ci95")
    two = isinstance(ci, list) and len(ci) == 2
    if ci is not None and not (two and not any(math.isnan(_num(c)) for c in ci)):
        return "metric.ci95 must be two numbers"
    if not isinstance(m.get("higher_is_better", True), bool):
        return "metric.higher_is_better must be true or false"
    if rec["status"] == "ok" and math.isnan(_num(m.get("value")) + _num(m.get("baseline"))):
        return "an ok record needs a metric value and baseline"
    return None


def load_records(root: Path) -> tuple[list[tuple[Path, dict]], list[tuple[Path, str]]]:
    """Every result.json under root as (path, record), and (path, why) for unusable ones."""
    good, bad = [], []
    for path in sorted(Path(root).rglob(RESULT_FILE)):
        try:
            rec = read(path)
            why = record_problem(rec)
        except (ValueError, OSError) as exc:
            rec, why = None, str(exc).removeprefix(f"{path}: ")
        if why is None:
            good.append((path, rec))
        else:
            log.warning("skipping %s: %s", path, why)
            bad.append((path, why))
    return good, bad


def load_outcomes(path: Path, rec: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The job's per-sample (baseline, candidate) outcomes, when its outcomes file is usable."""
    name = rec.get("outcomes_file")
    if not isinstance(name, str) or not (path.parent / name).is_file():
        return None
    try:
        with np.load(path.parent / name, allow_pickle=False) as z:
            base, cand = (np.asarray(z[k], dtype=np.float64).ravel() for k in OUTCOME_KEYS)
        if base.size != cand.size or not base.size or not np.isfinite([base, cand]).all():
            raise ValueError("baseline and candidate must be finite and of one non-zero length")
    except Exception as exc:  # an unreadable outcomes file only costs the sample count
        log.warning("ignoring the outcomes of %s: %s", path, exc)
        return None
    return base, cand


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
        out.append(f"{key.split('.')[-1]}={value}")
    return " ".join(out) or "-"


def _row(path: Path, rec: dict, sweep: list[dict], th: Thresholds) -> dict[str, Any]:
    """One table row: axes, metric with Δ and its CI, speed, size, memory, verdict."""
    v = verdict(rec, th, sweep=sweep, outcomes=load_outcomes(path, rec))
    m, lat = rec.get("metric") or {}, rec.get("latency") or {}
    value, base = _num(m.get("value")), _num(m.get("baseline"))
    delta = value - base if m.get("delta_abs") is None else _num(m["delta_abs"])
    lo, hi = (_num(c) for c in (m.get("ci95") or (None, None)))
    pct = 100 / abs(base) if base else math.nan
    return {
        **{k: rec["axes"].get(k) or "-" for k in AXES}, "variant": variant(rec),
        "metric_name": m.get("name"), "higher_is_better": m.get("higher_is_better", True),
        "metric": value, "baseline_metric": base, "delta_abs": delta,
        "delta_pct": delta * pct, "ci_lo_abs": lo, "ci_hi_abs": hi,
        "ci": "-" if math.isnan(lo * pct) else f"[{lo * pct:+.2f},{hi * pct:+.2f}]",
        "p50_ms": _num(lat.get("p50_ms")), "speedup": _num(rec.get("speedup")),
        "size_mb": _num(rec.get("size_bytes")) / MB, "compression": _num(rec.get("compression")),
        "peak_mem_mb": _num(rec.get("peak_rss_bytes")) / MB, "status": rec["status"],
        "verdict": v.label, "risky_int4": v.risky_int4, "reason": v.reason,
        "run_key": rec.get("run_key"), "path": str(path),
    }  # fmt: skip


def build_table(records: list[tuple[Path, dict]], th: Thresholds) -> pd.DataFrame:
    """One row per job (index = position in records) with verdict and Pareto marks."""
    if not records:
        return pd.DataFrame()
    sweep = [rec for _, rec in records]
    df = pd.DataFrame([_row(path, rec, sweep, th) for path, rec in records])
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
        return Recommendation(keys, records[best], why)
    rec = records[group.index[0]]
    choices = {**(rec.get("choices") or {}), "precision": "fp32", "method": "ptq"}
    made_up = {"axes": {**rec["axes"], **choices}, "choices": choices,
               "overrides": rec.get("overrides") or []}  # fmt: skip
    return Recommendation(keys, made_up, why)


def no_recommendation(group: pd.DataFrame) -> str:
    """Why a group gets no recommendation: its baseline failed, or none of its jobs ran."""
    base = group[(group.precision == "fp32") & (group.method == "ptq")]
    failed = base[base.status == "failed"]
    if len(failed):
        return f"no recommendation: the FP32 baseline job failed ({failed.reason.iloc[0]})"
    counts = ", ".join(f"{n} {label}" for label, n in group.status.value_counts().items())
    return f"no recommendation: no job of this group ran to the end ({counts})"


def _overrides_as_values(overrides: list[str], groups: dict[str, str]) -> dict[str, Any]:
    """A job's non-group Hydra overrides ("target.threads=2") as nested YAML values."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    values: dict[str, Any] = {}
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception as exc:  # a bad override must not stop the summary
        log.warning("cannot parse the overrides %s: %s", overrides, exc)
        return values
    for o in parsed:
        if o.key_or_group in groups or "/" in o.key_or_group or o.package is not None:
            continue  # group choices travel in the defaults list
        if o.key_or_group.split(".")[0] in ("hydra", "cache_dir", "fault", "force"):
            continue  # how the job ran here; a received recipe may not set these
        if o.is_delete() or o.is_sweep_override():
            log.warning("recommended.yaml cannot express the override %s", o.input_line)
            continue
        *parents, leaf = o.key_or_group.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = o.value()
    return values


def recipe_yaml(rec: dict, why: str, config_dir: Path, name: str = "recommended") -> str:
    """A primary Hydra config re-running the record's job: `config` + group overrides + values."""
    from omegaconf import OmegaConf

    axes = rec["axes"]
    choices = rec.get("choices") or {k: axes[k] for k in AXES[:5]}
    groups = {g: o for g, o in choices.items() if not str(g).startswith("hydra")}
    defaults = ["config", *({f"override {g}": o} for g, o in groups.items()), "_self_"]
    values = _overrides_as_values(rec.get("overrides") or [], groups)
    m = rec.get("metric") or {}
    head = [
        f"Recommended by runner.summarize: {axes['precision']}/{axes['method']} "
        f"on {axes['target']} ({axes['model']}, {axes['dataset']}).",
        *textwrap.wrap(f"Why: {why}", WIDTH - 2),
    ]
    if m:  # absent only for a baseline the sweep did not run
        speedup = _cell(_num(rec.get("speedup")), ".2f")
        line = (
            f"{m.get('name')} {m['value']:.4g} (baseline {m['baseline']:.4g}), speedup {speedup}x"
        )
        head.append(f"{line}, run_key {rec.get('run_key')}")
    rerun = f"python -m runner --config-dir {config_dir.resolve()} --config-name {name}"
    head.append(f"Re-run: {rerun}")
    body = OmegaConf.to_yaml(OmegaConf.create({"defaults": defaults, **values}))
    return "".join(f"# {line}\n" for line in head) + body


def _cell(x: Any, spec: str) -> str:
    """One table cell; '-' for a missing number."""
    if isinstance(x, float) and math.isnan(x):
        return "-"
    return str(x) if spec == "s" else format(x, spec)


def render(df: pd.DataFrame, markdown: bool = False) -> str:
    """The table as aligned text within WIDTH columns (dropping minor columns), or Markdown."""
    hide_when_same = (*GROUP, "variant")
    cols = [c for c, (src, _) in SHOW.items() if src not in hide_when_same or df[src].nunique() > 1]
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


def report(s: Summary, th: Thresholds, objective: str, markdown: bool = False) -> str:
    """The whole human-readable summary: table, reasons, recommendation, unreadable files."""
    df, h = s.table, "## " if markdown else ""
    fixed = [f"{k}={df[k].iloc[0]}" for k in GROUP if len(df) and df[k].nunique() == 1]
    intro = (
        f"{len(df)} jobs; {', '.join(fixed) or 'no records'}; objective {objective}; "
        f"ship below {th.ship_below:.1%}, try QAT up to {th.qat_below:.1%}"
    )
    out = [
        *textwrap.wrap(f"{'# ' if markdown else ''}Sweep summary of {s.root}", WIDTH),
        *textwrap.wrap(intro, WIDTH),
        *(line for note in s.notes for line in textwrap.wrap(note, WIDTH)),
        "",
        render(df, markdown) if len(df) else "(no result records found)",
        "",
        "front: L/S/M = on the metric-vs-latency/size/memory Pareto front; ! = risky INT4",
        "",
        f"{h}Verdicts",
    ]
    for r in df.itertuples():
        warned = f" Warning: {r.warnings}." if r.warnings else ""
        line = f"- #{r.row} {r.precision}/{r.method} [{r.verdict}]: {r.reason}{warned}"
        out += textwrap.wrap(line, WIDTH, subsequent_indent="  ")
    out += ["", f"{h}Recommendation"]
    for rec in s.recommendations:
        a = rec.record["axes"]
        line = f"- {'/'.join(rec.group.values())}: {a['precision']}/{a['method']}, {rec.why}"
        out += textwrap.wrap(line, WIDTH, subsequent_indent="  ")
    for group, why in s.unrecommended:
        out += textwrap.wrap(f"- {group}: {why}", WIDTH, subsequent_indent="  ")
    if not s.recommendations and not s.unrecommended:
        out.append("- nothing to recommend: no usable result records")
    if s.garbage:
        out += ["", f"{h}Unreadable records (skipped)"]
        for path, why in s.garbage:
            line = f"- {path.relative_to(s.root)}: {why}"
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
        share = val / max(1, val + calib + train)
        notes[group] = (
            f"{group}: verdicts rest on {n} validation {unit}, the validation split "
            f"({share:.0%} of the data); the calibration ({calib}) and QAT training ({train}) "
            "splits are held apart, so no candidate is judged on data it was tuned on."
        )
    return list(notes.values())


def _warnings(rec: dict) -> str:
    """The job's recorded warnings (details.warnings) as one string."""
    found = (
        (rec.get("details") or {}).get("warnings") if isinstance(rec.get("details"), dict) else []
    )
    return "; ".join(w for w in found or [] if isinstance(w, str))


def _write(s: Summary, th: Thresholds, objective: str) -> None:
    """summary.md, summary.csv, recommended*.yaml and pareto.png into the sweep dir."""
    (s.root / "summary.md").write_text(report(s, th, objective, markdown=True))
    s.table.to_csv(s.root / "summary.csv", index=False)
    s.written += [s.root / "summary.md", s.root / "summary.csv"]
    if not s.recommendations:  # an earlier summary's recipe must not outlive its reason
        for stale in s.root.glob("recommended*.yaml"):
            stale.unlink()
    for i, rec in enumerate(s.recommendations):
        names = ["recommended"] if i == 0 else []
        if len(s.recommendations) > 1:  # one recipe per group, the first also as the default
            names.append("recommended-" + "-".join(rec.group.values()))
        for name in names:
            try:
                text = recipe_yaml(rec.record, rec.why, s.root, name)
            except Exception as exc:  # an odd record must not lose the rest of the summary
                log.warning("could not write %s.yaml: %s", name, exc)
                continue
            s.written.append(s.root / f"{name}.yaml")
            s.written[-1].write_text(text)
    try:
        from runner.plots import plot_pareto

        s.written.append(plot_pareto(s.table, s.root / "pareto.png"))
    except Exception as exc:  # a plotting failure must not lose the rest of the summary
        log.warning("could not draw pareto.png: %s", exc)


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
    s = Summary(root, build_table(records, th), garbage, notes=sample_notes(records))
    if len(s.table):
        s.table["warnings"] = [_warnings(rec) for _, rec in records]
    for keys, group in s.table.groupby(list(GROUP), sort=False) if len(s.table) else []:
        rec = _recommendation(group, [r for _, r in records], objective)
        if rec is None:
            s.unrecommended.append(("/".join(map(str, keys)), no_recommendation(group)))
        else:
            s.recommendations.append(rec)
    s.text = report(s, th, objective)
    if write and root.is_dir():
        try:
            _write(s, th, objective)
        except OSError as exc:
            log.warning("could not write the summary files into %s: %s", root, exc)
    return s


def main(argv: list[str] | None = None) -> int:
    """CLI: print the summary and write its files; exit 2 when DIR is not a directory."""
    p = argparse.ArgumentParser(prog="python -m runner.summarize", description=__doc__)
    p.add_argument("dir", type=Path, help="a sweep output dir (searched recursively)")
    p.add_argument("--objective", choices=list(OBJECTIVES), default="latency")
    p.add_argument("--ship-below", type=float, default=0.01, help="relative drop that ships")
    p.add_argument("--qat-below", type=float, default=0.03, help="relative drop to try QAT")
    p.add_argument("--min-speedup", type=float, default=1.05, help="below it: no gain")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if not args.dir.is_dir():
        print(f"error: {args.dir} is not a directory", file=sys.stderr)
        return 2
    try:
        th = Thresholds(args.ship_below, args.qat_below, min_speedup=args.min_speedup)
    except ValueError as exc:
        p.error(str(exc))
    s = summarize(args.dir, objective=args.objective, thresholds=th)
    print(s.text + "\n".join(f"wrote {path}" for path in s.written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
