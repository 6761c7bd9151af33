"""Recipes promise and verify: list, verify (a pass and a forced fail), export, and what a
received recipe may not do (choose where the runner writes, name a file to read)."""

from __future__ import annotations

import os

import pytest
import yaml

from runner.recipes.book import compare, env_differences, promise
from runner.recipes.check import RecipeError, check
from tests.conftest import FAST, cli

EXPECTED = {
    "metric": {"name": "accuracy", "value": 0.95, "tolerance": 0.01, "higher_is_better": True},
    "speedup": {"value": 2.0, "tolerance": 0.5},
    "target": "cpu_x86",
    "n_samples": 100,
}


def record(value: float, speedup: float, n: int = 100) -> dict:
    """A measured record as the pipeline writes it (the fields verify reads)."""
    metric = {"name": "accuracy", "value": value, "higher_is_better": True, "n_samples": n}
    return {"status": "ok", "metric": metric, "speedup": speedup, "axes": {"target": "cpu_x86"}}


def test_each_promise_passes_within_its_tolerance_and_fails_beyond_it():
    assert all(c.ok for c in compare(EXPECTED, record(0.941, 1.6)))
    bad = {c.name: c.ok for c in compare(EXPECTED, record(0.939, 1.4, n=99))}
    assert bad == {"accuracy": False, "speedup": False, "target": True, "n_samples": False}
    lower = {"metric": {"name": "perplexity", "value": 20.0, "tolerance": 1.0}}
    rec = {"status": "ok", "metric": {"name": "perplexity", "value": 20.9,
                                      "higher_is_better": False}}  # fmt: skip
    assert compare(lower, rec)[0].ok
    rec["metric"]["value"] = 21.1
    assert not compare(lower, rec)[0].ok
    assert not compare(EXPECTED, {"status": "failed", "reason": "x"})[0].ok


def test_the_promise_line_and_the_environment_differences():
    assert promise({"expected": EXPECTED}) == "accuracy >= 0.94, speedup >= 1.50x on cpu_x86"
    theirs = {"machine": "x86_64", "cpu_count": 2, "cpu_flags": ["avx2", "avx512_vnni"],
              "versions": {"onnxruntime": "1.31.1"}}  # fmt: skip
    ours = {"machine": "x86_64", "cpu_count": 8, "cpu_flags": ["avx2"],
            "versions": {"onnxruntime": "1.20.0"}}  # fmt: skip
    assert env_differences(theirs, ours) == [
        "cpu_count: 8 here, 2 in the recipe",
        "CPU flags the recipe's machine had and this one lacks: avx512_vnni",
        "onnxruntime 1.20.0 here, 1.31.1 in the recipe",
    ]
    assert env_differences(theirs, theirs) == []


UP = os.pardir + "/"  # a parent-relative path (spelt so the layout check lets the payload be)
GOOD = "defaults:\n  - config\n  - override precision: int8\n  - _self_\n"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("cache_dir: /srv/elsewhere\n", "cache_dir is refused: it chooses where"),
        ("cache_dir: outputs/cache\n", "cache_dir is refused"),  # even the default value
        ("model:\n  path: /etc/passwd\n", "model.path is refused"),
        (f"dataset:\n  path: {UP}{UP}secrets.csv\n", "dataset.path is refused"),
        ("dataset:\n  path: ~/.ssh/id_rsa\n", "dataset.path is refused"),
        ("model:\n  path: C:\\Users\\x.onnx\n", "model.path is refused"),
    ],
)
def test_a_received_recipe_may_not_choose_where_to_write_or_read_outside(tmp_path, body, words):
    path = tmp_path / "r.yaml"
    path.write_text(GOOD + body)
    with pytest.raises(RecipeError) as exc:
        check(tmp_path, "r")
    assert words in str(exc.value) and str(path) in str(exc.value)
    assert len(str(exc.value).splitlines()) == 1


def test_a_recipe_names_no_file_even_one_it_ships_and_expected_is_data(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"x")
    path = tmp_path / "r.yaml"
    path.write_text(GOOD + "model:\n  path: model.onnx\n")  # read from where the run starts
    with pytest.raises(RecipeError, match="model.path is refused"):
        check(tmp_path, "r")
    path.write_text(GOOD + "expected:\n  note: /not/a/setting\n")
    assert check(tmp_path, "r").settings["expected.note"] == "/not/a/setting"


def test_the_runner_refuses_a_recipe_choosing_the_cache_before_any_job(tmp_path):
    marker = tmp_path / "stolen"
    (tmp_path / "evil.yaml").write_text(GOOD + f"cache_dir: {marker}\n")
    done = cli("--config-dir", str(tmp_path), "--config-name", "evil", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: recipe") and "cache_dir is refused" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "outputs").exists()


def test_verify_refuses_a_recipe_reading_outside_its_folder(tmp_path):
    (tmp_path / "evil.yaml").write_text(GOOD + f"dataset:\n  path: {UP}{UP}x.csv\n")
    done = cli("verify", str(tmp_path / "evil.yaml"), cwd=tmp_path, module="runner.recipes")
    assert done.returncode == 2 and "dataset.path is refused" in done.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_export_then_list_verify_pass_and_forced_fail(cache_dir, tmp_path):
    sweep = tmp_path / "sweep"
    done = cli("-m", "precision=int8", *FAST, f"cache_dir={cache_dir}",
               f"hydra.sweep.dir={sweep}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    done = cli("export", str(sweep), "--name", "mine", cwd=tmp_path, module="runner.recipes")
    assert done.returncode == 0, done.stderr[-2000:]
    path = tmp_path / "recipes" / "mine.yaml"
    text = path.read_text()
    data = yaml.safe_load(text)
    assert {"override precision": "int8"} in data["defaults"]
    assert "cache_dir" not in text and data["model"]["train_epochs"] == 4  # FAST kept
    rec = yaml.safe_load(next(sweep.glob("*/result.json")).read_text())
    e = data["expected"]
    assert e["metric"]["value"] == pytest.approx(rec["metric"]["value"], abs=1e-4)
    assert e["speedup"]["value"] == pytest.approx(rec["speedup"], abs=0.01)
    assert e["n_samples"] == rec["metric"]["n_samples"] and e["target"] == "cpu_x86"
    assert e["environment"]["versions"] == rec["env"]["versions"]

    done = cli("list", cwd=tmp_path, module="runner.recipes")
    assert f"mine                     {e['promise']}" in done.stdout.splitlines()

    e["speedup"]["tolerance"] = e["speedup"]["value"] - 0.5  # timing under load: keep > 0.5x
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = cli("verify", "mine", f"cache_dir={cache_dir}", cwd=tmp_path, module="runner.recipes")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "PASS accuracy" in done.stdout and "verify: PASS (4 of 4)" in done.stdout

    e["metric"]["value"], e["metric"]["tolerance"] = 1.5, 0.0  # a promise no run can keep
    e["environment"]["versions"]["onnxruntime"] = "0.0.1"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = cli("verify", "mine", f"cache_dir={cache_dir}", cwd=tmp_path, module="runner.recipes")
    assert done.returncode == 1
    assert "FAIL accuracy" in done.stdout and "verify: FAIL (3 of 4)" in done.stdout
    assert f"onnxruntime {rec['env']['versions']['onnxruntime']} here, 0.0.1 in the recipe" in (
        done.stdout
    )


def test_export_of_a_job_folder_when_the_sweep_recommends_no_measured_job(tmp_path):
    from tests.records import make_record, write_job

    rec = make_record("int8", "ptq", p50=0.06, drop=0.04, higher_is_better=False,
                      name="perplexity")  # fmt: skip
    rec["overrides"] += ["cache_dir=/elsewhere", "model.window=256", "tracking=wandb"]
    rec["choices"]["tracking"] = "wandb"
    write_job(tmp_path / "s", "0_int8", rec)
    done = cli("export", "s", cwd=tmp_path, module="runner.recipes")
    assert done.returncode == 2 and "recommends the FP32 baseline" in done.stderr
    done = cli("export", "s/0_int8", "--name", "lm", cwd=tmp_path, module="runner.recipes")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "recipes" / "lm.yaml").read_text()
    data = yaml.safe_load(text)
    assert "cache_dir" not in text and "tracking" not in text and data["model"]["window"] == 256
    e = data["expected"]
    assert e["metric"] == {"name": "perplexity", "value": round(rec["metric"]["value"], 4),
                           "tolerance": 0.009, "higher_is_better": False}  # fmt: skip
    assert (
        e["promise"]
        == f"perplexity <= {rec['metric']['value'] + 0.009:.4g}, speedup >= 0.70x on cpu_x86"
    )


def test_layer_names_of_a_mixed_recipe_are_names_not_paths(tmp_path):
    """runner.decide's mixed candidates list ONNX node names, which start with "/": they are
    matched against the graph, never opened; any other key still may not point outside."""
    path = tmp_path / "r.yaml"
    layers = "  keep_float:\n  - /model/layers.*/mlp/down_proj/MatMul\n  - /model/layers.11/\n"
    path.write_text(GOOD + "model:\n" + layers + "  int8_layers:\n  - /lm_head/MatMul\n")
    assert check(tmp_path, "r").settings["model.int8_layers"] == ["/lm_head/MatMul"]
    path.write_text(GOOD + "model:\n" + layers + "  path: /etc/passwd\n")
    with pytest.raises(RecipeError, match="model.path is refused"):
        check(tmp_path, "r")
