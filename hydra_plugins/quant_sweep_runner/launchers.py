"""Launchers that ask the engine for what each job's target needs.

Hydra's Ray and submitit launchers give every job of a sweep the same resources. A sweep over
`target=cpu_x86,cuda` needs the cuda jobs on GPU nodes: these subclasses merge each job's
`target.ray` into its Ray remote options, and submit jobs grouped by their `target.slurm`
parameters (partition, constraint, gres) to Slurm. Results land in the sweep directory as with
the plugins they extend. Imported by Hydra's plugin scan, so it imports nothing heavy, and
defines nothing when the launcher plugins are not installed.

A target asks only for resources (RAY_REQUESTS, SLURM_REQUESTS): never an environment, a
setup line or anything else that runs on the cluster. Launcher options come from
`hydra.launcher` on the receiver's own command line or conf/ (a received recipe can set
neither: runner.core.gate).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)
RAY_REQUESTS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")
SLURM_REQUESTS = ("partition", "constraint", "gres", "gpus_per_node", "gpus_per_task",
                  "cpus_per_task", "cpus_per_gpu", "mem_gb", "mem_per_gpu", "mem_per_cpu",
                  "qos", "account", "nodes", "tasks_per_node", "timeout_min")  # fmt: skip


def requests(node: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    """A target's engine requests as a plain dict; ValueError (one line) for a key that is
    not a resource request, or a value with a line break or control character (it would
    become a line of the job script)."""
    asked = _plain(node)
    if bad := sorted(set(asked) - set(allowed)):
        raise ValueError(
            f"{where}.{bad[0]} is not a resource request ({', '.join(allowed)}); launcher "
            "options go under hydra.launcher on your own command line"
        )
    if any(ord(c) < 32 for text in _texts(asked) for c in text):
        raise ValueError(f"{where}: a value holds a line break or control character")
    return asked


def _texts(node: Any) -> list[str]:
    """Every key and string value in a plain tree."""
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in (str(k), *_texts(v))]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return [node] if isinstance(node, str) else []


def _plain(node: Any) -> dict[str, Any]:
    """A config node (or None) as a plain dict."""
    if node is None:
        return {}
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)


def job_remote(base: Any, sweep_config: DictConfig) -> dict[str, Any]:
    """Ray remote options for one job: the launcher's, then what the job's target asks for
    (custom `resources` are merged, not replaced)."""
    out = _plain(base)
    node = OmegaConf.select(sweep_config, "target.ray", default=None)
    asked = requests(node, RAY_REQUESTS, "target.ray")
    resources = {**out.get("resources", {}), **asked.pop("resources", {})}
    out.update(asked)
    if resources:
        out["resources"] = resources
    return out


def group_jobs(params: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[int]]]:
    """Jobs (by position) grouped by equal engine parameters, in first-seen order."""
    groups: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for i, p in enumerate(params):
        groups.setdefault(json.dumps(p, sort_keys=True), (p, []))[1].append(i)
    return list(groups.values())


try:
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher
except ImportError:  # the launchers extra is not installed
    RayLauncher = None

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
        LocalLauncher,
        SlurmLauncher,
    )
except ImportError:  # the launchers extra is not installed
    LocalLauncher = None


if RayLauncher is not None:

    class TargetRayLauncher(RayLauncher):
        """hydra-ray-launcher, with each job's remote options extended by `target.ray`."""

        def launch(self, job_overrides, initial_job_idx):  # noqa: ANN001 - Hydra's signature
            """Start (or join) Ray, submit one remote task per job, wait for them all."""
            import ray
            from hydra.core.singleton import Singleton
            from hydra.core.utils import configure_log, filter_overrides, setup_globals
            from hydra_plugins.hydra_ray_launcher._launcher_util import (
                launch_job_on_ray,
                start_ray,
            )

            setup_globals()
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
            self.ray_cfg.init.setdefault("object_store_memory", 78643200)
            start_ray(self.ray_cfg.init)
            runs = []
            for i, overrides in enumerate(job_overrides):
                idx = initial_job_idx + i
                cfg = self.hydra_context.config_loader.load_sweep_config(
                    self.config, list(overrides)
                )
                with open_dict(cfg):
                    cfg.hydra.job.id, cfg.hydra.job.num = f"job_id_for_{idx}", idx
                remote = job_remote(self.ray_cfg.remote, cfg)
                log.info("\t#%d : %s  (ray %s)", idx, " ".join(filter_overrides(overrides)), remote)
                runs.append(
                    launch_job_on_ray(
                        self.hydra_context,
                        OmegaConf.create(remote),
                        cfg,
                        self.task_function,
                        Singleton.get_state(),
                    )
                )
            return [ray.get(run) for run in runs]


if LocalLauncher is not None:

    class _TargetGroups:
        """Submit jobs in groups of equal per-job engine parameters, all before waiting."""

        def job_params(self, sweep_config: DictConfig) -> dict[str, Any]:
            """Engine parameters this job adds to the launcher's."""
            return {}

        def _executor(self, params: dict[str, Any]):
            import submitit
            from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

            init_keys = {"max_num_timeout", "submitit_folder"}
            init = {}
            if "max_num_timeout" in params:  # Slurm only
                init[f"{self._EXECUTOR}_max_num_timeout"] = params["max_num_timeout"]
            executor = submitit.AutoExecutor(
                cluster=self._EXECUTOR, folder=params["submitit_folder"], **init
            )
            base = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(
                **{
                    k if k in base else f"{self._EXECUTOR}_{k}": v
                    for k, v in params.items()
                    if k not in init_keys
                }
            )
            return executor

        def launch(self, job_overrides, initial_job_idx):  # noqa: ANN001 - Hydra's signature
            """Group the jobs by their target's parameters, submit every group, then wait."""
            from hydra.core.singleton import Singleton

            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            if "mode" in self.config.hydra.sweep:
                os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
            load = self.hydra_context.config_loader.load_sweep_config
            extra = [self.job_params(load(self.config, list(o))) for o in job_overrides]
            submitted: dict[int, Any] = {}
            for params, members in group_jobs(extra):
                args = [
                    (list(job_overrides[i]), "hydra.sweep.dir", initial_job_idx + i,
                     f"job_id_for_{initial_job_idx + i}", Singleton.get_state())
                    for i in members
                ]  # fmt: skip
                log.info("submitit: jobs %s with %s", [a[2] for a in args], params or "defaults")
                jobs = self._executor({**self.params, **params}).map_array(
                    self, *zip(*args, strict=True)
                )
                submitted.update(zip(members, jobs, strict=True))
            return [submitted[i].results()[0] for i in range(len(job_overrides))]

    class TargetLocalLauncher(_TargetGroups, LocalLauncher):
        """submitit_local: the Slurm path without Slurm (jobs as local processes)."""

    class TargetSlurmLauncher(_TargetGroups, SlurmLauncher):
        """submitit_slurm, with each job's Slurm parameters extended by `target.slurm`."""

        def job_params(self, sweep_config: DictConfig) -> dict[str, Any]:
            node = OmegaConf.select(sweep_config, "target.slurm", default=None)
            return requests(node, SLURM_REQUESTS, "target.slurm")
