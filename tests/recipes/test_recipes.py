"""Recipes are data: what Hydra would compose is checked, and refused before any job runs.

Each payload would touch a marker file if it ran; the marker never appears.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from runner.recipes.check import (
    RecipeError,
    _composed_problem,
    _loader,
    check,
    command_line_problem,
)
from runner.recipes.files import expanded_nodes
from tests.conftest import ROOT, cli
from tests.userdata import TouchOnLoad

GOOD = "defaults:\n  - config\n  - override precision: int8\n  - _self_\ntarget:\n  threads: 2\n"


def _callback(marker) -> str:
    """A `hydra:` block whose callback would touch the marker when Hydra starts."""
    head = "hydra:\n  callbacks:\n    x:\n"
    return head + f"      _target_: pathlib.Path.touch\n      self: {marker}\n"


def _recipe(folder, files: dict[str, str]):
    """Write a recipe folder: {relative path: text}."""
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def _refused(folder, name: str, words: str) -> str:
    with pytest.raises(RecipeError) as exc:
        check(folder, name)
    msg = str(exc.value)
    assert words in msg and "\n" not in msg, msg
    return msg


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The runner's command line from an empty temporary folder (nothing lands in the checkout)."""
    with tempfile.TemporaryDirectory() as tmp:
        return cli(*args, cwd=Path(tmp), timeout=120)


def test_e1_a_sibling_file_pulled_in_by_the_defaults_is_checked(tmp_path):
    marker = tmp_path / "pwned"
    _recipe(tmp_path, {"r.yaml": "defaults: [config, helper, _self_]\n",
                       "helper.yaml": _callback(marker)})  # fmt: skip
    _refused(tmp_path, "r", "helper.yaml: a `hydra:` block is refused")
    assert not marker.exists()


def test_e1_an_override_to_a_group_option_with_a_global_package_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = "# @package _global_\n" + _callback(marker)
    _recipe(tmp_path, {"r.yaml": "defaults:\n  - config\n  - override model: evil\n  - _self_\n",
                       "model/evil.yaml": evil})  # fmt: skip
    _refused(tmp_path, "r", "model/evil.yaml: a `# @package _global_` header is refused")
    assert not marker.exists()


@pytest.mark.parametrize("config", ["/config@_global_", "/config"])
def test_e2_a_package_header_into_hydra_logging_is_refused(tmp_path, config):
    marker = tmp_path / "pwned"
    text = (
        f"# @package hydra.job_logging.handlers\ndefaults: [{config}, _self_]\n"
        f'model: {{"()": pathlib.Path.touch, self: {marker}}}\n'
    )
    _recipe(tmp_path, {"r.yaml": text})
    _refused(tmp_path, "r", "refused")
    assert not marker.exists()


@pytest.mark.parametrize(
    "spelling",
    [
        ["--config-dir", "{d}", "--config-name", "r"],
        ["--config-d", "{d}", "--config-n", "r"],
        ["--config-di={d}", "--config-nam=r"],
        ["-cd", "{d}", "-cn", "r"],
        ["-cd={d}", "-cn=r.yaml"],
    ],
)
def test_e3_every_spelling_of_the_recipe_flags_is_checked(tmp_path, spelling):
    marker = tmp_path / "pwned"
    _recipe(tmp_path, {"r.yaml": "defaults: [config, _self_]\n" + _callback(marker)})
    run_dir = f"hydra.run.dir={tmp_path / 'out'}"  # unrefused, the job would fail fast
    done = _cli(*(a.format(d=tmp_path) for a in spelling), "fault=explode", run_dir)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: recipe") and len(done.stderr.strip().splitlines()) == 1
    assert "a `hydra:` block is refused" in done.stderr
    assert not marker.exists()


def test_e3_config_path_and_experimental_rerun_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    _recipe(tmp_path, {"r.yaml": "defaults: [base_config, _self_]\n" + _callback(marker)})
    done = _cli("-cp", str(tmp_path), "-cn", "r", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode == 2 and "--config-path (-cp) is refused" in done.stderr
    payload = tmp_path / "config.pickle"
    payload.write_bytes(pickle.dumps(TouchOnLoad(str(marker))))
    done = _cli("--experimental-rer", str(payload))
    assert done.returncode == 2 and "--experimental-rerun is refused" in done.stderr
    assert not marker.exists()


def test_e4_trust_pickle_in_a_recipe_is_refused_but_the_receiver_may_pass_it(tmp_path):
    text = "defaults: [config, override model: torch_file, _self_]\nmodel: {arch: digits_cnn"
    _recipe(tmp_path, {"r.yaml": text + ", trust_pickle: true}\n"})
    _refused(tmp_path, "r", "model.trust_pickle is refused: trusting a pickle")
    _recipe(tmp_path, {"r.yaml": text + "}\n"})
    argv = ["-cd", str(tmp_path), "-cn", "r", "model.trust_pickle=true", "model.path=evil.pt"]
    assert command_line_problem(argv) is None


def test_every_interpolation_in_a_received_file_is_refused(tmp_path):
    """A resolver reads the machine (${oc.env:HOME}); a plain interpolation copies another
    setting, such as a path out of the free-form `expected:` block (issue 21, row 5)."""
    _recipe(tmp_path, {"r.yaml": "defaults: [config, _self_]\nseed: '${oc.env:HOME}'\n"})
    _refused(tmp_path, "r", "the interpolation '${oc.env:HOME}' at seed is refused")
    _recipe(tmp_path, {"r.yaml": "defaults: [config, _self_]\nseed: ${dataset.seed}\n"})
    _refused(tmp_path, "r", "the interpolation '${dataset.seed}' at seed is refused")


def test_a_billion_laughs_file_is_refused_in_well_under_a_second(tmp_path):
    lines = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 41)]
    text = "defaults: [config, _self_]\nexpected:\n" + "".join(f"  {x}\n" for x in lines)
    assert len(text) < 1500
    _recipe(tmp_path, {"r.yaml": text})
    start = time.perf_counter()
    _refused(tmp_path, "r", "aliases expand past")
    assert time.perf_counter() - start < 5  # generous: the scan stops at the cap
    assert expanded_nodes("a: &a [1, 2]\nb: *a\n") == 1 + 2 * 3 + 2  # root, a, 1, 2, b, copy


@pytest.mark.parametrize(
    "entry",
    ["../x", "override hydra/launcher: evil", "hydra/callbacks: x", "model@hydra: evil",  # hostile
     "override model: ../../x"],  # hostile
)  # fmt: skip
def test_defaults_leaving_the_folder_or_picking_hydra_groups_are_refused(tmp_path, entry):
    _recipe(tmp_path, {"r.yaml": f"defaults:\n  - config\n  - {entry}\n"})
    _refused(tmp_path, "r", "defaults entry")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (GOOD + "model:\n  _target_: os.system\n", "`_target_` at model._target_"),
        (GOOD + "hydra:\n  job:\n    chdir: true\n", "a `hydra:` block is refused"),
        (GOOD + "hydra.job.chdir: true\n", "a `hydra:` block is refused"),
        (GOOD + "model:\n  x._target_: os.system\n", "`x._target_` at model.x._target_"),
        (GOOD + "optimizer: adam\n", "optimizer"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("defaults: [config\n", "cannot be read as YAML"),
    ],
)
def test_a_bad_recipe_is_refused_with_the_reason(tmp_path, text, words):
    _recipe(tmp_path, {"r.yaml": text})
    assert str(tmp_path / "r.yaml") in _refused(tmp_path, "r", words)


def test_a_fifo_in_the_recipe_folder_is_refused_not_read(tmp_path):
    _recipe(tmp_path, {"r.yaml": GOOD})
    os.mkfifo(tmp_path / "model.yaml")
    _refused(tmp_path, "r", "not a regular file")


def test_changed_hydra_settings_are_caught_after_composition():
    from hydra.types import RunMode

    ref = _loader(None).load_configuration("config", [], RunMode.MULTIRUN)
    assert _composed_problem(ref, ref) is None
    cfg = _loader(None).load_configuration("config", ["hydra.job.chdir=true"], RunMode.MULTIRUN)
    assert "changes Hydra's settings" in _composed_problem(cfg, ref)


def test_good_recipes_pass_and_run_through_the_cli(tmp_path):
    _recipe(tmp_path, {"r.yaml": GOOD + "expected:\n  metric: 0.99\n  tolerance: 0.01\n"})
    check(tmp_path, "r")
    check(ROOT / "recipes", "digits_int8_ptq")
    done = _cli("--config-d", str(tmp_path), "--config-n", "r", "--cfg", "job")
    assert done.returncode == 0, done.stderr
    assert "threads: 2" in done.stdout and "bits: 8" in done.stdout


def test_the_check_searches_configs_in_the_order_hydra_itself_does(tmp_path):
    """The check composes with its own copy of the search path; it must be Hydra's."""
    _recipe(tmp_path, {"r.yaml": GOOD})
    done = _cli("-cd", str(tmp_path), "-cn", "r", "--info", "searchpath")
    shown = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in done.stdout.splitlines()
        if line.startswith("| ") and "Provider" not in line
    ]
    ours = [[e.provider, e.path] for e in _loader(tmp_path).get_search_path().get_path()]
    assert shown == ours and ours[2] == ["command-line", f"file://{tmp_path.resolve()}"]
