"""EfficientNet-Lite0: the rebuilt network computes what the package's network computes, and
its head fine-tunes once on the MNIST digits, then comes from the cache."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import assert_valid_record


def test_the_rebuilt_network_is_the_package_network_on_grey_images():
    """Folded BatchNorms, plain convolutions, one ReLU6 per site and the summed stem filters
    against the package's own EfficientNet, fed the grey image on all three channels."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from runner.models.efficientnet_lite0 import build, weights_file

    torch.manual_seed(0)
    net = build((64, 64), 1, 10, weights_file())
    ref = EfficientNet.from_name("efficientnet-lite0", image_size=[64, 64])
    ref.load_state_dict(torch.load(weights_file(), weights_only=True))
    ref._fc = net.fc
    x = torch.rand(3, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        got, want = net(x), ref.eval()(x.repeat(1, 3, 1, 1))
    assert float((got - want).abs().max()) < 1e-4 * float(want.abs().max())


def test_mnist_digits_are_the_real_ones_at_the_model_input():
    from runner.datasets.mnist import load
    from tests.conftest import typed

    s = load(typed("dataset=mnist").dataset)
    y = np.concatenate([s.y_train, s.y_val])
    assert len(y) + len(s.x_calib) == 5000 and s.x_val.shape[1:] == (1, 64, 64)
    assert np.bincount(y, minlength=10).min() >= 400  # 500 per class before the calib split
    # (pixel / 255 - 127 / 255) / (128 / 255): black 0 -> -127/128, white 255 -> 1
    assert s.x_val.min() == pytest.approx(-127 / 128) and s.x_val.max() == pytest.approx(1.0)


@pytest.mark.slow
def test_the_head_fine_tunes_once_and_int8_runs(run_job, cache_dir, tmp_path, caplog):
    """32x32 digits (a quarter of the default's work; 0.69 accuracy): FP32 and static INT8
    rows, the second job reading the fine-tuned head from the cache."""
    small = ["model=efficientnet_lite0", "dataset.image_size=[32,32]", "model.train_epochs=10"]
    base = run_job(*small, job_dir=tmp_path / "fp32")
    caplog.clear()
    with caplog.at_level("INFO"):
        int8 = run_job(*small, "precision=int8", job_dir=tmp_path / "int8")
    assert "model: cache hit efficientnet_lite0-" in caplog.text
    for rec in (base, int8):
        assert rec["status"] == "ok", rec["reason"]
        assert_valid_record(rec)
    assert base["metric"]["value"] > 0.5  # ten digits: an unfitted head scores about 0.1
    assert int8["axes"]["backend"] == "ort_static_qdq" and int8["quantized_fraction"] == 1.0
