"""The writer on its edges: the exact refusals (they name the path and the fix), the scan's
entry limit, a folder that cannot be listed, names made from records, nested roots."""

from __future__ import annotations

import hashlib
import os

import pytest

from runner.core import writer
from runner.core.safe_io import SymlinkError
from runner.core.writer import UnsafeOutput, Writer, check_root, root_problem


def test_the_refusals_name_the_path_and_the_fix(tmp_path):
    out = tmp_path / "out"
    (out / "job").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    os.symlink(victim, out / "job" / "result.json")
    assert root_problem(out) == (
        f"{out / 'job' / 'result.json'} is a symlink inside the output folder {out}; "
        "refusing to write through it (remove it, or give a fresh folder)"
    )
    os.symlink(out, tmp_path / "link")
    assert root_problem(tmp_path / "link") == (
        f"{tmp_path / 'link'} is a symlink; refusing to write through it "
        f"(name the folder itself: {out.resolve()})"
    )
    assert root_problem(victim) == f"{victim} is not a folder; name an output folder"
    with pytest.raises(UnsafeOutput, match="is not a folder; name an output folder"):
        Writer(victim, create=False)
    fresh = tmp_path / "fresh"
    assert check_root(fresh) == fresh and not fresh.exists()


def test_the_scan_stops_past_its_entry_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "MAX_SCAN", 5)
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    for name in ("1", "2", "3"):
        (out / "a" / name).write_text("x")
    (out / "b").write_text("x")  # 5 entries in all: a, b, and a's three files
    assert root_problem(out) is None
    (out / "c").write_text("x")  # the sixth
    with pytest.raises(UnsafeOutput, match="holds more than 5 entries; give an output folder"):
        root_problem(out)


def test_a_folder_that_cannot_be_listed_does_not_end_the_scan(tmp_path, monkeypatch):
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    for sub in ("a", "b"):
        (out / sub).mkdir(parents=True)
        os.symlink(victim, out / sub / "leak")
    real, failed = os.scandir, []

    def scandir(path):
        if path != out and not failed:  # the first sub-folder looked into cannot be listed
            failed.append(path)
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(writer.os, "scandir", scandir)
    why = root_problem(out)
    assert failed and why is not None and "leak is a symlink inside" in why
    assert str(failed[0]) not in why.split(" is a symlink")[0]  # found in the other folder


def test_a_writer_makes_its_nested_root_and_reopens_an_existing_one(tmp_path):
    root = tmp_path / "a" / "b" / "c"
    assert Writer(root).root == root and root.is_dir()
    assert Writer(root).write_text("f.txt", "1") == root / "f.txt"  # exists already: fine


def test_dir_reuses_a_real_folder_and_refuses_a_file_there(tmp_path):
    w = Writer(tmp_path / "out")
    first = w.dir("1_fp32_ptq")
    (first.root / "keep.txt").write_text("k")
    again = w.dir("1_fp32_ptq")  # a resumed walk opens its folder again
    assert again.root == first.root == w.root / "1_fp32_ptq"
    assert (again.root / "keep.txt").read_text() == "k"
    (w.root / "2_int8_ptq").write_text("not a folder")
    with pytest.raises(UnsafeOutput, match="2_int8_ptq is not a folder; remove it"):
        w.dir("2_int8_ptq")
    os.symlink(tmp_path, w.root / "3_link")
    with pytest.raises(SymlinkError, match="3_link is a symlink; refusing to write through it"):
        w.dir("3_link")


def test_a_hostile_name_becomes_a_plain_name_with_a_hash_of_the_original():
    digest = hashlib.sha256(b"/abs/x").hexdigest()[:8]
    assert Writer.name("/abs/x") == f"_abs_x-{digest}"
    assert Writer.name("summary.md") == "summary.md"
    assert Writer.name("x/b") != Writer.name("x/c")  # the hash keeps them apart


def test_remove_returns_what_it_removed(tmp_path):
    w = Writer(tmp_path / "out")
    made = [w.write_text(n, "x") for n in ("recommended_int8.yaml", "recommended_int4.yaml")]
    w.write_text("summary.md", "x")
    assert w.remove("recommended_*.yaml") == sorted(made)
    assert [p.name for p in w.root.iterdir()] == ["summary.md"]
