"""W&B sweeps drive the runner: the sweep YAML, and its command run as `wandb agent` would."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from runner.wandb_sweep import grid_size, main, sweep_spec
from tests.conftest import FAST, ROOT, cli


def test_swept_overrides_become_grid_parameters_and_fixed_ones_single_values():
    spec = sweep_spec(["precision=int8,int4", "method=ptq,qat", "target.threads=2"])
    assert spec["method"] == "grid"
    assert spec["parameters"] == {
        "precision": {"values": ["int8", "int4"]},
        "method": {"values": ["ptq", "qat"]},
        "target.threads": {"value": "2"},
        "tracking": {"value": "wandb"},
    }
    assert grid_size(spec) == 4
    assert spec["command"][:4] == ["${env}", "${interpreter}", "-m", "runner"]
    assert spec["command"][-1] == "${args_no_hyphens}"
    assert sweep_spec(["tracking=none"])["parameters"]["tracking"] == {"value": "none"}


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("+optimizer=adam", "unknown setting 'optimizer'"),
        ("precision=glob(*)", "list the options instead of a glob"),
        ("~precision", "cannot delete a key"),
    ],
)
def test_an_override_a_grid_cannot_express_is_refused_in_one_line(
    tmp_path, capsys, override, words
):
    assert main([override, "--out", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.yaml").exists()


def agent_command(spec: dict, params: dict[str, str]) -> list[str]:
    """The command `wandb agent` runs for one parameter set, built with wandb's own helpers
    and macro substitution (interpreter: this Python)."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    macros = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    macros.update(env=["/usr/bin/env"], interpreter=[sys.executable])
    out: list[str] = []
    for token in create_sweep_command(list(spec["command"])):
        is_macro = token.startswith("${") and token.endswith("}")
        out += (macros.get(token[2:-1]) or []) if is_macro else [token]
    return out


@pytest.mark.slow
def test_the_sweep_command_writes_a_record_into_the_sweep_dir(cache_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")  # what the agent's environment holds
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    out = tmp_path / "sweep.yaml"
    argv = ["-m", "precision=int8,int4", "method=ptq", *FAST, f"cache_dir={cache_dir}"]
    assert main([*argv, "--out", str(out)]) == 0
    spec = yaml.safe_load(out.read_text())
    params = {k: p.get("value") or p["values"][0] for k, p in spec["parameters"].items()}
    cmd = agent_command(spec, params)
    for attempt in ("first", "resumed"):
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ))  # fmt: skip
        assert done.returncode == 0, (attempt, done.stderr[-2000:])
    sweep_dir = tmp_path / "outputs" / "sweeps" / "wandb-abc123"
    (record,) = sweep_dir.rglob("result.json")
    rec = yaml.safe_load(record.read_text())
    assert rec["status"] == "ok" and rec["axes"]["precision"] == "int8"
    assert "resume: " in done.stdout + done.stderr  # the second run found the record
    assert list(record.parent.glob("wandb/offline-run-*/run-*.wandb"))

    from runner.recipes.export import summarize_sweep as summarize  # with recommended.yaml

    s = summarize(sweep_dir)
    assert len(s.table) == 1 and (sweep_dir / "recommended.yaml").is_file()


@pytest.mark.slow
def test_the_summary_run_of_an_agent_sweep_is_logged_on_request(tmp_path, monkeypatch):
    from tests.records import baseline_record, make_record, write_job
    from tests.wandb_records import only_run

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    sweep = tmp_path / "wandb-abc123"
    write_job(sweep, "precision=fp32", baseline_record())
    write_job(sweep, "precision=int8", make_record("int8"))
    # its own process, as a user runs it (this one may hold W&B state from the agent test)
    done = cli("--log-summary", str(sweep), cwd=tmp_path, module="runner.wandb_sweep")
    assert done.returncode == 0, done.stderr[-2000:]
    run = only_run(sweep)
    assert (run.group, run.job_type) == ("wandb-abc123", "summary")
    assert run.history["summary_table/nrows"] == 2 and run.summary["recommended"] == "int8/ptq"
