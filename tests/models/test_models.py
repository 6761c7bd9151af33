"""Model sources: the user's ONNX and torch files load, fit the data, or fail in one line."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from runner.core import registry
from runner.core.config import ModelConfig
from runner.datasets import Splits
from tests.conftest import assert_valid_record
from tests.userdata import digits_files, digits_model, write_digit_pngs


def _digit_splits(n: int = 16, classes: int = 10) -> Splits:
    """A few digits as model input (no split needed to load a model)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:n] / 16.0).astype(np.float32)[:, None]
    y = d.target[:n].astype(np.int64)
    return Splits(x, y, x, x, y, num_classes=classes)


def _load(name: str, tmp_path, splits: Splits | None = None, **kw):
    cfg = ModelConfig(name=name, **kw)
    return registry.get("model", name)(cfg, splits or _digit_splits(), tmp_path)


def test_onnx_file_sweeps_an_image_folder_end_to_end(run_job, cache_dir, tmp_path):
    files = digits_files(cache_dir)
    user = [
        "model=onnx_file",
        f"model.path={files['onnx']}",
        "dataset=imagefolder",
        f"dataset.path={files['pngs']}",
        "dataset.grayscale=true",
    ]
    rec = run_job(*user, "precision=int8", job_dir=tmp_path / "int8")
    assert rec["status"] == "ok", rec["reason"]
    assert_valid_record(rec)
    assert (
        rec["metric"]["baseline"] > 0.9 and rec["metric"]["n_samples"] == 1618
    )  # no QAT share: 90 %
    assert rec["quantized_fraction"] == pytest.approx(1.0)
    qat = run_job(*user, "precision=int8", "method=qat", job_dir=tmp_path / "qat")
    assert qat["status"] == "skipped" and "torch model" in qat["reason"]


@pytest.mark.parametrize(("dynamo", "batch"), [(False, "batch"), (True, 1)])
def test_an_onnx_export_with_a_fixed_batch_size_still_evaluates(cache_dir, tmp_path, dynamo, batch):
    import torch

    from runner.core.config import TargetConfig
    from runner.job import evaluate
    from runner.targets import make_session

    model = digits_model(cache_dir)
    fixed = tmp_path / "batch1.onnx"
    torch.onnx.export(model.module, (model.example_input[:1],), str(fixed), dynamo=dynamo)
    splits = _digit_splits(n=15)
    loaded = _load("onnx_file", tmp_path, splits, path=str(fixed))
    assert loaded.module is None
    session = make_session(loaded.onnx_path, TargetConfig(name="cpu_x86"))
    # the Flatten of the TorchScript exporter takes any batch; dynamo's Reshape keeps batch 1
    assert session.get_inputs()[0].shape[0] == batch
    with torch.no_grad():
        want = model.module(torch.as_tensor(splits.x_val)).numpy()
    got = evaluate.predict(session, splits.x_val, batch=4)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (None, "does not exist; point model.path at an .onnx file"),
        (lambda p: p.write_text("not a model\n"), "is not a valid ONNX model"),
        ("truncate", "is not a valid ONNX model"),
    ],
    ids=["missing", "not-onnx", "truncated"],
)
def test_a_bad_onnx_file_fails_in_one_line(cache_dir, tmp_path, make, text):
    path = tmp_path / "model.onnx"
    if make == "truncate":
        path.write_bytes(digits_files(cache_dir)["onnx"].read_bytes())
        _truncated(path)
    elif make is not None:
        make(path)
    with pytest.raises(ValueError, match=text) as exc:
        _load("onnx_file", tmp_path, path=str(path))
    assert "\n" not in str(exc.value)


def test_classes_that_do_not_match_the_model_are_refused(cache_dir, tmp_path):
    from runner.core.config import DatasetConfig
    from runner.datasets.imagefolder import load as load_folder

    root = write_digit_pngs(tmp_path / "three", classes=[0, 1, 2], limit=20)
    splits = load_folder(DatasetConfig(name="imagefolder", path=str(root), grayscale=True))
    onnx = str(digits_files(cache_dir)["onnx"])
    with pytest.raises(ValueError, match="outputs 10 values per sample but the data has 3"):
        _load("onnx_file", tmp_path, splits, path=onnx)


def test_an_image_shape_the_model_cannot_take_names_the_fix(cache_dir, tmp_path):
    rgb = np.zeros((4, 3, 8, 8), np.float32)
    splits = Splits(rgb, np.zeros(4, np.int64), rgb, rgb, np.zeros(4, np.int64), 10)
    with pytest.raises(ValueError, match=r"dataset.grayscale=true"):
        _load("onnx_file", tmp_path, splits, path=str(digits_files(cache_dir)["onnx"]))


class _RunsCode:
    """Unpickling this writes a marker file: what a malicious checkpoint could do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_a_torch_pickle_carrying_code_is_refused_without_trust_pickle(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2), "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(ValueError, match="full pickle") as exc:
        _load("torch_file", tmp_path, path=str(path), arch="digits_cnn")
    assert "run arbitrary code" in str(exc.value) and "model.trust_pickle=true" in str(exc.value)
    assert "exec" in str(exc.value)  # names what the file would have called
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # the check is torch's, not a file-name rule
        torch.load(path, weights_only=True)


def test_a_full_module_pickle_loads_only_when_trusted(cache_dir, tmp_path):
    import torch

    path = tmp_path / "whole.pt"
    torch.save(digits_model(cache_dir).module, path)
    with pytest.raises(ValueError, match="full pickle"):
        _load("torch_file", tmp_path, path=str(path))
    loaded = _load("torch_file", tmp_path, path=str(path), trust_pickle=True)
    assert hasattr(loaded.module, "parameters") and loaded.onnx_path is None


def test_a_state_dict_needs_and_uses_a_registered_arch(cache_dir, tmp_path):
    import torch

    sd = str(digits_files(cache_dir)["state_dict"])
    with pytest.raises(ValueError, match="set model.arch to .*digits_cnn"):
        _load("torch_file", tmp_path, path=sd)
    with pytest.raises(ValueError, match="model.arch=resnet is unknown"):
        _load("torch_file", tmp_path, path=sd, arch="resnet")
    with pytest.raises(ValueError, match="does not fit model.arch=digits_cnn"):
        _load("torch_file", tmp_path, path=sd, arch="digits_cnn", channels=8)
    loaded = _load("torch_file", tmp_path, path=sd, arch="digits_cnn")
    x = torch.as_tensor(_digit_splits().x_val)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.module(x), digits_model(cache_dir).module(x))


def test_torchscript_is_exported_for_ptq_and_skipped_for_qat(cache_dir, tmp_path):
    import onnxruntime as ort

    from runner.backends import Job
    from runner.backends.torchao_qat import TorchaoQatInt8

    splits = _digit_splits()
    script = str(digits_files(cache_dir)["torchscript"])
    with pytest.raises(ValueError, match="TorchScript is code"):
        _load("torch_file", tmp_path, splits, path=script)
    loaded = _load("torch_file", tmp_path, splits, path=script, trust_pickle=True)
    sess = ort.InferenceSession(loaded.onnx_path, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: splits.x_val})[0]
    assert out.shape == (16, 10)
    why = TorchaoQatInt8.check(Job(None, loaded, splits, loaded.onnx_path, tmp_path))
    assert "TorchScript" in why


def test_e7_torchscript_that_writes_a_file_is_refused_without_trust(tmp_path):
    import torch

    victim = tmp_path / "victim"
    victim.write_bytes(bytes(4))

    class Writes(torch.nn.Module):
        """Its forward overwrites a file: TorchScript can run code."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            t = torch.from_file(self.path, shared=True, size=4, dtype=torch.uint8)
            t.fill_(1)
            return x.flatten(1)[:, :10] + t.float().sum() * 0  # used, so not optimized away

    path = tmp_path / "evil.pt"
    torch.jit.script(Writes(str(victim))).save(str(path))
    with pytest.raises(ValueError, match="TorchScript is code") as exc:
        _load("torch_file", tmp_path, path=str(path))
    assert "model.trust_pickle=true" in str(exc.value)
    assert victim.read_bytes() == bytes(4)  # not overwritten by the file's forward


def test_diabetes_mlp_refuses_image_data(tmp_path):
    with pytest.raises(ValueError, match="dataset=diabetes"):
        _load("diabetes_mlp", tmp_path, task="regression")


def test_corrupt_cached_weights_are_retrained_not_trusted(run_job, tmp_path, caplog):
    cache = tmp_path / "c"
    run_job("precision=fp32", f"cache_dir={cache}", job_dir=tmp_path / "a")
    (weights,) = (cache / "models").glob("digits_cnn-*.pt")
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as by a crash mid-write
    with caplog.at_level("WARNING"):
        rec = run_job("precision=fp32", f"cache_dir={cache}", job_dir=tmp_path / "b")
    assert "unreadable" in caplog.text and "retraining" in caplog.text
    assert rec["status"] == "ok" and rec["metric"]["baseline"] > 0.9
