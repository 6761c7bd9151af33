"""Issue 21, one test per row: each payload would leave a marker (a file, a line, a byte) if
the gate or the writer let it through; the marker never appears.

Rows: 1 target.ray from a recipe, 2 target.slurm from a recipe, 3 launcher options in a
record's overrides, 4 a sibling file choosing cache_dir / model.name, 5 interpolations,
6 `recipes export` naming its file from a record, 7 symlinks in a decide / sensitivity
folder, 8 a planted .hydra/config.yaml resolved for W&B, 9 hidden files and links in a recipe
folder, 10 custom code in a model folder, 11 terminal escapes and HTML in record strings,
12 a CSV too wide to parse.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from runner.recipes.check import RecipeError, check
from tests.conftest import ROOT, cli
from tests.records import baseline_record, make_record, write_job


@pytest.fixture(autouse=True)
def runner_log_level():
    """decide's and sensitivity's main set the runner logger to INFO for their console: undo
    it, so later tests' caplog does not see this process's earlier jobs."""
    logger = logging.getLogger("runner")
    level = logger.level
    yield
    logger.setLevel(level)


TOUCH = "sh -c 'touch {m}' #%s"


def _recipe(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def _run(*args: str, module: str = "runner") -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        return cli(*args, cwd=Path(tmp), module=module, timeout=300)


def _refused_by_cli(folder: Path, *overrides: str) -> str:
    """`python -m runner -m -cd FOLDER -cn r OVERRIDES`: refused in one line, nothing run."""
    out = folder / "out"
    done = _run("-m", "-cd", str(folder), "-cn", "r", f"hydra.sweep.dir={out}", *overrides)
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
    return done.stderr


def test_row1_a_recipe_may_not_give_its_target_a_ray_runtime_env(tmp_path):
    marker = tmp_path / "pwned"
    env = {"PYTHONWARNINGS": "ignore::antigravity.x", "BROWSER": TOUCH.format(m=marker)}
    text = "defaults: [config, _self_]\n" + OmegaConf.to_yaml({"target": {"ray": {
        "runtime_env": {"env_vars": env}}}})  # fmt: skip
    _recipe(tmp_path, {"r.yaml": text})
    err = _refused_by_cli(tmp_path, "hydra/launcher=ray_targets")
    assert err.startswith("error: recipe")
    assert "target.ray.runtime_env" in err and "launcher" in err and not marker.exists()


def test_row1_2_a_target_asks_its_engine_for_resources_only():
    from hydra_plugins.quant_sweep_runner.launchers import TargetSlurmLauncher, job_remote

    ray = OmegaConf.create({"target": {"ray": {"runtime_env": {"env_vars": {"BROWSER": "x"}}}}})
    with pytest.raises(ValueError, match="target.ray.runtime_env is not a resource request"):
        job_remote({}, ray)
    slurm = OmegaConf.create({"target": {"slurm": {"setup": ["touch x"]}}})
    with pytest.raises(ValueError, match="target.slurm.setup is not a resource request"):
        TargetSlurmLauncher.job_params(None, slurm)
    line = OmegaConf.create({"target": {"slurm": {"gres": "gpu:1\n#SBATCH --wrap=x"}}})
    with pytest.raises(ValueError, match="line break"):
        TargetSlurmLauncher.job_params(None, line)
    ok = OmegaConf.create({"target": {"ray": {"num_gpus": 1, "resources": {"jetson": 1}}}})
    assert job_remote({}, ok) == {"num_gpus": 1, "resources": {"jetson": 1}}


def test_row2_a_recipe_may_not_add_lines_to_the_sbatch_script(tmp_path):
    marker = tmp_path / "pwned"
    text = f"defaults: [config, _self_]\ntarget:\n  slurm:\n    setup: ['touch {marker}']\n"
    _recipe(tmp_path, {"r.yaml": text})
    err = _refused_by_cli(tmp_path, "hydra/launcher=submitit_slurm_targets")
    assert "target.slurm.setup is refused" in err and not marker.exists()


def _launcher_sweep(root: Path, marker: Path) -> Path:
    """A sweep whose records' overrides carry launcher options (and plain settings)."""
    evil = [f'target.ray.runtime_env.env_vars.BROWSER="{TOUCH.format(m=marker)}"',
            f"+target.slurm.setup=['touch {marker}']", "target.threads=2"]  # fmt: skip
    for name, rec in (("0_fp32", baseline_record()), ("1_int8", make_record("int8"))):
        write_job(root, name, {**rec, "overrides": [*rec["overrides"], *evil]})
    return root


def test_row3_launcher_options_in_a_record_never_travel_into_a_recipe(tmp_path):
    from runner.recipes.export import export, summarize_sweep

    marker = tmp_path / "pwned"
    sweep = _launcher_sweep(tmp_path / "sweep", marker)
    summarize_sweep(sweep)
    args = argparse.Namespace(
        sweep_dir=sweep / "1_int8", name=None, out=tmp_path / "recipes",
        metric_tolerance=0.01, speedup_tolerance=0.3, force=False,
    )  # fmt: skip
    exported = export(args)
    for path in (sweep / "recommended.yaml", exported):
        text = path.read_text()
        assert "runtime_env" not in text and "slurm" not in text and str(marker) not in text
        assert check(path.parent, path.stem).settings["target.threads"] == 2


def test_row4_a_sibling_file_may_not_choose_the_cache_or_a_name_that_becomes_a_path(tmp_path):
    stolen = tmp_path / "stolen"
    _recipe(tmp_path, {"r.yaml": "defaults: [config, helper, _self_]\n",
                       "helper.yaml": f"cache_dir: {stolen}\n"})  # fmt: skip
    err = _refused_by_cli(tmp_path)
    assert "helper.yaml: cache_dir is refused: it chooses where" in err and not stolen.exists()
    up = "/.." * 4  # hostile
    (tmp_path / "helper.yaml").write_text(f"model:\n  name: {up}/X\n")
    with pytest.raises(RecipeError, match="helper.yaml: model.name is refused"):
        check(tmp_path, "r")


@pytest.mark.parametrize("key", ["model.name", "model.path", "latency.lock_dir"])
def test_row5_an_interpolation_never_copies_a_path_into_a_setting(tmp_path, key):
    group, leaf = key.split(".")
    text = (f"defaults: [config, _self_]\n{group}:\n  {leaf}: ${{expected.p}}\n"
            f"expected:\n  p: {tmp_path / 'X'}\n")  # fmt: skip
    _recipe(tmp_path, {"r.yaml": text})
    with pytest.raises(RecipeError, match=f"r.yaml: {key} is refused"):
        check(tmp_path, "r")
    other = {"model": "window", "latency": "warmup"}[group]  # a key a recipe may set
    (tmp_path / "r.yaml").write_text(text.replace(leaf, other, 1))
    with pytest.raises(RecipeError, match=f"interpolation '\\${{expected.p}}' at {group}.{other}"):
        check(tmp_path, "r")  # there the interpolation itself is refused
    assert not (tmp_path / "X").exists()


def test_row6_recipes_export_names_its_file_inside_out_only(tmp_path):
    from runner.recipes.__main__ import main

    absolute = tmp_path / "abs" / "x"
    rec = make_record("int8", model=str(absolute))
    rec["choices"] = {**rec["axes"], "model": "digits_cnn"}  # the name comes from the axis
    job = write_job(tmp_path / "sweep", "1", rec).parent
    out = tmp_path / "recipes"
    assert main(["export", str(job), "--out", str(out)]) == 0
    (written,) = out.iterdir()
    assert written.name.endswith(".yaml") and "/" not in written.name
    assert not (tmp_path / "abs").exists()  # was /abs/x_int8_ptq.yaml
    assert main(["export", str(job), "--out", str(out), "--name", "../up"]) == 2  # hostile
    assert sorted(tmp_path.glob("*.yaml")) == []


def test_row6_a_record_whose_model_no_recipe_can_name_is_refused_not_exported(tmp_path, capsys):
    """Dropping the model would write a recipe that re-runs the default model under the
    record's promise."""
    from runner.recipes.__main__ import main

    job = write_job(tmp_path / "sweep", "1", make_record("int8", model="/abs/x")).parent
    out = tmp_path / "recipes"
    assert main(["export", str(job), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model '/abs/x' is not one of conf/model/'s options" in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("command", ["decide", "sensitivity"])
@pytest.mark.parametrize("planted", ["file", "folder"])
def test_row7_a_symlink_in_a_folder_to_resume_is_refused_before_anything_runs(
    tmp_path, capsys, command, planted
):
    import importlib

    victim, victim_dir = tmp_path / "victim.txt", tmp_path / "victim_dir"
    victim.write_text("mine")
    victim_dir.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    name = {"decide": ("decision.md", "1_fp32_ptq"), "sensitivity": ("sensitivity.md", "x")}
    if planted == "file":
        os.symlink(victim, out / name[command][0])
    else:
        os.symlink(victim_dir, out / name[command][1])
    main = importlib.import_module(f"runner.{command}").main
    over = ["precision=int8"] if command == "sensitivity" else ["target.threads=1"]
    assert main(["--out", str(out), *over]) == 2
    assert "is a symlink inside the output folder" in capsys.readouterr().err
    assert victim.read_text() == "mine" and list(victim_dir.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == [name[command][planted == "folder"]]


def test_row7_write_outputs_refuses_a_symlinked_decision_md_and_writes_the_rest(tmp_path):
    from runner.policy.decide import write_outputs
    from runner.policy.trail import Decision, Step, Trail
    from runner.report.verdict import Thresholds

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    out = tmp_path / "out"
    write_job(out, "1_fp32_ptq", baseline_record())
    rec = make_record("int8")
    write_job(out, "2_int8_ptq", rec)
    os.symlink(victim, out / "decision.md")
    trail = Trail([Step("INT8 PTQ", "2_int8_ptq", "ship", "fine", "ship")],
                  [Decision("int8", rec, "2_int8_ptq", "it ships")])  # fmt: skip
    written = {p.name for p in write_outputs(out, trail, [], Thresholds())}
    assert victim.read_text() == "mine" and "decision.md" not in written
    assert {"summary.md", "recommended_int8.yaml"} <= written


def test_row8_a_planted_hydra_config_is_never_resolved_for_wandb(tmp_path, monkeypatch):
    from runner.core.config import TrackingConfig
    from runner.report import tracking
    from tests.conftest import typed

    secret = "hunter2-marker"
    monkeypatch.setenv("QSR_TEST_SECRET", secret)
    job = tmp_path / "1_fp32_ptq"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("leak: ${oc.env:QSR_TEST_SECRET}\n")
    (job / ".hydra" / "hydra.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    sent: list[dict] = []

    class Run:
        summary = {}

        def finish(self) -> None:
            pass

    monkeypatch.setattr(tracking, "_start", lambda cfg, d, **kw: sent.append(kw) or Run())
    cfg = typed()
    tracking.log_record(TrackingConfig(name="wandb"), job, make_record(), config=cfg)
    assert secret not in repr(sent) and "leak" not in repr(sent)
    assert sent[0]["config"]["config"]["model"]["name"] == "digits_cnn"  # the job's own config
    assert sent[0]["group"] is None  # not read from the planted hydra.yaml either


def _in_thread(fn, seconds: float = 20):
    box: list = []

    def run() -> None:
        try:
            fn()
            box.append(None)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return box[0] if box else TimeoutError("hung")


def test_row9_hidden_files_and_links_of_a_recipe_folder_are_checked(tmp_path):
    laughs = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 40)]
    bomb = "expected:\n" + "".join(f"  {x}\n" for x in laughs)
    _recipe(tmp_path, {"r.yaml": "defaults: [config, _self_]\n", ".x.yaml": bomb})
    exc = _in_thread(lambda: check(tmp_path, "r"))  # named by nothing: still scanned
    assert isinstance(exc, RecipeError) and ".x.yaml: its aliases expand past" in str(exc)
    _recipe(tmp_path, {"r.yaml": "defaults: [config, .x, _self_]\n", ".x.yaml": "seed: 1\n"})
    exc = _in_thread(lambda: check(tmp_path, "r"))
    assert isinstance(exc, RecipeError) and "defaults entry '.x' is refused" in str(exc)
    (tmp_path / ".x.yaml").unlink()
    secret = tmp_path.parent / f"{tmp_path.name}_receiver.yaml"
    secret.write_text("expected:\n  stolen: marker\n")
    (tmp_path / "r.yaml").write_text("defaults: [config, y, _self_]\n")
    os.symlink(secret, tmp_path / "y.yaml")
    with pytest.raises(RecipeError, match="y.yaml: not a regular file"):
        check(tmp_path, "r")
    (tmp_path / "y.yaml").unlink()
    os.symlink(secret, tmp_path / ".hidden.yaml")  # named by nothing, still refused
    (tmp_path / "y.yaml").write_text("expected:\n  mine: 1\n")
    with pytest.raises(RecipeError, match=".hidden.yaml: not a regular file"):
        check(tmp_path, "r")


@pytest.mark.slow
def test_row10_custom_code_in_a_model_folder_never_runs_even_when_stdin_says_yes(tmp_path):
    from tests.core.test_gate import custom_code_folder

    marker = tmp_path / "pwned"
    folder = custom_code_folder(tmp_path / "evil_lm", marker, "config")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf"),
           "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    cmd = [sys.executable, "-m", "runner", "model=hf_causal_lm", f"model.path={folder}",
           f"hydra.run.dir={tmp_path / 'out'}", f"cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    done = subprocess.run(cmd, input="y\n" * 20, capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 2 and not marker.exists(), said[-3000:]
    assert "config.json names custom code (configuration_evil.EvilConfig)" in said
    assert "model.trust_remote_code=true on your own command line" in said
    assert "[y/N]" not in said


def test_row10_both_hf_sources_refuse_custom_code_before_transformers_reads_it(tmp_path):
    from runner.core.config import ModelConfig
    from runner.core.gate import Refused
    from runner.models import hf, hf_causal_lm
    from runner.models.hf_causal_lm import Source
    from tests.conftest import typed
    from tests.core.test_gate import custom_code_folder

    marker = tmp_path / "pwned"
    folder = custom_code_folder(tmp_path / "enc", marker, "tokenizer")
    cfg = ModelConfig(name="hf", task="embedding", path=str(folder))
    with pytest.raises(Refused, match="tokenizer_config.json names custom code"):
        hf.load(cfg, None, tmp_path)
    lm = custom_code_folder(tmp_path / "lm", marker, "config")
    with pytest.raises(Refused, match="config.json names custom code"):
        hf_causal_lm.precheck(typed("model=hf_causal_lm", f"model.path={lm}"))
    assert not marker.exists()
    assert Source(folder, gguf=False).pretrained()["trust_remote_code"] is False
    assert Source(folder, False, trust_remote_code=True).pretrained()["trust_remote_code"]


ESC = "\x1b]0;owned\x07\x1b[2J\x9b"


def test_row11_record_strings_reach_the_console_without_control_characters(tmp_path):
    sweep = tmp_path / "sweep"
    write_job(sweep, "0", baseline_record(model=f"m{ESC}"))
    write_job(sweep, "1", make_record(model=f"m{ESC}", name=f"acc{ESC}"))
    write_job(sweep, "2", make_record(status="failed", reason=f"boom{ESC}\nfake: ship"))
    (sweep / f"3{ESC}").mkdir()
    (sweep / f"3{ESC}" / "result.json").write_text("{not json")
    done = _run(str(sweep), module="runner.summarize")
    assert done.returncode == 0, done.stderr
    assert "skipping" in done.stderr  # the unreadable record's path was printed
    a, b = sweep / "0" / "result.json", sweep / "1" / "result.json"
    compared = _run(str(a), str(b), module="runner.compare")
    assert compared.returncode == 0, compared.stderr
    for text in (done.stdout, done.stderr, compared.stdout, compared.stderr):
        assert not any(c in text for c in "\x1b\x07\x9b")
    assert "\nfake: ship" not in done.stdout


def test_row11_decision_md_is_escaped_like_summary_md_and_its_echo_is_printable():
    from runner.policy.trail import Decision, Step, Trail, markdown
    from runner.report.verdict import Thresholds

    html = "<img src=x onerror=alert(1)>"
    shown: list[str] = []
    trail = Trail(echo=shown.append)
    trail.add(Step("INT8 PTQ", "2_int8`|x", "ship", f"acc {html}{ESC}", "ship | [x](y)"))
    trail.decisions.append(Decision("int8", make_record(), "2_int8_ptq", f"why {html}\n# h"))
    md = markdown(trail, [f"model={html}"], Thresholds())
    assert "<img" not in md and "&lt;img" in md and "\x1b" not in md
    assert "\n# h" not in md and "\\[x\\](y)" in md
    (row,) = [line for line in md.splitlines() if line.startswith("| 1 |")]
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six cells: no pipe of a record splits one
    assert "\x1b" not in shown[0] and "\x9b" not in shown[0]


@pytest.mark.parametrize("name_width", [100, 4])
def test_row12_a_csv_too_wide_is_refused_before_pandas_parses_it(tmp_path, monkeypatch, name_width):
    import pandas as pd

    from runner.core.config import DatasetConfig
    from runner.datasets.tabular import read

    marker, real = tmp_path / "parsed", pd.read_csv
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: marker.touch() or real(*a, **k))
    n = 150_000
    wide = tmp_path / "wide.csv"
    with open(wide, "w") as f:
        f.write(",".join(f"c{i:0{name_width}d}" for i in range(n)) + "\n")
        f.write(",".join("1" for _ in range(n)) + "\n")
    with pytest.raises(ValueError, match="over 4194304 bytes|150000 columns, over 100000"):
        read(DatasetConfig(name="csv", path=str(wide)))
    assert not marker.exists()
    narrow = tmp_path / "narrow.csv"
    narrow.write_text('"a,\nb",label\n' + "".join(f"{i},{i % 2}\n" for i in range(20)))
    x, y, _ = read(DatasetConfig(name="csv", path=str(narrow)))
    assert x.shape == (20, 1) and marker.exists()  # the patch does see a parse
