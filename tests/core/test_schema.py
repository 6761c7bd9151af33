"""Configuration: every option of every group composes; bad values fail before any job runs."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ValidationError

from runner.core import registry
from tests.conftest import CONF, GROUPS, ROOT, cli, compose, typed

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
    """The runner's command line, run from a fresh temporary folder (nothing in the checkout)."""
    with tempfile.TemporaryDirectory() as tmp:
        return cli(*args, cwd=Path(tmp), timeout=120)


def test_unknown_option_fails_in_one_line_with_the_valid_choices_before_any_job():
    done = _cli("-m", "precision=int8,int9")
    assert done.returncode == 2 and done.stdout == ""  # no job was launched
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: precision=int9: no such option; did you mean int8")
    assert line.endswith("(valid: fp16, fp32, int4, int8)")


@pytest.mark.parametrize(
    ("arg", "near"),
    [
        ("precison=int8", "did you mean precision?"),
        ("model.pth=x.onnx", "did you mean model.path?"),
        ("latency.min_run=3", "did you mean latency.min_runs?"),
        ("modle=onnx_file", "did you mean model?"),
    ],
)
def test_a_typo_is_one_line_naming_the_closest_key(arg, near):
    done = _cli(arg)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: unknown setting") and near in line


@pytest.mark.parametrize(
    ("key", "said", "not_said"),
    [
        ("model.foo", "unknown setting 'model.foo' (", "did you mean"),  # not 'model' itself
        ("target.thread", "did you mean target.threads?", "has"),
        ("latency.zzz", "latency has ", "did you mean"),  # a short section lists its keys
    ],
)
def test_an_unknown_key_under_a_known_section_is_matched_against_that_sections_keys(
    key, said, not_said
):
    from runner.core.overrides import problem, setting_keys

    line = problem([f"{key}=1"], [ROOT / "conf"])
    assert said in line and not_said not in line
    if "has" in said:  # the keys it lists are exactly the section's
        listed = line.split(" has ", 1)[1].split(" (", 1)[0].split(", ")
        assert listed == [k[len("latency.") :] for k in setting_keys() if k.count(".") == 1
                          and k.startswith("latency.")]  # fmt: skip


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


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("target.batch=0", "target.batch=0 must be at least 1; set target.batch=1 or more"),
        ("target.threads=0", "target.threads=0 must be at least 1"),
        ("method.calibration_samples=0", "method.calibration_samples=0 must be at least 1"),
        ("isolation=thread", "isolation=thread is unknown; use one of auto, process, inline"),
        ("summary.objective=speed", "summary.objective=speed is unknown"),
        ("timeout_s=0", "timeout_s=0.0 must be positive"),
        ("fault=explode", "fault=explode is unknown"),
        (
            "precision.zero_point=half",
            "precision.zero_point=half is unknown; use one of int, float",
        ),
    ],
)
def test_values_a_run_cannot_use_are_named_with_the_fix(override, words):
    from runner.core.config import problems

    assert problems(typed()) == []
    assert any(words in p for p in problems(typed(override)))


def test_a_single_run_with_a_bad_value_exits_non_zero_with_the_field_named(tmp_path):
    done = _cli("target.batch=0", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2 and not (tmp_path / "result.json").exists()  # refused first
    (line,) = done.stderr.strip().splitlines()
    assert "target.batch=0 must be at least 1" in line


def test_a_calibration_split_smaller_than_asked_calibrates_on_all_of_it_and_warns(run_job):
    rec = run_job("precision=int8", "method.calibration_samples=5000")
    assert rec["status"] == "ok", rec["reason"]
    assert rec["details"]["calibration_samples"] == 179 == rec["splits"]["calibration"]
    (warning,) = rec["details"]["warnings"]
    assert "all 179 samples" in warning and "method.calibration_samples=5000" in warning


def test_help_says_what_the_tool_does_and_hides_the_test_hooks():
    out = _cli("--help").stdout
    assert out.startswith("quant-sweep-runner: decide how to quantize")
    assert "powered by Hydra" not in out
    for words in ("== Main commands ==", "== Where the outputs go ==", "outputs/sweeps/"):
        assert words in out
    assert not re.search(r"\b(fault|expected)\b", out)  # test hooks are no user options


@pytest.mark.parametrize("arg", ["+foo=1", "++foo=1", "+model.chanels=8"])
def test_adding_an_unknown_key_is_refused_like_setting_one(arg):
    done = _cli(arg)
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown setting") and arg in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_adding_a_known_or_free_form_key_is_still_allowed():
    from runner.core.config import unknown_additions

    assert unknown_additions(["+expected.metric=0.9", "++target.threads=2", "+hydra.x=1"]) is None


@pytest.mark.parametrize("model", ["minilm", "smollm2", "hf", "hf_causal_lm"])
def test_text_models_default_to_the_text_corpus_and_the_command_line_still_wins(model):
    assert typed(f"model={model}").dataset.name == "text_corpus"
    assert typed(f"model={model}", "dataset=csv").dataset.name == "csv"
    assert typed().dataset.name == "digits"


def test_a_relative_config_dir_composes_as_the_readme_writes_it(monkeypatch):
    """`--config-dir outputs/sweeps/<date_time>` (relative, as in the README) is checked before
    the job: Hydra's initialize_config_dir wants an absolute folder."""
    from runner.core.compose import compose

    monkeypatch.chdir(ROOT)
    cfg, choices = compose([], Path("recipes"), "digits_int8_ptq")
    assert choices["precision"] == "int8" and cfg.precision.name == "int8"
