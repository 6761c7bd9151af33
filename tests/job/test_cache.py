"""The FP32 baseline is exported, evaluated and timed once, then reused; corruption is caught."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from runner.job import cache
from runner.models import file_sha256


def test_second_job_reuses_the_cached_baseline(run_job, tmp_path, caplog):
    run_job("precision=int8", "cache_dir=" + str(tmp_path / "c"), job_dir=tmp_path / "a")
    with caplog.at_level(logging.INFO, logger="runner.job.pipeline"):
        rec = run_job("precision=fp16", "cache_dir=" + str(tmp_path / "c"), job_dir=tmp_path / "b")
    assert "baseline: cache hit" in caplog.text
    assert "cache miss" not in caplog.text
    assert rec["status"] == "ok"


def test_a_different_target_setting_is_a_different_baseline(run_job, tmp_path, caplog):
    run_job("cache_dir=" + str(tmp_path / "c"), job_dir=tmp_path / "a")
    with caplog.at_level(logging.INFO, logger="runner.job.pipeline"):
        run_job("cache_dir=" + str(tmp_path / "c"), "target.batch=4", job_dir=tmp_path / "b")
    assert "baseline: cache miss" in caplog.text


def test_a_corrupt_entry_is_detected_and_rebuilt(tmp_path, caplog):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"model bytes")
    entry = tmp_path / "baselines" / "k1"
    cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11})
    assert cache.read(entry).cache_hit
    (entry / "model.onnx").write_bytes(b"model bytEs")  # one flipped byte
    with caplog.at_level(logging.WARNING):
        assert cache.read(entry) is None
    assert "corrupt" in caplog.text
    rebuilt = cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11})
    assert cache.read(entry) is not None and rebuilt.outcomes.sum() == 5


def test_a_half_written_entry_is_not_read(tmp_path):
    entry = tmp_path / "baselines" / "k2"
    entry.mkdir(parents=True)
    (entry / "model.onnx").write_bytes(b"partial")
    assert cache.read(entry) is None  # no baseline.json: never complete


def _entry(tmp_path, name="k3"):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"model bytes")
    entry = tmp_path / "baselines" / name
    cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11})
    return src, entry


def test_a_malformed_entry_is_rebuilt_never_a_crash(tmp_path):
    src, entry = _entry(tmp_path)
    meta = json.loads((entry / "baseline.json").read_text())
    for bad in ([1, 2], {**meta, "sha256": "x"}, {**meta, "size_bytes": "big"},
                {**meta, "size_bytes": 10**400}, {**meta, "sha256": {}}):  # fmt: skip
        (entry / "baseline.json").write_text(json.dumps(bad))
        assert cache.read(entry) is None
    cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11})
    assert cache.read(entry) is not None


def test_recomputed_checksums_are_trusted_corruption_is_not(tmp_path):
    """What the checksums protect against: corruption. Someone who can write the cache can
    recompute them (README, Trust model), so a tampered-and-rehashed entry reads back."""
    src, entry = _entry(tmp_path)
    np.save(entry / "outcomes.npy", np.zeros(5))  # tampered ...
    assert cache.read(entry) is None  # ... caught while the checksum is stale
    meta = json.loads((entry / "baseline.json").read_text())
    meta["sha256"]["outcomes.npy"] = file_sha256(entry / "outcomes.npy")  # ... and rehashed
    (entry / "baseline.json").write_text(json.dumps(meta))
    assert cache.read(entry).outcomes.sum() == 0


def test_a_symlink_in_or_at_an_entry_is_never_followed(tmp_path):
    src, entry = _entry(tmp_path)
    victim = tmp_path / "victim.npy"
    np.save(victim, np.ones(5))
    os.replace(entry / "outcomes.npy", tmp_path / "moved.npy")
    os.symlink(victim, entry / "outcomes.npy")
    assert cache.read(entry) is None
    os.mkfifo(tmp_path / "fifo")  # reading it would hang
    (entry / "outcomes.npy").unlink()
    os.symlink(tmp_path / "fifo", entry / "outcomes.npy")
    assert cache.read(entry) is None
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep").write_text("mine")
    link = tmp_path / "baselines" / "k4"
    os.symlink(mine, link)
    assert cache.read(link) is None
    cache.write(link, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11})
    assert (mine / "keep").read_text() == "mine" and not link.is_symlink()


def test_the_key_covers_weights_data_and_library_versions(monkeypatch):
    import importlib.metadata as md

    from tests.conftest import typed

    cfg = typed()
    k = cache.key(cfg, "weights-a", "data-a")
    assert len(k) == 20 and int(k, 16) >= 0
    assert cache.key(typed(), "weights-a", "data-a") == k  # deterministic
    assert cache.key(cfg, "weights-b", "data-a") != k
    assert cache.key(cfg, "weights-a", "data-b") != k
    # each config section the baseline's numbers depend on: the model's settings, the data's,
    # the target's (threads, provider) and the latency protocol
    for changed in ("model.train_epochs=3", "dataset.max_samples=77", "target.threads=2",
                    "latency.min_runs=7"):  # fmt: skip
        assert cache.key(typed(changed), "weights-a", "data-a") != k, changed
    real = md.version
    for pkg in ("torch", "onnx", "onnxruntime"):  # an upgrade of any of them re-times
        monkeypatch.setattr(md, "version", lambda p, pkg=pkg: "0.0.1" if p == pkg else real(p))
        assert cache.key(cfg, "weights-a", "data-a") != k, pkg


def test_a_changed_model_file_or_data_is_a_new_baseline(run_job, cache_dir, tmp_path, caplog):
    """Same paths, same config, new contents: the stale baseline must not be reused."""
    import shutil

    import onnx
    from onnx import numpy_helper
    from PIL import Image

    from tests.userdata import digits_files

    files = digits_files(cache_dir)
    model, pngs = tmp_path / "model.onnx", tmp_path / "pngs"
    shutil.copyfile(files["onnx"], model)
    shutil.copytree(files["pngs"], pngs)
    user = [
        f"cache_dir={tmp_path / 'c'}",
        "model=onnx_file",
        f"model.path={model}",
        "dataset=imagefolder",
        f"dataset.path={pngs}",
        "dataset.grayscale=true",
    ]

    def misses(name: str) -> bool:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="runner.job.pipeline"):
            assert run_job(*user, job_dir=tmp_path / name)["status"] == "ok"
        return "baseline: cache miss" in caplog.text

    assert misses("first")
    assert not misses("same")  # nothing changed: a hit
    m = onnx.load(str(model))
    w = m.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.01, w.name))
    onnx.save(m, str(model))
    assert misses("new_weights")
    img = next(pngs.rglob("*.png"))
    Image.fromarray(255 - np.asarray(Image.open(img))).save(img)
    assert misses("new_data")


def test_a_parallel_jobs_valid_entry_wins_and_is_never_pulled_from_under_a_reader(tmp_path):
    """Two jobs of a parallel sweep miss the same key and both write: the second keeps the
    first's entry (a job may be running its model.onnx right now) instead of replacing it."""
    src = tmp_path / "m.onnx"
    src.write_bytes(b"model bytes")
    entry = tmp_path / "baselines" / "k"
    cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11, "by": "first"})
    inode = (entry / "model.onnx").stat().st_ino
    second = cache.write(entry, src, np.ones(5), np.zeros((5, 2)), {"size_bytes": 11, "by": "2nd"})
    assert second.info["by"] == "first" and (entry / "model.onnx").stat().st_ino == inode
    assert json.loads((entry / "baseline.json").read_text())["by"] == "first"
    assert [p.name for p in entry.parent.iterdir()] == ["k"]  # no temporary folder left
