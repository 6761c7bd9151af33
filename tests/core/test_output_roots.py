"""Every registered command writes only under its output root, through the one writer.

For each command: a symlinked output name (a file it writes, planted as a link to a victim
file) and a symlinked folder (a folder it writes into, or the root itself, linked to a victim
folder) are refused, the victims keep what they held, and nothing appears outside the root;
where a clean run is cheap (hand-made records, a FAST fp32 job on the cached digits model),
it too creates files under the root only.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FAST, ROOT, cli
from tests.records import baseline_record, make_record, write_job


@pytest.fixture(autouse=True)
def runner_log_level():
    """decide's and sensitivity's main set the runner logger to INFO for their console: undo
    it, so later tests' caplog does not see this process's earlier jobs."""
    logger = logging.getLogger("runner")
    level = logger.level
    yield
    logger.setLevel(level)


@dataclass
class Case:
    """How to run one command into `root` (ctx: the session cache and the test's folder)."""

    run: Callable[[Path, dict], object]
    file: str  # a name the command writes at its root
    folder: str | None  # a folder it writes into (None: the root itself)
    setup: Callable[[Path, dict], object] | None = None  # what the root holds before
    clean: bool = True  # a clean run is cheap enough to check here


def _sweep(root: Path, ctx: dict) -> None:
    write_job(root, "0_fp32", baseline_record())
    write_job(root, "1_int8", make_record("int8"))


def _runner_cli(root: Path, ctx: dict) -> None:
    over = ["precision=fp32", *FAST, f"cache_dir={ctx['cache']}", f"hydra.run.dir={root}"]
    ctx["done"] = cli(*over, cwd=ctx["tmp"] / "cwd", timeout=600)


def _api_run(root: Path, ctx: dict) -> None:
    import runner

    runner.run(["precision=fp32", *FAST, f"cache_dir={ctx['cache']}"], out=root, verbose=False)


def _api_sweep(root: Path, ctx: dict) -> None:
    import runner

    runner.sweep(["precision=fp32", *FAST, f"cache_dir={ctx['cache']}"], out=root, verbose=False)


def _api_summarize(root: Path, ctx: dict) -> None:
    import runner

    runner.summarize(root)


def _summarize(root: Path, ctx: dict) -> None:
    import importlib

    importlib.import_module("runner.summarize").main([str(root)])  # runner.summarize: the API


def _decide(root: Path, ctx: dict) -> None:
    from runner import decide

    if ctx.get("clean"):  # the walk's jobs are other tests' business: its outputs here
        from runner.policy.decide import write_outputs
        from runner.policy.trail import Decision, Step, Trail
        from runner.report.verdict import Thresholds

        rec = json.loads((root / "1_int8" / "result.json").read_text())
        trail = Trail([Step("INT8 PTQ", "1_int8", "ship", "-", "ship")],
                      [Decision("int8", rec, "1_int8", "it ships")])  # fmt: skip
        write_outputs(root, trail, [], Thresholds())
    else:
        decide.main(["--out", str(root), "target.threads=1"])


def _sensitivity(root: Path, ctx: dict) -> None:
    from runner import sensitivity
    from runner.policy.sensitivity import write

    if ctx.get("clean"):
        row = {"unit": "conv1", "layers": ["conv1"], "patterns": ["conv1"], "value": 0.9,
               "drop": 0.01, "drop_ci": [0.0, 0.02]}  # fmt: skip
        s = {"model": "m", "dataset": "d", "precision": "int8", "backend": "b", "target": "t",
             "unit": "layer", "metric": "accuracy", "higher_is_better": True, "baseline": 0.9,
             "subset": {"rows": 10, "of": "samples"}, "seconds": 1.0,
             "all_quantized": {"value": 0.89, "drop": 0.01}, "ranking": [row]}  # fmt: skip
        write(s, root)
    else:
        sensitivity.main(["--out", str(root), "precision=int8"])


def _export(root: Path, ctx: dict) -> None:
    from runner.recipes.__main__ import main

    main(["export", str(ctx["tmp"] / "sweep" / "1_int8"), "--out", str(root), "--force"])


def _validate(root: Path, ctx: dict) -> None:
    from runner import validate
    from tests.userdata import digits_files

    quick = ["--warmup", "2", "--min-runs", "5", "--min-seconds", "0.02"]
    if ctx.get("clean"):
        f = digits_files(ctx["cache"])
        quick += ["--model", str(f["onnx"]), "--data", str(f["pngs"])]
    else:  # refused before the model or the data is looked at
        quick += ["--model", "m.onnx", "--data", "d.csv"]
    validate.main([*quick, "--outcomes", str(root / "o.npz")])


def _compare(root: Path, ctx: dict) -> None:
    from runner import compare

    jobs = ctx["tmp"] / "sweep"
    compare.main([str(jobs / "0_fp32" / "result.json"), str(jobs / "1_int8" / "result.json")])


def _wandb_sweep(root: Path, ctx: dict) -> None:
    from runner import wandb_sweep

    wandb_sweep.main(["--out", str(root / "sweep.yaml"), "precision=int8,fp32"])


def _wandb_log_summary(root: Path, ctx: dict) -> None:
    from runner import wandb_sweep

    wandb_sweep.main(["--log-summary", str(root)])  # W&B's files: root/wandb


CASES = {
    "runner": Case(_runner_cli, "result.json", ".hydra", clean=False),  # its clean run: slow
    "runner.api.run": Case(_api_run, "result.json", None),
    "runner.api.sweep": Case(_api_sweep, "multirun.yaml", None, clean=False),
    "runner.api.summarize": Case(_api_summarize, "recommended.yaml", None, _sweep),
    "runner.summarize": Case(_summarize, "summary.md", None, _sweep),
    "runner.decide": Case(_decide, "decision.md", "1_fp32_ptq", _sweep),
    "runner.sensitivity": Case(_sensitivity, "sensitivity.md", None),
    "runner.recipes": Case(_export, "digits_cnn_int8_ptq.yaml", None),
    "runner.validate": Case(_validate, "o.npz", None),
    "runner.compare": Case(_compare, "nothing", None),
    "runner.wandb_sweep": Case(_wandb_sweep, "sweep.yaml", None),
    "runner.wandb_sweep --log-summary": Case(
        _wandb_log_summary, "summary.md", "wandb", _sweep, clean=False
    ),  # fmt: skip
}


INTERNAL = {"runner.job.memprobe"}  # the latency probe's child process: prints, writes nothing


def test_the_walk_covers_every_registered_command():
    """A command is a module run with `python -m`; a new one must join CASES."""
    found = set(INTERNAL)
    for path in (ROOT / "runner").rglob("*.py"):
        if 'if __name__ == "__main__":' in path.read_text():
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.add(".".join(parts[:-1] if parts[-1] == "__main__" else parts))
    commands = {name.split(" ")[0] for name in CASES if not name.startswith("runner.api")}
    assert found == commands | INTERNAL


def _files(tmp: Path) -> dict[Path, bytes | None]:
    """Every entry under tmp (links not followed) with a regular file's bytes."""
    out: dict[Path, bytes | None] = {}
    for here, dirs, files in os.walk(tmp, followlinks=False):
        for name in dirs + files:
            p = Path(here) / name
            out[p] = p.read_bytes() if p.is_file() and not p.is_symlink() else None
    return out


def _prepare(tmp_path: Path, cache_dir: Path) -> dict:
    (tmp_path / "cwd").mkdir()
    _sweep(tmp_path / "sweep", {})
    (tmp_path / "victim.txt").write_text("mine")
    (tmp_path / "victim_dir").mkdir()
    (tmp_path / "victim_dir" / "kept.txt").write_text("mine too")
    return {"cache": cache_dir, "tmp": tmp_path}


def _outside(before: dict, after: dict, root: Path) -> list[str]:
    """Entries created or changed outside root (the root itself may be created)."""
    changed = [p for p in after if p not in before or after[p] != before[p]]
    return [str(p) for p in changed if p != root and root not in p.parents]


@pytest.mark.parametrize("planted", ["file", "folder"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_symlink_in_the_output_root_is_never_written_through(
    name, planted, tmp_path, cache_dir, capsys, monkeypatch
):
    import wandb

    def no_wandb(*args: object, **kwargs: object) -> None:
        raise RuntimeError("W&B is not started in this test")

    monkeypatch.setattr(wandb, "init", no_wandb)  # --log-summary's run: the link is the test
    case, ctx = CASES[name], _prepare(tmp_path, cache_dir)
    root = tmp_path / "out"
    if planted == "folder" and case.folder is None:  # the root itself is the link
        if case.setup:
            case.setup(tmp_path / "victim_dir", ctx)
        os.symlink(tmp_path / "victim_dir", root)
    else:
        root.mkdir()
        if case.setup:
            case.setup(root, ctx)
        if planted == "file":
            os.symlink(tmp_path / "victim.txt", root / case.file)
        else:
            os.symlink(tmp_path / "victim_dir", root / case.folder)
    before = _files(tmp_path)
    try:
        case.run(root, ctx)
    except (ValueError, OSError) as exc:  # the API refuses by raising
        assert name.startswith("runner.api") and "symlink" in str(exc), exc
    after = _files(tmp_path)
    assert (tmp_path / "victim.txt").read_text() == "mine"
    assert _outside(before, after, root) == []
    if root.is_symlink():  # nothing new in the folder it points to
        assert [p for p in after if p not in before] == []
    if "done" in ctx:
        assert ctx["done"].returncode == 2 and "symlink" in ctx["done"].stderr
    capsys.readouterr()


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.clean])
def test_a_clean_run_writes_under_its_root_only(name, tmp_path, cache_dir, capsys):
    case, ctx = CASES[name], _prepare(tmp_path, cache_dir)
    ctx["clean"] = True
    root = tmp_path / "out"
    root.mkdir()
    if case.setup:
        case.setup(root, ctx)
    before = _files(tmp_path)
    case.run(root, ctx)
    after = _files(tmp_path)
    assert _outside(before, after, root) == []
    new = [p for p in after if p not in before]
    assert (new == []) == (name == "runner.compare"), new  # compare writes nothing at all
    capsys.readouterr()


@pytest.mark.slow
def test_a_clean_run_of_the_runner_cli_writes_under_its_run_dir_only(tmp_path, cache_dir):
    ctx, root = _prepare(tmp_path, cache_dir), tmp_path / "out"
    before = _files(tmp_path)
    _runner_cli(root, ctx)
    assert ctx["done"].returncode == 0, ctx["done"].stderr[-2000:]
    after = _files(tmp_path)
    assert _outside(before, after, root) == [] and (root / "result.json").is_file()
