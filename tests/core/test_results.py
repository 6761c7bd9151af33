"""result.json is written atomically: a failed write leaves the previous record whole."""

from __future__ import annotations

import json
import os

import pytest

from runner.core import record as results


def test_a_write_that_fails_before_the_rename_leaves_the_old_record_whole(tmp_path, monkeypatch):
    old = {"schema_version": 1, "status": "ok", "run_key": "old"}
    path = results.write(tmp_path, old)
    assert json.loads(path.read_text()) == old

    def crash(src, dst):
        raise OSError("disk full at the last moment")

    monkeypatch.setattr(os, "replace", crash)  # the rename step fails; the write is tested
    with pytest.raises(OSError, match="disk full"):
        results.write(tmp_path, {"schema_version": 1, "status": "failed", "run_key": "new"})
    assert json.loads(path.read_text()) == old  # never half of the new one, never empty
    monkeypatch.undo()
    new = {"schema_version": 1, "status": "ok", "run_key": "new"}
    results.write(tmp_path, new)
    assert results.read(path) == new
