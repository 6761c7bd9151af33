"""`python -m runner.recipes export SWEEP_DIR`: a sweep's recommendation as a recipe file.

The recipe is the summarizer's `recipe_yaml` (the job's config choices and settings) with the
settings that only say how the job ran here left out, plus an `expected:` block built from
the measured record: metric and tolerance, speed ratio and tolerance, target, validation
sample count and the environment that measured them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from runner.core.safe_io import printable
from runner.recipes.book import LOCAL, load, promise
from runner.recipes.check import RecipeError
from runner.recipes.writer import group_choices, recipe_yaml


def expected_block(
    rec: dict[str, Any], metric_tolerance: float = 0.01, speedup_tolerance: float = 0.3
) -> dict[str, Any]:
    """The promise a measured record supports; tolerances are fractions of the baseline
    metric and of the speed ratio (timings move more between machines than accuracy)."""
    m, env = rec["metric"], rec.get("env") or {}
    base = abs(float(m.get("baseline") or m["value"])) or 1.0
    out: dict[str, Any] = {
        "metric": {
            "name": m["name"],
            "value": round(float(m["value"]), 4),
            "tolerance": round(metric_tolerance * base, 4),
            "higher_is_better": bool(m.get("higher_is_better", True)),
        },
    }
    if isinstance(rec.get("speedup"), (int, float)):
        speed = float(rec["speedup"])
        out["speedup"] = {
            "value": round(speed, 2),
            "tolerance": round(speedup_tolerance * speed, 2),
        }
    out["target"] = rec["axes"]["target"]
    if isinstance(m.get("n_samples"), int):
        out["n_samples"] = m["n_samples"]
    out["environment"] = {
        "machine": env.get("machine"),
        "cpu_count": env.get("cpu_count"),
        "cpu_flags": sorted(env.get("cpu_flags") or []),
        "versions": env.get("versions") or {},
    }
    out["run_key"] = rec.get("run_key")
    return out


def shareable(rec: dict[str, Any]) -> dict[str, Any]:
    """The record with what only says how it ran here (cache, Hydra, tracking) left out."""
    overrides = [
        o for o in rec.get("overrides") or [] if str(o).lstrip("+~").split("=")[0].split(".")[0]
        not in LOCAL
    ]  # fmt: skip
    choices = {k: v for k, v in (rec.get("choices") or {}).items() if k != "tracking"}
    return {**rec, "overrides": overrides, "choices": choices or None}


def pick(folder: Path) -> tuple[dict[str, Any], str]:
    """The measured record to export and why: a job folder's own record, or the sweep's first
    measured recommendation."""
    from runner.core.record import RESULT_FILE, read
    from runner.report.records import record_problem
    from runner.report.summary import summarize

    folder = Path(folder)
    if (folder / RESULT_FILE).is_file():
        try:
            rec = read(folder / RESULT_FILE)
        except ValueError as exc:
            raise RecipeError(f"{folder}: unreadable record ({exc})") from exc
        if record_problem(rec) or rec.get("status") != "ok":
            why = record_problem(rec) or f"the job {rec.get('status')}"
            raise RecipeError(f"{folder}: no measured record to export ({why})")
        return rec, f"exported from the job {folder.name}"
    s = summarize(folder, write=False)
    measured = [r for r in s.recommendations if r.record.get("status") == "ok"]
    if not measured:
        why = "; ".join(w for _, w in s.unrecommended) or "no usable result records"
        if s.recommendations:
            why = "it recommends the FP32 baseline, which the sweep did not run"
        raise RecipeError(
            f"{folder}: no measured recommendation to export ({why}); give a job folder to "
            "export that job"
        )
    return measured[0].record, measured[0].why


def export_text(
    rec: dict[str, Any],
    why: str,
    name: str,
    tolerances: tuple[float, float],
    folder: Path = Path("recipes"),
) -> str:
    """The recipe text for a measured record: its config plus the `expected:` block; its Run
    line names `folder`, where the recipe is written."""
    import shlex

    import yaml

    text = recipe_yaml(shareable(rec), why, folder, name)
    lines = [line for line in text.splitlines() if not line.startswith("# Re-run:")]
    where = shlex.quote(str(folder))
    run = f"# Run: .venv/bin/python -m runner --config-dir {where} --config-name {name}"
    lines.insert(len([x for x in lines if x.startswith("#")]), run)
    block = {"promise": None, **expected_block(rec, *tolerances)}
    block["promise"] = promise({"expected": block})
    return "\n".join(lines) + "\n" + yaml.safe_dump({"expected": block}, sort_keys=False)


def add_parser(sub: Any) -> None:
    """The `export` subcommand's arguments."""
    e = sub.add_parser("export", help="a sweep's recommendation as a recipe")
    e.add_argument("sweep_dir", type=Path, help="a sweep folder, or one job's folder")
    e.add_argument("--name", help="recipe name (default: model_precision_method)")
    e.add_argument("--out", type=Path, default=Path("recipes"), help="folder to write into")
    e.add_argument("--metric-tolerance", type=float, default=0.01, help="x baseline metric")
    e.add_argument("--speedup-tolerance", type=float, default=0.3, help="x speed ratio")
    e.add_argument("--force", action="store_true", help="overwrite an existing recipe")


def recipe_name(args: argparse.Namespace, rec: dict[str, Any]) -> str:
    """The recipe's file name: --name (a plain name, else refused), or model_precision_method
    from the record, sanitized (an axis may be `/abs/x`: it never becomes a path)."""
    from runner.core.writer import Writer

    if args.name is not None:
        if Writer.name(args.name) != args.name or args.name.endswith(".yaml"):
            raise RecipeError(
                f"--name {printable(args.name)!r}: give a plain name ([A-Za-z0-9_.-], no folder, "
                "no .yaml); --out chooses the folder"
            )
        return args.name
    a = rec["axes"]
    return Writer.name("_".join(str(a.get(k)) for k in ("model", "precision", "method")))


def export(args: argparse.Namespace) -> Path:
    """Write the recipe file into --out (through the writer: no symlink followed, nothing
    outside it) after checking it loads as a received recipe would."""
    import tempfile

    from runner.core.writer import Writer

    if not Path(args.sweep_dir).is_dir():
        raise RecipeError(f"{args.sweep_dir} is not a directory; give a sweep output folder")
    rec, why = pick(args.sweep_dir)
    unnamed = [g for g in group_choices(rec)[1] if g in ("model", "dataset")]
    if unnamed:  # the recipe would re-run the default model under this record's promise
        g = unnamed[0]
        chosen = (rec.get("choices") or rec["axes"]).get(g)
        raise RecipeError(
            f"the record's {g} {printable(str(chosen))!r} is not one of conf/{g}/'s options, "
            f"so a recipe cannot name it; export a job run with {g}=<option> "
            f"(e.g. model=onnx_file model.path=...)"
        )
    name = recipe_name(args, rec)
    tolerances = (args.metric_tolerance, args.speedup_tolerance)
    text = export_text(rec, why, name, tolerances, Path(args.out))
    with tempfile.TemporaryDirectory(prefix="recipe-") as tmp:  # checked before it is written
        (Path(tmp) / f"{name}.yaml").write_text(text)
        load(Path(tmp) / f"{name}.yaml")
    try:
        out = Writer(args.out)
        if (path := out.path(f"{name}.yaml")).exists() and not args.force:
            raise RecipeError(f"{path} exists; choose another --name or pass --force")
        return out.write_text(path.name, text)
    except OSError as exc:
        raise RecipeError(f"cannot write the recipe: {exc}") from None


def write_recommended(s: Any) -> list[Path]:
    """recommended.yaml (and recommended-<group>.yaml per group when a sweep has several) into
    the summary's folder, from its recommendations; an earlier summary's recipes are removed
    when nothing is recommended now. A recipe that cannot be written costs only itself."""
    import logging

    from runner.core.safe_io import one_line, safe_name
    from runner.recipes.writer import recipe_yaml
    from runner.report.summary import save

    log = logging.getLogger(__name__)
    before = len(s.written)
    if not s.recommendations:  # an earlier summary's recipe must not outlive its reason
        try:
            s.writer().remove("recommended*.yaml")  # a symlink goes, not what it points to
        except OSError as exc:
            log.warning("could not remove the stale recipes: %s", one_line(exc))
    for i, rec in enumerate(s.recommendations):
        names = ["recommended"] if i == 0 else []
        if len(s.recommendations) > 1:  # one recipe per group, the first also as the default
            names.append("recommended-" + safe_name("-".join(rec.group.values())))
        for name in names:
            try:
                text = recipe_yaml(rec.record, rec.why, s.root, name)
            except Exception as exc:  # an odd record must not lose the rest of the summary
                log.warning("could not write %s.yaml: %s", name, one_line(exc))
                continue
            save(s, f"{name}.yaml", lambda p, t=text: p.write_text(t))
    return s.written[before:]


def summarize_sweep(
    root: Path, *, objective: str = "latency", thresholds: Any = None, write: bool = True
) -> Any:
    """The whole end of a sweep: summary.md/csv, pareto.png and the recommended recipes; the
    Summary (what `python -m runner.summarize`, a multirun's end and runner.decide call)."""
    from runner.report.summary import summarize

    s = summarize(root, objective=objective, thresholds=thresholds, write=write)
    if write and Path(root).is_dir():
        write_recommended(s)
    return s
