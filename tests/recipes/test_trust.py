"""Sweep folders are untrusted input: summarize and compare read records as data.

One test per payload of issue 10's review (E5, E6 and the lower-impact rows); each would
leave a marker (a file, a line, a crash) if the summarizer trusted what it read.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import struct
import subprocess
import tempfile
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

from runner.core.safe_io import md_escape, write_text
from runner.recipes.check import check
from runner.recipes.export import summarize_sweep as summarize
from runner.report import compare
from tests.conftest import cli
from tests.records import baseline_record, make_record, write_job
from tests.userdata import TouchOnLoad


def _sweep(root, **extra):
    """A two-job sweep whose int8 record carries `extra` fields (schema or not); the baseline
    shares its model file (a sweep's jobs all name the same model.path)."""
    paths = [o for o in extra.get("overrides", []) if o.startswith("model.path=")]
    write_job(root, "0_fp32", {**baseline_record(), **({"overrides": paths} if paths else {})})
    write_job(root, "1_int8", {**make_record("int8", "ptq"), **extra})
    return root


def test_e5_overrides_copied_into_a_recommendation_drop_the_trust_decision(tmp_path):
    evil = ["precision=int8", "method=ptq", "model.path=evil.pt", "model.trust_pickle=true",
            "+model.trust_code=true", "hydra.callbacks.x._target_=os.system",
            "cache_dir=/victim", "seed=${oc.env:HOME}", "target.threads=2"]  # fmt: skip
    summarize(_sweep(tmp_path, overrides=evil))
    text = (tmp_path / "recommended.yaml").read_text()
    assert "trust" not in text and "hydra" not in text.split("Re-run")[1]
    assert "/victim" not in text and "oc.env" not in text
    assert "threads: 2" in text  # a plain setting still travels
    check(tmp_path, "recommended")  # and the recipe passes the receiver's check


def test_e6_a_symlinked_summary_file_is_refused_and_its_target_kept(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    sweep = _sweep(tmp_path / "sweep")
    os.symlink(victim, sweep / "summary.md")
    s = summarize(sweep)
    assert victim.read_text() == "mine" and (sweep / "summary.md").is_symlink()
    assert {p.name for p in s.written} >= {"summary.csv", "recommended.yaml", "pareto.png"}


def test_e6_axis_values_never_become_paths_or_shell(tmp_path):
    sweep = tmp_path / "a" / "b" / "sweep"
    write_job(sweep, "0", baseline_record())
    write_job(sweep, "1", make_record(target="../../../../victim/trav"))  # hostile
    write_job(sweep, "2", baseline_record(model="m;touch pwned;exit;"))
    write_job(sweep, "3", make_record(model="m;touch pwned;exit;"))
    summarize(sweep)
    outside = [p for p in tmp_path.rglob("*.yaml") if p.parent != sweep]
    assert outside == [] and not (tmp_path / "victim").exists()
    names = sorted(p.name for p in sweep.glob("recommended-*.yaml"))
    assert len(names) == 3 and all(re.fullmatch(r"[A-Za-z0-9_.-]+", n) for n in names)
    for path in sweep.glob("recommended*.yaml"):
        rerun = path.read_text().split("# Re-run: ")[1].splitlines()[0]
        assert ";" not in rerun.split("--config-name")[1]


def test_record_strings_are_escaped_in_markdown_and_yaml_comments(tmp_path):
    sweep, html = tmp_path / "sweep", "<img src=x onerror=alert(1)>"
    why = "ok\ninjected: true\u2028also: true | [link](http://x)"
    write_job(sweep, "0", baseline_record(model=html, name=why))
    write_job(sweep, "1", make_record(model=html, name=why))
    write_job(sweep, "2", make_record(status="failed", reason=why, model=html))
    summarize(sweep)
    md = (sweep / "summary.md").read_text()
    assert "<img" not in md and "&lt;img" in md and "\\[link\\]" in md
    assert "\ninjected" not in md and "\u2028" not in md
    yaml_text = (sweep / "recommended.yaml").read_text()
    assert all(line.startswith("#") for line in yaml_text.split("defaults:")[0].splitlines())
    assert md_escape("a|b\nc") == "a\\|b c"


@pytest.mark.parametrize(
    "extra",
    [{"speedup": 10**400}, {"overrides": "precision=int8"}, {"overrides": {"a": 1}},
     {"choices": ["model"]}, {"size_bytes": -(10**400)}],
)  # fmt: skip
def test_malformed_numbers_and_types_make_a_record_unreadable_not_a_crash(tmp_path, extra):
    s = summarize(_sweep(tmp_path, **extra))
    assert [p.parent.name for p, _ in s.garbage] == ["1_int8"] and len(s.table) == 1
    with pytest.raises(ValueError, match="not a usable result record"):
        compare.load(tmp_path / "1_int8" / "result.json")


def test_an_outcomes_file_outside_the_job_folder_is_not_read(tmp_path, caplog):
    elsewhere = tmp_path / "elsewhere.npz"
    np.savez(elsewhere, baseline=np.ones(5), candidate=np.zeros(5))
    sweep = tmp_path / "sweep"
    write_job(sweep, "0", baseline_record())
    job = write_job(sweep, "1", make_record(), outcomes=(np.ones(5), np.ones(5))).parent
    os.replace(job / "outcomes.npz", job / "kept.npz")
    rec = json.loads((job / "result.json").read_text())
    for name in ("../../elsewhere.npz", str(elsewhere)):  # hostile
        (job / "result.json").write_text(json.dumps({**rec, "outcomes_file": name}))
        with caplog.at_level(logging.WARNING, logger="runner.report.summary"):
            assert compare.load(job / "result.json")[1] is None
        assert "is not beside the record: only a file of that name beside it is read" in caplog.text
    (job / "result.json").write_text(json.dumps({**rec, "outcomes_file": str(job / "kept.npz")}))
    assert compare.load(job / "result.json")[1] is not None  # validate's absolute path, beside
    os.symlink(elsewhere, job / "link.npz")
    (job / "result.json").write_text(json.dumps({**rec, "outcomes_file": "link.npz"}))
    assert compare.load(job / "result.json")[1] is None
    (job / "result.json").write_text(json.dumps({**rec, "outcomes_file": "kept.npz"}))
    assert compare.load(job / "result.json")[1] is not None  # its own file is still read


def test_a_symlinked_result_json_is_not_read(tmp_path):
    outside = tmp_path / "outside"
    write_job(outside, "x", make_record(model="secret"))
    sweep = _sweep(tmp_path / "sweep")
    (sweep / "2").mkdir()
    os.symlink(outside / "x" / "result.json", sweep / "2" / "result.json")
    s = summarize(sweep)
    assert "secret" not in set(s.table.model) and len(s.garbage) == 1


def test_safe_write_refuses_a_symlink_and_writes_a_file(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("mine")
    os.symlink(victim, tmp_path / "link")
    with pytest.raises(OSError, match="symlink"):
        write_text(tmp_path / "link", "theirs")
    assert victim.read_text() == "mine"
    write_text(tmp_path / "plain", "ok")
    assert (tmp_path / "plain").read_text() == "ok" and len(list(tmp_path.iterdir())) == 3


def _in_thread(fn, seconds: float = 20):
    """fn() in a thread; what it raised, or TimeoutError if it hangs (a FIFO read would)."""
    box: list = []

    def run():
        try:
            fn()
            box.append(None)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return box[0] if box else TimeoutError("hung")


def test_a_fifo_named_png_is_refused_not_read(tmp_path):
    from runner.datasets.imagefolder import class_files

    (tmp_path / "cat").mkdir()
    os.mkfifo(tmp_path / "cat" / "x.png")
    exc = _in_thread(lambda: class_files(str(tmp_path)))
    assert isinstance(exc, ValueError) and "not a regular file" in str(exc)


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces width x height 1-bit pixels (the data never decodes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\0" * 64)
    body = (
        struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )
    return b"\x89PNG\r\n\x1a\n" + chunk + body


def test_a_decompression_bomb_png_is_refused_before_decoding(tmp_path):
    from runner.core.config import DatasetConfig
    from runner.datasets.imagefolder import to_array

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(13_300, 13_300))  # 176 M pixels
    cfg = DatasetConfig(name="imagefolder", grayscale=True, image_size=[8, 8])
    with pytest.raises(ValueError, match=r"13300x13300 pixels, over the cap") as exc:
        to_array(bomb, cfg)
    assert "\n" not in str(exc.value)


def test_a_million_column_csv_is_refused_in_a_short_message(tmp_path):
    from runner.core.config import DatasetConfig
    from runner.datasets.tabular import read

    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "1," * 999_999 + "1\n")
    with pytest.raises(ValueError, match="its header is over 4194304 bytes") as exc:
        read(DatasetConfig(name="csv", path=str(wide)))
    assert len(str(exc.value)) < 300
    narrow = tmp_path / "narrow.csv"
    narrow.write_text(",".join(f"c{i}" for i in range(5000)) + "\n" + "1," * 4999 + "1\n")
    with pytest.raises(ValueError, match="is not a column") as exc:
        read(DatasetConfig(name="csv", path=str(narrow), label_column="nope"))
    assert len(str(exc.value)) < 600 and "(4980 more)" in str(exc.value)


def _evil_pickle(tmp_path):
    import torch

    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"payload": TouchOnLoad(str(marker))}, evil)
    return marker, evil


def _run(*args: str) -> subprocess.CompletedProcess:
    """The runner's command line from an empty temporary folder (nothing lands in the checkout)."""
    with tempfile.TemporaryDirectory() as tmp:
        return cli(*args, cwd=Path(tmp), timeout=300)


def test_e4_the_cli_refuses_a_recipe_that_trusts_a_pickle(tmp_path):
    marker, evil = _evil_pickle(tmp_path)
    (tmp_path / "r.yaml").write_text(
        "defaults:\n  - config\n  - override model: torch_file\n  - _self_\n"
        "model: {arch: digits_cnn, trust_pickle: true}\n"
    )
    out = f"hydra.run.dir={tmp_path / 'out'}"
    done = _run("-cd", str(tmp_path), "-cn", "r", f"model.path={evil}", out)
    assert done.returncode == 2 and "model.trust_pickle is refused" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not marker.exists()


@pytest.mark.slow
def test_e5_the_recommendations_own_rerun_line_does_not_run_the_pickle(tmp_path):
    marker, evil = _evil_pickle(tmp_path)
    choices = {"model": "torch_file", "dataset": "digits", "precision": "int8",
               "method": "ptq", "target": "cpu_x86", "tracking": "none"}  # fmt: skip
    over = ["model=torch_file", f"model.path={evil}", "model.trust_pickle=true",
            "model.arch=digits_cnn"]  # fmt: skip
    sweep = tmp_path / "sweep"
    write_job(sweep, "0", {**baseline_record(model="torch_file"), "choices": {
        **choices, "precision": "fp32"}, "overrides": over})  # fmt: skip
    write_job(sweep, "1", {**make_record(model="torch_file"), "choices": choices,
                           "overrides": over})  # fmt: skip
    summarize(sweep)
    rerun = (sweep / "recommended.yaml").read_text().split("# Re-run: ")[1].splitlines()[0]
    argv = shlex.split(rerun)[3:]  # after `python -m runner`
    done = _run(*argv, f"hydra.run.dir={tmp_path / 'out'}", f"cache_dir={tmp_path / 'c'}")
    assert "full pickle" in done.stdout + done.stderr  # refused at load: no trust travelled
    assert not marker.exists()


def test_a_million_key_jsonl_row_is_refused_from_its_first_line(tmp_path):
    from runner.core.config import DatasetConfig
    from runner.datasets.tabular import read

    wide = tmp_path / "wide.jsonl"
    wide.write_text(json.dumps({f"c{i}": 1 for i in range(200_000)}) + "\n")
    with pytest.raises(ValueError, match="200000 columns, over 100000") as exc:
        read(DatasetConfig(name="jsonl", path=str(wide)), "jsonl")
    assert len(str(exc.value)) < 300
