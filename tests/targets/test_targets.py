"""Targets: why one cannot run here, the settings each selects on any host, and that the
backends really quantize with them. Tests marked `gpu` run only where CUDA is available."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from runner import targets
from runner.core.config import problems
from runner.report.verdict import budget_problem
from runner.targets.cpu_x86 import has_vnni, int8_kernels
from tests.conftest import typed


def _has_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def gpu(fn):
    """Mark a test `gpu`: it runs where ONNX Runtime has CUDA, and is skipped elsewhere."""
    skip = pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU and onnxruntime-gpu")
    return pytest.mark.gpu(skip(fn))


AMX_HOST = frozenset({"avx2", "avx512f", "avx512bw", "avx512_vnni", "amx_int8"})
AVX2_HOST = frozenset({"avx2", "fma"})


def _target(name: str, *overrides: str):
    return typed(f"target={name}", *overrides).target


@pytest.mark.parametrize(
    ("name", "flags", "reduce_range"),
    [
        ("cpu_x86", AMX_HOST, False),  # VNNI/AMX: 32-bit sums, full-range weights
        ("cpu_x86", AVX2_HOST, True),  # no VNNI: 7-bit weights against saturation
        ("cpu_x86", frozenset({"avx512bw"}), True),  # AVX-512 without VNNI saturates too
        ("cpu_x86_avx2", AMX_HOST, True),  # quantized for an AVX2 CPU wherever it runs
        ("cpu_x86_avx2", AVX2_HOST, True),
        ("cpu_arm", frozenset({"asimddp"}), False),
        ("cuda", AMX_HOST, False),
    ],
)
def test_reduce_range_selection_per_target_and_host(name, flags, reduce_range):
    assert targets.quant_settings(_target(name), flags)["reduce_range"] is reduce_range


def test_each_target_selects_its_int8_form():
    cuda, arm, x86 = (
        targets.quant_settings(_target(n), AMX_HOST) for n in ("cuda", "cpu_arm", "cpu_x86")
    )
    assert (cuda["activation_type"], cuda["symmetric_activations"]) == ("int8", True)  # TensorRT
    assert cuda["per_channel"] is True and cuda["format"] == "qdq"
    assert (arm["activation_type"], arm["weight_type"]) == ("uint8", "int8")
    assert (x86["activation_type"], x86["weight_type"]) == ("uint8", "int8")
    assert x86["per_channel"] is None  # method.per_channel decides on the CPU


def test_the_record_names_the_kernels_the_host_flags_imply():
    assert int8_kernels(AMX_HOST) == "AMX-INT8 tiles"
    assert int8_kernels(frozenset({"avx2", "avx512_vnni"})) == "AVX512-VNNI"
    assert int8_kernels(AVX2_HOST).startswith("AVX2 without VNNI")
    described = targets.describe(_target("cpu_x86_avx2"))
    assert described["quant"]["reduce_range"] is True
    assert "int8_kernels" in described and "quantized_for" in described


def test_an_arm_target_says_why_it_cannot_run_on_another_cpu(monkeypatch):
    t = _target("cpu_arm")
    impl = targets.implementation(t)
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert "needs an Arm64 host; this host is x86_64" in impl.unavailable(t)
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert impl.unavailable(t) is None


def test_x86_targets_refuse_an_arm_host(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    for name in ("cpu_x86", "cpu_x86_avx2"):
        t = _target(name)
        assert "needs an x86-64 host" in targets.implementation(t).unavailable(t)


@pytest.mark.skipif(_has_cuda(), reason="this host has CUDA")
def test_cuda_says_which_provider_is_missing():
    t = _target("cuda")
    why = targets.implementation(t).unavailable(t)
    assert "CUDAExecutionProvider" in why and "onnxruntime-gpu" in why


def test_providers_follow_the_preference_order_where_present():
    t = _target("cuda")
    have = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert targets.session_providers(t, have) == have[:2]
    assert targets.session_providers(t, have[1:]) == ["CUDAExecutionProvider"]


def test_cuda_refuses_backends_whose_candidate_runs_on_the_cpu():
    t = _target("cuda")
    impl = targets.implementation(t)
    assert "runs on the CPU" in impl.unsupported(t, "torchao_int8_dynamic")
    assert impl.unsupported(t, "ort_static_qdq") is None
    assert impl.unsupported(t, "torchao_qat") is None  # QAT exports an ONNX candidate


def test_device_profiles_are_their_base_target_with_budgets():
    board = _target("arm_board_4gb")
    assert (board.threads, board.max_latency_ms, board.max_memory_mb) == (4, 50.0, 1024.0)
    assert targets.implementation(board) is targets.implementation(_target("cpu_arm"))
    jetson = _target("jetson_orin_nano")
    assert jetson.provider == "CUDAExecutionProvider" and jetson.max_latency_ms == 20.0
    assert jetson.ray["num_gpus"] == 1 and jetson.slurm["constraint"] == "jetson"


def test_bad_settings_and_budgets_are_refused_before_a_job_runs():
    bad = problems(
        typed(
            "target.quant.format=qlinear", "target.quant.accuracy_level=7", "target.max_size_mb=0"
        )
    )
    assert any(
        "target.quant.format=qlinear is unknown; use one of qdq, qoperator" in b for b in bad
    )
    assert any("target.quant.accuracy_level=7 must be 0 to 4" in b for b in bad)
    assert any("target.max_size_mb=0 must be positive" in b for b in bad)


def test_a_size_budget_makes_a_candidate_not_fit():
    rec = {"target_budget": {"max_size_mb": 0.5}, "size_bytes": 1_440_000, "latency": {}}
    assert budget_problem(rec) == "model size 1.4 MB exceeds the target's 0.5 MB budget"
    rec["target_budget"]["max_size_mb"] = 2.0
    assert budget_problem(rec) is None


def _int8_weights(path) -> list[np.ndarray]:
    import onnx
    from onnx import TensorProto, numpy_helper

    m = onnx.load(str(path))
    return [
        numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == TensorProto.INT8
    ]


def test_reduce_range_really_stores_7_bit_weights(run_job, tmp_path):
    full = run_job("precision=int8", "target=cpu_x86", "target.quant.reduce_range=false",
                   job_dir=tmp_path / "full")  # fmt: skip
    seven = run_job("precision=int8", "target=cpu_x86_avx2", job_dir=tmp_path / "seven")
    assert full["details"]["quantize_settings"]["reduce_range"] is False
    assert seven["details"]["quantize_settings"]["reduce_range"] is True
    peak = [max(int(np.abs(w).max()) for w in _int8_weights(d / "model.onnx")) for d in (
        tmp_path / "full", tmp_path / "seven")]  # fmt: skip
    assert peak[0] == 127 and peak[1] <= 64  # 7-bit symmetric weights stay within [-64, 64]
    assert seven["details"]["target"]["name"] == "cpu_x86_avx2"


def test_qoperator_format_and_symmetric_int8_activations(run_job, tmp_path):
    import onnx

    rec = run_job("precision=int8", "target.quant.format=qoperator",
                  "target.quant.activation_type=int8", "target.quant.symmetric_activations=true",
                  job_dir=tmp_path / "q")  # fmt: skip
    assert rec["status"] == "ok", rec["reason"]
    m = onnx.load(str(tmp_path / "q" / "model.onnx"))
    ops = {n.op_type for n in m.graph.node}
    assert "QLinearConv" in ops and rec["details"]["quantize_settings"]["format"] == "qoperator"
    zero_points = [
        t for t in m.graph.initializer if t.name.endswith("zero_point") and t.data_type == 3
    ]  # INT8 activation zero points, all 0 when symmetric
    assert zero_points and all(not np.any(onnx.numpy_helper.to_array(t)) for t in zero_points)


def test_matmulnbits_gets_the_targets_accuracy_level(run_job, tmp_path):
    import onnx
    from onnx import helper

    rec = run_job("precision=int4", "target.quant.accuracy_level=4", job_dir=tmp_path / "a")
    assert rec["status"] == "ok", rec["reason"]
    nodes = [n for n in onnx.load(str(tmp_path / "a" / "model.onnx")).graph.node
             if n.op_type == "MatMulNBits"]  # fmt: skip
    levels = {helper.get_attribute_value(a) for n in nodes for a in n.attribute
              if a.name == "accuracy_level"}  # fmt: skip
    assert nodes and levels == {4}
    assert rec["details"]["quantize_settings"]["accuracy_level"] == 4


def test_the_sweep_records_different_settings_for_the_two_x86_targets(run_job, tmp_path):
    recs = {
        t: run_job("precision=int8", f"target={t}", job_dir=tmp_path / t)
        for t in ("cpu_x86", "cpu_x86_avx2", "cpu_arm", "cuda")
    }
    ok = {t for t, r in recs.items() if r["status"] == "ok"}
    if platform.machine().lower() in ("x86_64", "amd64") and not _has_cuda():
        assert ok == {"cpu_x86", "cpu_x86_avx2"}
        assert "Arm64" in recs["cpu_arm"]["reason"] and "CUDA" in recs["cuda"]["reason"]
    x86 = [
        recs[t]["details"]["quantize_settings"]["reduce_range"] for t in ("cpu_x86", "cpu_x86_avx2")
    ]
    assert x86 == [not has_vnni(targets.host_cpu_flags()), True]


@gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_the_cuda_target_runs_on_the_gpu(run_job, tmp_path, precision):
    rec = run_job(f"precision={precision}", "target=cuda", job_dir=tmp_path / precision)
    assert rec["status"] == "ok", rec["reason"]
    assert rec["details"]["target"]["providers"][-1] == "CUDAExecutionProvider"
    assert rec["metric"]["baseline"] > 0.9 and rec["latency"]["p50_ms"] > 0
