"""Which layers break a quantized model (`python -m runner.sensitivity [overrides]`).

Each unit (one layer, or one numbered transformer block) is quantized alone with the job's own
backend and settings, everything else float, and the metric change against FP32 is measured on
a fixed subset of the validation data. The ranking goes to sensitivity.md, sensitivity.png and
sensitivity.json; `runner.decide` keeps the top of it in float (mixed precision).

ONNX backends name units by graph node (`model.keep_float` takes the same names, or parts of
them such as a block's prefix); torch backends (torchao) by module name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.onnx_utils import weighted_nodes

log = logging.getLogger(__name__)
# A numbered block of a transformer: model.layers.3 / encoder/layer.0 / h.11 / blocks.2
BLOCK = re.compile(r"^(.*?(?:\blayers?|\bblocks?|\bh)[._]\d+)([./])")
UNITS = ("auto", "layer", "block", "kind")
KIND = re.compile(r"(\b(?:layers?|blocks?|h)[._])\d+(?=[./])")  # the block number in a name
WEIGHT_ONLY = ("ort_int4_matmulnbits", "ort_int8_matmulnbits")
SENSITIVITY_FILE = "sensitivity.json"


@dataclass(frozen=True)
class Unit:
    """What is quantized alone: `name` as reports show it, `members` the exact layer names it
    covers, `patterns` what model.keep_float / int8_layers take to keep it (a block's prefix
    when the layer names carry it, else the member names)."""

    name: str
    members: tuple[str, ...]
    patterns: tuple[str, ...]


def group_units(
    names: list[str], unit: str = "auto", scopes: dict[str, str] | None = None
) -> list[Unit]:
    """Layers as units (`layer`), or the layers of one numbered block together (`block`);
    `auto`: blocks when the model has them (a transformer), else layers; `kind`: one layer of
    every block together (all down_proj), as a wildcard pattern. Order is kept.

    `scopes`: a layer's module path where its node name does not say it (the exporter's
    name_scopes metadata), used to find its block."""
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r} is unknown; use one of {', '.join(UNITS)}")
    if unit == "layer":
        return [Unit(n, (n,), (n,)) for n in names]
    if unit == "kind":  # the same projection across every block: a wildcard pattern
        kinds: dict[str, list[str]] = {}
        for n in names:
            kinds.setdefault(KIND.sub(r"\g<1>*", n), []).append(n)
        return [Unit(k, tuple(v), (k,)) for k, v in kinds.items()]
    groups: dict[str, list[str]] = {}
    by_scope: set[str] = set()
    for n in names:
        m = BLOCK.match(n)
        if m is None and scopes and (m := BLOCK.match(scopes.get(n, "") + ".")) is not None:
            by_scope.add(m.group(1) + m.group(2))
        groups.setdefault(m.group(1) + m.group(2) if m else n, []).append(n)
    if unit == "auto" and all(len(v) == 1 for v in groups.values()):
        return [Unit(n, (n,), (n,)) for n in names]
    return [Unit(k, tuple(v), tuple(v) if k in by_scope else (k,)) for k, v in groups.items()]


def scopes_of(path: Path) -> dict[str, str]:
    """Node name -> module path, from the metadata torch's ONNX exporter writes."""
    import ast

    import onnx

    out = {}
    for n in onnx.load(str(path), load_external_data=False).graph.node:
        meta = {p.key: p.value for p in n.metadata_props}
        try:
            scopes = ast.literal_eval(meta.get("pkg.torch.onnx.name_scopes", "[]"))
        except (ValueError, SyntaxError):
            continue
        if scopes:
            out[n.name] = max(map(str, scopes), key=len)  # the deepest module path
    return out


def onnx_layers(path: Path, weight_only: bool, skip: tuple[str, ...] = ()) -> list[str]:
    """The layers with a weight a backend quantizes, by node name, in graph order: MatMul /
    Gemm / Conv for INT8, MatMul for the weight-only kernels. Activation x activation MatMuls
    (attention scores) are not ranked: dynamic INT8 and the weight-only kernels skip them;
    under static INT8 they stay float while a unit is measured."""
    import onnx

    from runner.backends.ort_ptq import QUANT_OPS

    model = onnx.load(str(path), load_external_data=False)
    ops = [o for o in (("MatMul",) if weight_only else QUANT_OPS) if o not in skip]
    has_weight = weighted_nodes(model)
    return [n.name for n in model.graph.node if n.op_type in ops and n.name in has_weight]


def torch_layers(module) -> list[str]:
    """The Linear modules a torchao backend quantizes, by module name."""
    import torch

    return [n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)]


class Probe:
    """One model's data, FP32 baseline and backend, loaded once: quantize candidates (all
    layers, one unit, or with layers kept float) and score them on a fixed validation subset."""

    def __init__(self, cfg, work_dir: Path, samples: int | None = None):
        from runner import backends
        from runner.core import batches
        from runner.job import evaluate, pipeline

        if cfg.method.name != "ptq":
            raise ValueError(
                f"sensitivity ranks post-training quantization; got method={cfg.method.name} "
                "(use method=ptq)"
            )
        if cfg.precision.name not in ("int8", "int4"):
            raise ValueError(
                f"sensitivity ranks layers of an integer model; got precision="
                f"{cfg.precision.name} (use precision=int8 or precision=int4)"
            )
        self.cfg, self.work = cfg, Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        name, backend, why = backends.select(
            cfg.precision.name, cfg.method.name, cfg.model.prefer_backends, cfg.method.backend
        )
        if backend is None:
            raise ValueError(f"no backend for {cfg.precision.name} x ptq: {why}")
        self.backend_name, self.backend = name, backend
        # the probe scores on the selection rows, the first ones of the whole validation split
        selection = cfg.dataset.selection_rows
        whole = replace(cfg, dataset=replace(cfg.dataset, selection_rows=0))
        self.splits, self.model, self.base = pipeline.load(whole)
        self.reuse: dict[str, Any] = {}
        self._tmp = Path(tempfile.mkdtemp(prefix="probe-", dir=self.work))
        try:
            job = self._job(self.cfg, None, "pre")
            if why := backend.check(job):
                raise ValueError(f"{name} cannot quantize this model: {why}")
            self.pre = None  # ONNX Runtime's INT8 quantizers see the pre-processed graph: once
            if not name.startswith("torchao") and name not in WEIGHT_ONLY:
                from runner.backends.ort_ptq import _preprocessed

                self.pre = _preprocessed(job)
        except BaseException:
            self.close()
            raise
        task, x, y = cfg.model.task, self.splits.x_val, self.splits.y_val
        total = batches.rows(x)
        n = samples or (2 if task == "language_modeling" else 256)
        self.n = min(n, selection or total, total)
        self.x = batches.take(x, slice(0, self.n))
        self.y = None if y is None else np.asarray(y)[: self.n]
        self.base_out = self.base.outputs[: self.n]
        self.base_outcomes = evaluate.outcomes(task, self.base_out, self.y, reference=self.base_out)
        self.unit_of_samples = "windows" if task == "language_modeling" else "samples"
        threads = max(1, os.cpu_count() or 1)  # scoring is not timed: every core may work
        self.eval_target = replace(cfg.target, threads=threads)

    def _job(self, cfg, only: list[str] | None, sub: str = "job"):
        from runner.backends import Job

        out = self._tmp / sub
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return Job(
            cfg, self.model, self.splits, self.base.onnx_path, out, only=only, reuse=self.reuse
        )

    def layers(self) -> list[str]:
        """The names of the layers this backend quantizes."""
        if self.backend_name.startswith("torchao"):
            return torch_layers(self.model.module)
        if self.pre is None:
            return onnx_layers(self.base.onnx_path, weight_only=True)
        # ONNX Runtime's dynamic INT8 has no integer Gemm: a Gemm unit would quantize nothing
        skip = ("Gemm",) if self.backend_name == "ort_dynamic_int8" else ()
        return onnx_layers(self.pre, weight_only=False, skip=skip)

    def scopes(self) -> dict[str, str]:
        """Layer name -> module path where the names do not say it (torch's exporter)."""
        return {} if self.backend_name.startswith("torchao") else scopes_of(self.base.onnx_path)

    def score(self, cfg=None, only: list[str] | None = None) -> dict[str, Any]:
        """Quantize (every layer the config allows, or `only` these) and score on the subset:
        the metric block, with `drop` (relative, positive = worse) and its interval."""
        from runner.job import evaluate
        from runner.report.verdict import drop_interval, relative_drop
        from runner.targets import make_session

        cfg = cfg or self.cfg
        job = self._job(cfg, only)
        artifact = self.backend.quantize(job)
        session = job.session or make_session(artifact, self.eval_target)
        out = evaluate.predict(session, self.x)
        del session
        task = cfg.model.task
        cand = evaluate.outcomes(task, out, self.y, reference=self.base_out)
        m = evaluate.compare(task, self.base_outcomes, cand, self.y)
        m["drop"] = relative_drop(m["value"], m["baseline"], m["higher_is_better"])
        m["drop_ci"] = list(drop_interval(m) or (None, None))
        m["keep_float"] = job.details.get("keep_float_layers")
        shutil.rmtree(job.out_dir, ignore_errors=True)
        return m

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)
        if self.work.is_dir() and not any(self.work.iterdir()):
            self.work.rmdir()


def rank(probe: Probe, unit: str = "auto") -> dict[str, Any]:
    """Quantize each unit alone and measure it; the units ranked most harmful first."""
    units = group_units(probe.layers(), unit, probe.scopes())
    if not units:
        raise ValueError(f"{probe.backend_name} finds no layer to quantize in this model")
    t0 = time.perf_counter()
    everything = probe.score()
    log.info(
        "sensitivity: all %d layers quantized: %s %.4g -> %.4g (drop %+.2f %%)",
        sum(len(u.members) for u in units),
        everything["name"],
        everything["baseline"],
        everything["value"],
        100 * everything["drop"],
    )
    rows = []
    for i, u in enumerate(units, 1):
        m = probe.score(only=list(u.members))
        rows.append(
            {
                "unit": u.name,
                "layers": list(u.members),
                "patterns": list(u.patterns),
                "value": m["value"],
                "drop": m["drop"],
                "drop_ci": m["drop_ci"],
            }
        )
        eta = (time.perf_counter() - t0) / i * (len(units) - i)
        log.info(
            "sensitivity %d/%d: %s (%d layer%s): drop %+.2f %% (about %.0f s left)",
            i,
            len(units),
            u.name,
            len(u.members),
            "" if len(u.members) == 1 else "s",
            100 * m["drop"],
            eta,
        )
    rows.sort(key=lambda r: -r["drop"])
    cfg = probe.cfg
    return {
        "model": cfg.model.name,
        "dataset": cfg.dataset.name,
        "precision": cfg.precision.name,
        "backend": probe.backend_name,
        "target": cfg.target.name,
        "unit": unit,
        "metric": everything["name"],
        "higher_is_better": everything["higher_is_better"],
        "baseline": everything["baseline"],
        "subset": {"rows": probe.n, "of": probe.unit_of_samples},
        # rows set apart for selection (the jobs are judged on the rows after them); 0: none
        "selection_rows": cfg.dataset.selection_rows,
        "all_quantized": {"value": everything["value"], "drop": everything["drop"]},
        "ranking": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def report_md(s: dict[str, Any], top: int = 40) -> str:
    """sensitivity.md: what was measured, and the ranking as a table (strings escaped: a
    ranking read back from a resumed folder is received data)."""
    from runner.core.safe_io import md_escape, one_line

    e = {k: md_escape(s[k]) for k in ("model", "precision", "backend", "target", "metric")}
    lines = [
        f"# Per-layer sensitivity: {e['model']} {e['precision']} ({e['backend']}) on {e['target']}",
        "",
        f"Each unit quantized alone, the rest float; {e['metric']} on the first "
        f"{s['subset']['rows']} validation {md_escape(s['subset']['of'])} of "
        f"{md_escape(s['dataset'])} "
        f"(FP32 {s['baseline']:.4g}; every unit quantized: {s['all_quantized']['value']:.4g}, "
        f"drop {100 * s['all_quantized']['drop']:+.2f} %). Drop: relative change of the metric, "
        f"positive = worse, with its paired 95 % CI. {len(s['ranking'])} units, "
        f"{s['seconds']:.0f} s.",
        "",
        "| rank | unit | layers | " + e["metric"] + " | drop % | 95 % CI |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for i, r in enumerate(s["ranking"][:top], 1):
        lo, hi = r["drop_ci"]
        ci = "-" if lo is None else f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
        name = one_line(r["unit"]).replace("`", "'").replace("|", "\\|")  # a code span
        lines.append(
            f"| {i} | `{name}` | {len(r['layers'])} | {r['value']:.4g} | "
            f"{100 * r['drop']:+.2f} | {ci} |"
        )
    if len(s["ranking"]) > top:
        lines.append(f"\n{len(s['ranking']) - top} more units in {SENSITIVITY_FILE}.")
    return "\n".join(lines) + "\n"


def plot(s: dict[str, Any], path: Path, top: int = 30) -> Path:
    """sensitivity.png: the most harmful units' drops as horizontal bars with their CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = s["ranking"][:top][::-1]
    drops = np.array([100 * r["drop"] for r in rows])
    lo = np.array(
        [100 * (r["drop_ci"][0] if r["drop_ci"][0] is not None else r["drop"]) for r in rows]
    )
    hi = np.array(
        [100 * (r["drop_ci"][1] if r["drop_ci"][1] is not None else r["drop"]) for r in rows]
    )
    err = np.vstack([np.maximum(drops - lo, 0), np.maximum(hi - drops, 0)])
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.6))
    ax.barh(range(len(rows)), drops, xerr=err, color="#c44e52", ecolor="#444", capsize=2)
    ax.set_yticks(range(len(rows)), [r["unit"] for r in rows], fontsize=7)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel(f"{s['metric']} worse by, quantized alone (relative %, 95 % CI)")
    ax.set_title(
        f"{s['model']} {s['precision']} ({s['backend']}): all quantized "
        f"{100 * s['all_quantized']['drop']:+.1f} %",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(s: dict[str, Any], out: Path) -> list[Path]:
    """sensitivity.json, .md and .png into `out`, through the writer rooted there (no symlink
    followed: a planted sensitivity.md -> victim is refused)."""
    from runner.core.writer import Writer

    w = Writer(out)
    written = [
        w.write_text(SENSITIVITY_FILE, json.dumps(s, indent=1)),
        w.write_text("sensitivity.md", report_md(s)),
    ]
    try:
        written.append(w.write_with("sensitivity.png", lambda p: plot(s, p)))
    except Exception as exc:  # noqa: BLE001 - a plotting failure must not lose the ranking
        log.warning("could not draw sensitivity.png: %s", exc)
    return written


def _usable(s: Any) -> bool:
    """Whether a ranking read back from a folder has the shape report_md and the walk read:
    strings where names are, finite numbers where figures are (a resumed folder is data)."""
    import math

    def num(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    def names(x: Any) -> bool:
        return isinstance(x, list) and all(isinstance(n, str) for n in x)

    try:
        ok = names([s[k] for k in ("model", "dataset", "precision", "backend", "target", "unit",
                                   "metric")] + [s["subset"]["of"]])  # fmt: skip
        ok = ok and num(s["baseline"]) and num(s["seconds"]) and num(s["subset"]["rows"])
        ok = ok and num(s["all_quantized"]["value"]) and num(s["all_quantized"]["drop"])
        for r in s["ranking"]:
            lo, hi = r["drop_ci"]
            ok = ok and isinstance(r["unit"], str) and names(r["layers"]) and names(r["patterns"])
            ok = ok and num(r["value"]) and num(r["drop"]) and (lo is None or num(lo) and num(hi))
        return bool(ok)
    except (KeyError, TypeError, ValueError):
        return False


def cached(out: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """An earlier ranking in `out` made with the same settings (resume), else None; read as
    received data (bounded JSON, no symlink, its shape checked)."""
    from runner.core.gate import read_json

    try:
        s = read_json(out / SENSITIVITY_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(s, dict) or s.get("key") != key or not _usable(s):
        return None
    return s


def ranked(out: Path, key: dict[str, Any], unit: str, probe: Callable[[], Probe]) -> dict:
    """The ranking already in `out` if it was made with the same `key` (resume), else rank
    the units of `probe()` and write the report into `out`."""
    if (s := cached(out, key)) is not None:
        log.info("sensitivity: reusing %s (same settings)", out / SENSITIVITY_FILE)
        return s
    s = rank(probe(), unit)
    s["key"] = key
    write(s, out)
    return s


def run(cfg, out: Path, unit: str = "auto", samples: int | None = None, key: Any = None) -> dict:
    """Rank the units of cfg's candidate into `out` with a probe of its own."""
    made: list[Probe] = []

    def probe() -> Probe:
        made.append(Probe(cfg, out, samples))
        return made[0]

    try:
        return ranked(out, {"overrides": key, "unit": unit, "samples": samples}, unit, probe)
    finally:
        for p in made:
            p.close()
