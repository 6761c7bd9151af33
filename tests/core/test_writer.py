"""The one writer: files only at plain names inside the root, never through a symlink; and
the console and Markdown escaping of what a record says."""

from __future__ import annotations

import os

import numpy as np
import pytest

from runner.core.safe_io import SymlinkError, md_escape, one_line, printable, save_npz
from runner.core.writer import UnsafeOutput, Writer, check_root, root_problem


def victims(tmp_path):
    """A victim file with content and an empty victim folder, outside any output root."""
    (tmp_path / "victim.txt").write_text("mine")
    (tmp_path / "victim_dir").mkdir()
    return tmp_path / "victim.txt", tmp_path / "victim_dir"


def test_a_symlinked_name_is_refused_and_its_target_kept(tmp_path):
    victim, _ = victims(tmp_path)
    w = Writer(tmp_path / "out")
    os.symlink(victim, w.root / "summary.md")
    with pytest.raises(SymlinkError, match="symlink"):
        w.write_text("summary.md", "theirs")
    assert victim.read_text() == "mine" and (w.root / "summary.md").is_symlink()
    assert w.write_text("plain.md", "ok").read_text() == "ok"
    assert sorted(p.name for p in w.root.iterdir()) == ["plain.md", "summary.md"]  # no temp


def test_a_symlinked_folder_and_a_symlinked_root_are_refused(tmp_path):
    _, victim_dir = victims(tmp_path)
    w = Writer(tmp_path / "out")
    os.symlink(victim_dir, w.root / "1_fp32_ptq")
    with pytest.raises(SymlinkError):
        w.dir("1_fp32_ptq")
    os.symlink(victim_dir, tmp_path / "linked_out")
    with pytest.raises(SymlinkError):
        Writer(tmp_path / "linked_out")
    assert list(victim_dir.iterdir()) == []
    assert w.dir("2_int8_ptq").write_text("x", "1").parent == w.root / "2_int8_ptq"


@pytest.mark.parametrize(
    "name",
    ["/abs/x_int8_ptq.yaml", "../../x", "a/../../b", ".hidden", ""],  # hostile
)
def test_a_name_from_a_record_never_becomes_a_path(tmp_path, name):
    w = Writer(tmp_path / "out")
    path = w.write_text(name, "x")
    assert path.parent == w.root and not path.name.startswith(".")
    assert sorted(tmp_path.rglob("*")) == [w.root, path]


def test_root_problem_finds_a_symlink_anywhere_in_an_output_folder(tmp_path):
    victim, victim_dir = victims(tmp_path)
    out = tmp_path / "out"
    assert root_problem(out) is None  # not there yet: fine
    (out / "3_int8_qat" / ".hydra").mkdir(parents=True)
    assert root_problem(out) is None
    os.symlink(victim, out / "3_int8_qat" / ".hydra" / "config.yaml")
    assert "config.yaml is a symlink inside the output folder" in root_problem(out)
    with pytest.raises(UnsafeOutput):
        check_root(out)
    os.symlink(victim_dir, tmp_path / "link")
    assert "is a symlink; refusing to write through it" in root_problem(tmp_path / "link")
    (out / "3_int8_qat" / ".hydra" / "config.yaml").unlink()
    (out / "wandb" / "offline-run-1" / "logs").mkdir(parents=True)  # as W&B leaves it
    os.symlink(out / "wandb" / "offline-run-1", out / "wandb" / "latest-run")
    os.symlink(victim, out / "wandb" / "offline-run-1" / "logs" / "debug-core.log")
    os.symlink(out / "3_int8_qat", out / "same_job")  # a link that stays inside
    assert root_problem(out) is None
    os.symlink(victim_dir, out / "3_int8_qat" / "wandb")
    assert "wandb is a symlink inside" in root_problem(out)


def test_remove_and_files_never_reach_through_a_link(tmp_path):
    victim, _ = victims(tmp_path)
    w = Writer(tmp_path / "out")
    os.symlink(victim, w.root / "recommended.yaml")
    w.write_text("recommended-b.yaml", "x")
    assert w.files("recommended*.yaml") == [w.root / "recommended-b.yaml"]
    assert len(w.remove("recommended*.yaml")) == 2
    assert victim.read_text() == "mine" and list(w.root.iterdir()) == []


def test_save_npz_writes_the_named_file_without_following_a_link(tmp_path):
    victim, _ = victims(tmp_path)
    save_npz(tmp_path / "o", baseline=np.ones(3), candidate=np.zeros(3))
    with np.load(tmp_path / "o") as z:  # no .npz appended: the record names this file
        assert z["baseline"].sum() == 3
    os.symlink(victim, tmp_path / "link.npz")
    with pytest.raises(SymlinkError):
        save_npz(tmp_path / "link.npz", baseline=np.ones(3))
    assert victim.read_text() == "mine"


def test_terminal_control_characters_never_reach_the_console():
    evil = "m\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\rok\ttab\nnext"
    shown = printable(evil)
    assert not any(c in shown for c in "\x1b\x07\x9b\u202e\r")
    assert "\t" in shown and "\n" in shown and shown.count("?") == 6
    assert "\n" not in one_line(evil) and "\x1b" not in one_line(evil)
    assert "\x1b" not in md_escape(evil) and "&lt;b&gt;" in md_escape("<b>")
