"""Configuration: every option of every group composes; bad values fail before any job runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ValidationError

from runner import registry
from tests.conftest import CONF, GROUPS, ROOT, compose, typed

OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_every_option_composes_to_its_typed_config(group, option):
    cfg = typed(f"{group}={option}")
    assert getattr(cfg, group).name == option


@pytest.mark.parametrize("kind", ["model", "dataset", "target"])
def test_yaml_options_and_registered_implementations_are_the_same_words(kind):
    assert sorted(p.stem for p in (CONF / kind).glob("*.yaml")) == registry.names(kind)


def test_all_precisions_have_a_ptq_backend():
    from runner.backends import select

    for p in ("fp32", "fp16", "int8", "int4"):
        name, backend, why = select(p, "ptq")
        assert backend is not None, why


@pytest.mark.parametrize(
    ("override", "error", "text"),
    [
        ("model.channels=wide", ValidationError, "could not be converted to Integer"),
        ("target.threads=1.5", ValidationError, "could not be converted to Integer"),
        ("model.chanels=8", ConfigAttributeError, "Key 'chanels' not in 'ModelConfig'"),
    ],
)
def test_bad_value_or_key_is_rejected_at_composition(override, error, text):
    with pytest.raises(ConfigCompositionException) as exc:
        compose(override)
    assert isinstance(exc.value.__cause__, error)
    assert text in str(exc.value.__cause__)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unknown_option_fails_with_the_valid_choices_before_any_job():
    done = _cli("-m", "precision=int8,int9")
    assert done.returncode != 0
    assert "Could not find 'precision/int9'" in done.stderr
    for valid in ("fp16", "fp32", "int4", "int8"):
        assert valid in done.stderr
    assert "#0" not in done.stdout  # no job was launched


def test_help_answers_without_heavy_imports():
    code = (
        "import sys, runner.__main__; "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "[]"
    assert "precision: fp16, fp32, int4, int8" in _cli("--help").stdout


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_recipe_composes(recipe):
    done = _cli("--config-dir", str(recipe.parent), "--config-name", recipe.stem, "--cfg", "job")
    assert done.returncode == 0, done.stderr
    assert "precision:" in done.stdout
