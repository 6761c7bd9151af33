"""Scale-out: the same sweep through Hydra's launchers gives the same metrics, honest latency
labels, and every job's record in the one sweep directory; per-target engine requests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from omegaconf import OmegaConf

from hydra_plugins.quant_sweep_runner.launchers import group_jobs, job_remote
from tests.conftest import CONF, FAST, ROOT, assert_valid_record

JOBS = ["precision=fp32,int8", "method=ptq"]  # two jobs: run side by side by joblib and Ray


def _launcher(name: str, *overrides: str):
    """The composed hydra.launcher node for `hydra/launcher=name`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner.core.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", [f"hydra/launcher={name}", *overrides], return_hydra_config=True)
    return cfg


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("joblib", "hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
        ("ray", "hydra_ray_launcher.ray_launcher.RayLauncher"),
        ("ray_targets", "quant_sweep_runner.launchers.TargetRayLauncher"),
        ("submitit_local", "hydra_submitit_launcher.submitit_launcher.LocalLauncher"),
        ("submitit_local_targets", "quant_sweep_runner.launchers.TargetLocalLauncher"),
        ("submitit_slurm_targets", "quant_sweep_runner.launchers.TargetSlurmLauncher"),
    ],
)
def test_every_launcher_option_composes_to_its_plugin(name, cls):
    assert _launcher(name).hydra.launcher._target_ == f"hydra_plugins.{cls}"


def test_a_ray_job_asks_for_what_its_target_needs():
    cfg = _launcher("ray_targets", "target=jetson_orin_nano")
    base = OmegaConf.create({"num_cpus": 1, "resources": {"big_memory": 1}})
    assert job_remote(base, cfg) == {
        "num_cpus": 1,
        "num_gpus": 1,
        "resources": {"big_memory": 1, "jetson": 1},
    }
    assert job_remote(base, _launcher("ray_targets", "target=cpu_x86")) == {
        "num_cpus": 1,
        "resources": {"big_memory": 1},
    }


def test_slurm_jobs_are_grouped_by_their_targets_parameters():
    from hydra_plugins.quant_sweep_runner.launchers import TargetSlurmLauncher

    params = [
        TargetSlurmLauncher.job_params(None, _launcher("submitit_slurm_targets", f"target={t}"))
        for t in ("cpu_x86", "cuda", "cpu_x86_avx2", "cuda")
    ]
    assert group_jobs(params) == [({}, [0, 2]), ({"gres": "gpu:1"}, [1, 3])]


def test_a_slurm_group_is_submitted_with_its_gres(tmp_path, monkeypatch):
    from hydra_plugins.quant_sweep_runner.launchers import TargetSlurmLauncher

    # submitit builds a Slurm executor only where `srun` exists; nothing is submitted here.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    node = _launcher("submitit_slurm_targets").hydra.launcher
    params = {k: v for k, v in OmegaConf.to_container(node).items() if k != "_target_"}
    params["submitit_folder"] = str(tmp_path)
    launcher = TargetSlurmLauncher(**params)
    executor = launcher._executor({**launcher.params, "gres": "gpu:1", "partition": "gpu"})
    slurm = executor._executor.parameters
    assert (slurm["gres"], slurm["partition"], slurm["cpus_per_task"]) == ("gpu:1", "gpu", 2)


def _sweep(sweep_dir, cache_dir, lock_dir, *launcher: str, env=None):
    cmd = [sys.executable, "-m", "runner", "-m", *JOBS, *FAST, f"cache_dir={cache_dir}",
           f"latency.lock_dir={lock_dir}", f"hydra.sweep.dir={sweep_dir}", *launcher]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sweep_dir.glob("*/result.json")]
    assert len(records) == 2 and (sweep_dir / "summary.md").exists()
    return {r["axes"]["precision"]: r for r in records}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The jobs run one after the other (Hydra's basic launcher); warms the shared cache."""
    root = tmp_path_factory.mktemp("launchers")
    recs = _sweep(root / "basic", root / "cache", root / "locks")
    return root, recs


def _ray_args(tmp: str) -> list[str]:
    return [
        "hydra/launcher=ray_targets",
        "+hydra.launcher.ray.init.num_cpus=2",
        f"+hydra.launcher.ray.init._temp_dir={tmp}",
        "+hydra.launcher.ray.init.resources={cpu_box:2}",
        "+target.ray.resources={cpu_box:1}",  # a custom resource the job must be given
    ]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "ray_targets", "submitit_local_targets"])
def test_the_same_jobs_give_the_same_metrics_on_every_launcher(reference, launcher):
    root, expected = reference
    env, args, ray_tmp = None, [f"hydra/launcher={launcher}"], None
    if launcher == "joblib":
        args.append("hydra.launcher.n_jobs=2")
    if launcher == "ray_targets":  # short socket paths; Ray's files out of the real home
        ray_tmp = tempfile.mkdtemp(prefix="ray")
        args = _ray_args(ray_tmp)
        env = {**os.environ, "HOME": str(root / f"home-{launcher}")}
    try:
        got = _sweep(root / launcher, root / "cache", root / "locks", *args, env=env)
    finally:
        if ray_tmp:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    for precision, rec in got.items():
        assert_valid_record(rec)
        assert rec["status"] == "ok", rec["reason"]
        assert rec["metric"]["value"] == expected[precision]["metric"]["value"]
        assert rec["metric"]["baseline"] == expected[precision]["metric"]["baseline"]
        assert rec["latency"]["isolation"] in ("pinned", "serial")
        if rec["latency"]["isolation"] == "pinned":
            assert len(rec["latency"]["cores"]) == rec["latency"]["threads"]
