"""runner.decide's steps: each a normal job through the pipeline (one fixed folder per step,
so a re-run with the same --out resumes), sensitivity rankings and subset scores through one
probe per precision, and the outputs (decision.md, the folder's summary, the recipes).

The walk itself is runner.policy.walk; its trail runner.policy.trail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from runner.policy.trail import Step, Trail, markdown
from runner.policy.walk import Walker
from runner.report.verdict import Thresholds

log = logging.getLogger(__name__)
# The walk sets these itself (their settings, e.g. method.qat_epochs, may be given)
RESERVED = ("precision", "method", "method.backend")


STEPS = ("fp32_ptq", "int8_ptq", "int8_qat", "int8_ptq_mixed", "int4_ptq", "int4_ptq_mixed")


MEMO = "fallback.json"


def read_memo(out: Path) -> dict[str, float]:
    """The subset drops an earlier walk in `out` measured (resume), read as received data:
    bounded JSON, no symlink, only finite numbers kept. A forged value can only change which
    candidate is tried next; every decision rests on that candidate's own measured record."""
    import math

    from runner.core.gate import read_json

    try:
        data = read_json(out / MEMO)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        k: float(v)
        for k, v in data.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


class Runner:
    """The real actions: jobs through the pipeline (one folder each, made by the writer
    rooted at `out`), sensitivity and subset scores through one Probe per precision."""

    def __init__(self, overrides: list[str], out: Path, samples: int | None, unit: str):
        from runner.core.writer import Writer

        self.overrides, self.out, self.samples, self.unit = overrides, out, samples, unit
        self.writer = Writer(out)
        self.probes: dict[str, Any] = {}
        self.memo = read_memo(out)

    def job(self, name: str, extra: list[str]) -> dict[str, Any]:
        from runner.core.compose import compose
        from runner.job import pipeline
        from runner.report.tracking import log_record

        over = [*self.overrides, *extra]
        cfg, choices = compose(over)
        n = STEPS.index(name) + 1 if name in STEPS else len(STEPS) + 1
        folder = self.writer.dir(f"{n}_{name}").root  # a fixed folder per step: it resumes
        log.info("decide: job %s (%s)", folder.name, " ".join(extra))
        on_record = partial(log_record, cfg.tracking, folder, config=cfg)
        return pipeline.run(
            cfg, folder, over, choices, multirun=True, job_num=n, on_record=on_record
        )

    def split(self, full: dict[str, Any]) -> tuple[list[str], str] | None:
        """The first validation rows set apart for the fallback's selection (the probe's:
        sensitivity and the keep-float search), its mixed candidate judged on the rows after
        them (dataset.selection_rows); a language model scores that many more tokens, so the
        verdict still rests on model.eval_tokens. The overrides and what they do; None when
        the fully quantized record says too little to split."""
        from runner.core.compose import compose

        total = int((full.get("splits") or {}).get("validation") or 0)
        cfg, _ = compose(list(full.get("overrides") or self.overrides))
        lm = cfg.model.task == "language_modeling"
        n = min(self.samples or (2 if lm else 256), total - 1 if lm else total // 2)
        if n < 1:
            return None
        extra = [f"dataset.selection_rows={n}"]
        if lm:  # windows 0 .. n-1 score window - 1 + (n - 1) * stride tokens
            m = cfg.model
            extra.append(f"model.eval_tokens={m.eval_tokens + m.window + (n - 1) * m.stride - 1}")
        unit = "windows" if lm else "rows"
        return extra, (
            f"validation {unit} 0-{n - 1} of {total} set apart for selection (sensitivity, "
            f"keep-float search); the mixed candidate is judged on the {unit} after them "
            f"({', '.join(extra)})"
        )

    def room(self, rec: dict[str, Any]) -> tuple[str, int] | None:
        """What raises a job's sample count, and its setting now: a language model's scored
        tokens (model.eval_tokens) while its validation text has more; None otherwise (the
        other datasets' validation split is all there is)."""
        from runner.core.compose import compose

        cfg, _ = compose(list(rec.get("overrides") or self.overrides))  # the job's own
        if cfg.model.task != "language_modeling":
            return None
        m, sel = cfg.model, cfg.dataset.selection_rows
        apart = m.window - 1 + (sel - 1) * m.stride if sel else 0  # the selection's tokens
        scored = int((rec.get("metric") or {}).get("n_samples") or 0)
        if scored < m.eval_tokens - 1 - apart:  # the text ran out before eval_tokens
            return None
        return "model.eval_tokens", int(m.eval_tokens)

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
            self.probes[key] = Probe(cfg, self.writer.dir("probe").root, self.samples)
        return self.probes[key]

    def rank(self, over: list[str], unit: str) -> dict[str, Any]:
        from runner.policy import sensitivity

        precision = next(o.split("=", 1)[1] for o in over if o.startswith("precision="))
        name = f"sensitivity_{precision}" + ("" if unit == self.unit else f"_{unit}")
        folder = self.writer.dir(name).root
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
            self.writer.write_text(MEMO, json.dumps(self.memo, indent=1))
            log.info("fallback: %d pattern(s) kept: drop %+.2f %%", len(patterns), 100 * m["drop"])
        return self.memo[memo_key]

    def close(self) -> None:
        for p in self.probes.values():
            p.close()
        self.probes.clear()


def write_outputs(out: Path, trail: Trail, argv: list[str], th: Thresholds) -> list[Path]:
    """decision.md, the sweep summary of the folder, recommended_<precision>.yaml: every file
    through the writer rooted at `out`; a file that cannot be written costs only itself."""
    from runner.core.safe_io import one_line
    from runner.core.writer import Writer
    from runner.recipes.export import summarize_sweep
    from runner.recipes.writer import recipe_yaml

    w, written = Writer(out), []

    def put(name: str, text: str) -> None:
        try:
            written.append(w.write_text(name, text))
        except OSError as exc:
            log.warning("could not write %s: %s", name, one_line(exc))

    for pattern in ("recommended_*.yaml", "candidate_*.yaml"):
        w.remove(pattern)  # an earlier walk's recipe must not outlive this trail
    put("decision.md", markdown(trail, argv, th))
    s = summarize_sweep(out, objective=th.objective, thresholds=th)
    written += s.written
    for d in trail.decisions:
        rec = d.record or d.candidate
        if rec is None:
            continue
        name = f"{'recommended' if d.record else 'candidate'}_{d.precision}"
        by = "Recommended by runner.decide" if d.record else "Next step's candidate (runner.decide)"
        try:
            text = recipe_yaml(rec, d.why, out, name, by=by)
        except Exception as exc:  # noqa: BLE001 - the trail and records are already written
            log.warning("could not write %s.yaml: %s", name, one_line(exc))
            continue
        put(f"{name}.yaml", text)
    return written


@dataclass(frozen=True)
class Options:
    """How the walk runs: the INT8 backend and INT4 algorithm it tries, the sensitivity unit,
    the probe's validation rows and the most the fallback may keep (a share of the layers)."""

    int8_backend: str | None = None
    int4_algorithm: str = "gptq"
    unit: str = "auto"
    samples: int | None = None
    max_kept: float = 0.25


def prepare(overrides: list[str], opts: Options) -> tuple[Any, Thresholds]:
    """The composed config and the thresholds of a walk; ValueError (one line naming the fix)
    for an override the walk sets itself or an unknown option."""
    from runner.core import registry
    from runner.core.compose import compose, refused

    if why := refused(overrides):
        raise ValueError(why)
    if bad := [o for o in overrides if o.split("=")[0].lstrip("+~") in RESERVED]:
        raise ValueError(
            f"{bad[0]} is set by the walk itself (INT8, QAT, INT4 in turn); use "
            "--int8-backend / --int4-algorithm, or python -m runner for one job"
        )
    int8_backends = [n for n, b in registry.items("backend") if b.precision == "int8"]
    if opts.int8_backend and opts.int8_backend not in int8_backends:
        raise ValueError(
            f"--int8-backend {opts.int8_backend} is unknown; use one of "
            f"{', '.join(sorted(int8_backends))}"
        )
    if opts.samples is not None and opts.samples < 1:
        raise ValueError(f"--samples {opts.samples} must be at least 1")
    if not 0 < opts.max_kept <= 1:
        raise ValueError(f"--max-kept {opts.max_kept} must be a share in (0, 1]")
    cfg, _ = compose(overrides)
    s = cfg.summary
    th = Thresholds(s.ship_below, s.qat_below, min_speedup=s.min_speedup, objective=s.objective)
    return cfg, th


def walk(
    cfg: Any,
    th: Thresholds,
    overrides: list[str],
    out: Path,
    opts: Options,
    echo: Callable[[str], object] | None = None,
) -> tuple[Trail, int]:
    """Walk the framework for one model into `out`: the trail and an exit code (1 when the
    walk stopped on an error; the steps measured so far are kept in the trail)."""
    int8 = [f"method.backend={opts.int8_backend}"] if opts.int8_backend else []
    int4 = [f"precision.int4_algorithm={opts.int4_algorithm}"]
    runner = Runner(overrides, out, opts.samples, opts.unit)
    lm = cfg.model.task == "language_modeling"
    units = (opts.unit, "kind") if opts.unit in ("auto", "block") else (opts.unit,)
    walker = Walker(
        lm,
        th,
        runner.job,
        runner.rank,
        runner.subset_drop,
        max_kept=opts.max_kept,
        units=units,
        echo=echo,
        room=runner.room,
        split=runner.split,
    )
    try:
        return walker.walk(int8, int4), 0
    except Exception as exc:  # noqa: BLE001 - the steps measured so far are still written
        log.exception("decide: the walk stopped")
        first = (str(exc).splitlines() or [""])[0]
        walker.trail.add(Step("walk", None, "failed", f"{type(exc).__name__}: {first}", "stop"))
        return walker.trail, 1
    finally:
        runner.close()
