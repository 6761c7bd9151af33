"""Shared fixtures: compose the real config (shrunk for speed), one cache per test session."""

from __future__ import annotations

import functools
import json
import os
from functools import partial
from pathlib import Path

import jsonschema  # at import, not per call: mutmut's fork server then loads it only once
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SCHEMA = ROOT / "runner" / "result.schema.json"
GROUPS = ("model", "dataset", "precision", "method", "target", "tracking")
# Shrink training and timing so the end-to-end tests run in seconds, not minutes.
FAST = [
    "model.train_epochs=4",
    "method.qat_epochs=1",
    "latency.warmup=2",
    "latency.min_runs=5",
    "latency.min_seconds=0.02",
    "latency.memory_probe=false",
]


def compose(*overrides: str):
    """The composed DictConfig for `overrides`, exactly as `python -m runner` would build it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner.core.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def typed(*overrides: str):
    """The typed Config for `overrides`."""
    from runner.core.config import to_config

    return to_config(compose(*overrides))


def cli(*args: str, cwd: Path, module: str = "runner", timeout: int = 600):
    """`python -m MODULE ARGS` as a user would run it, from `cwd` (a test's tmp_path, so no
    output lands in the checkout), importing the project from this checkout."""
    import subprocess
    import sys

    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def choices_of(overrides: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Group choices as Hydra would report them: defaults, then the overrides."""
    choices = {
        "model": "digits_cnn",
        "dataset": "digits",
        "precision": "fp32",
        "method": "ptq",
        "target": "cpu_x86",
        "tracking": "none",
    }
    for o in overrides:
        k, _, v = o.partition("=")
        if k in choices:
            choices[k] = v
    return choices


def assert_valid_record(record: dict) -> None:
    """Fail unless `record` validates against the project's result schema."""
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(record)


@functools.cache
def _mutmut_durations() -> dict[str, float]:
    """Each test's duration in mutmut's clean run (mutmut-stats.json at the root of its copy
    of the checkout) when this session runs a mutant for `make mutate`; else nothing."""
    stats = ROOT / "mutmut-stats.json"
    if "MUTANT_UNDER_TEST" not in os.environ or not stats.is_file():
        return {}
    return json.loads(stats.read_text()).get("duration_by_test", {})


# Fixtures that run the real pipeline (train, quantize, time): never run against a mutant.
END_TO_END = ("cache_dir", "lm_job")


def _mutmut_scope(items: list) -> tuple[list, list]:
    """Under `make mutate`: (kept, dropped) items. Fast tests only (none that runs a real
    job), and of those only the ones under the selected packages' test paths (MUTATE_TESTS,
    set by the Makefile from ONLY=...), so a narrowed run also collects stats on fewer tests."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        return items, []
    paths = os.environ.get("MUTATE_TESTS", "").split()
    kept, dropped = [], []
    for item in items:
        heavy = any(f in END_TO_END for f in getattr(item, "fixturenames", ()))
        chosen = not paths or any(item.nodeid.startswith(p) for p in paths)
        (dropped if heavy or not chosen else kept).append(item)
    return kept, dropped


def pytest_collection_modifyitems(config, items):
    """Under `make mutate`, a mutant's tests are the selected packages' fast tests, run
    fastest first: mutmut stops at the first failure (-x), and its fork-server runner (3.8.1)
    hands the tests over unordered."""
    kept, dropped = _mutmut_scope(items)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    took = _mutmut_durations()
    if took:
        items.sort(key=lambda item: took.get(item.nodeid, 0.0))


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean(tmp_path_factory):
    """The suite runs in a folder of its own, and writes nothing into the checkout.

    Everything the tool writes by default (outputs/, its cache) is relative to where it runs,
    so the session works in a temporary folder: a user's own sweep in the same clone, writing
    into outputs/ meanwhile, neither disturbs the suite nor is blamed on it. What a test could
    still write into the checkout's outputs/ carries the session's temporary paths (every test
    job points its cache there): such a file fails the session."""
    here = Path.cwd()
    work = tmp_path_factory.mktemp("cwd")
    os.chdir(work)
    outputs = ROOT / "outputs"
    before = set(outputs.rglob("*")) if outputs.exists() else set()
    yield
    os.chdir(here)
    base = str(tmp_path_factory.getbasetemp())
    after = set(outputs.rglob("*")) if outputs.exists() else set()
    ours = [
        str(p)
        for p in sorted(after - before)
        if p.is_file() and p.stat().st_size < 1 << 20 and base in p.read_text(errors="ignore")
    ]
    assert ours == [], "a test wrote into the checkout's outputs/"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache for the whole test session: the digits model trains once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def smollm2_fp32():
    """SmolLM2's bundled GGUF dequantized to FP32 once per session (about 17 s each time):
    transformers' (module, tokenizer), as hf_causal_lm.load_lm returns them."""
    from runner.models.hf_causal_lm import load_lm, resolve
    from runner.models.smollm2 import gguf_path

    return load_lm(resolve(str(gguf_path())))


@pytest.fixture
def smollm2_once(smollm2_fp32, monkeypatch):
    """Loads of SmolLM2's GGUF in this test get the session's dequantized module; the rest of
    the load (the custom-code check, the weights' hash, the export cache, the encoding) runs."""
    from runner.models import hf_causal_lm
    from runner.models.smollm2 import gguf_path

    real = hf_causal_lm.load_lm

    def load(src):
        return smollm2_fp32 if src.gguf and Path(src.path) == gguf_path() else real(src)

    monkeypatch.setattr(hf_causal_lm, "load_lm", load)


@pytest.fixture
def run_job(cache_dir, tmp_path):
    """Run one job through the real pipeline with FAST settings; returns its record."""
    from runner.job import pipeline
    from runner.report.tracking import log_record

    def _run(*overrides: str, job_dir: Path | None = None) -> dict:
        ov = [*FAST, f"cache_dir={cache_dir}", *overrides]
        out, cfg = job_dir or tmp_path / "job", typed(*ov)
        logged = partial(log_record, cfg.tracking, out, config=cfg)  # as python -m runner does
        return pipeline.run(cfg, out, list(overrides), choices_of(overrides), on_record=logged)

    return _run
