"""Recipes are data: `_target_`, Hydra blocks and unknown keys are refused before composing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runner.recipes import RecipeError, check, recipe_from_argv
from tests.conftest import ROOT

GOOD = "defaults:\n  - config\n  - override precision: int8\n  - _self_\ntarget:\n  threads: 2\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (GOOD + "model:\n  _target_: os.system\n", "`_target_` at model._target_"),
        (GOOD + "hydra:\n  job:\n    chdir: true\n", "a `hydra:` block is refused"),
        ("defaults:\n  - config\n  - override hydra/launcher: evil\n", "may not select Hydra"),
        (GOOD + "optimizer: adam\n", "unknown key 'optimizer'"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("defaults: [config\n", "cannot be read as YAML"),
    ],
)
def test_a_bad_recipe_is_refused_with_the_reason(tmp_path, text, words):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as exc:
        check(path)
    assert words in str(exc.value) and str(path) in str(exc.value)


def test_a_good_recipe_with_expected_results_passes(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(GOOD + "expected:\n  metric: 0.99\n  tolerance: 0.01\n")
    assert check(path)["expected"]["metric"] == 0.99


def test_recipe_is_found_from_both_command_line_spellings(tmp_path):
    (tmp_path / "r.yaml").write_text(GOOD)
    assert recipe_from_argv(["--config-dir", str(tmp_path), "--config-name", "r"]) == (
        tmp_path / "r.yaml"
    )
    assert recipe_from_argv([f"-cd={tmp_path}", "-cn=r.yaml"]) == tmp_path / "r.yaml"
    assert recipe_from_argv(["precision=int8"]) is None


def test_the_cli_refuses_a_recipe_that_would_run_code_before_hydra_starts(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.yaml").write_text(
        "defaults:\n  - config\n  - _self_\nhydra:\n  callbacks:\n    x:\n"
        f"      _target_: pathlib.Path.touch\n      self: {marker}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--config-dir", str(tmp_path), "--config-name", "evil"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: recipe") and len(done.stderr.strip().splitlines()) == 1
    assert not marker.exists()
