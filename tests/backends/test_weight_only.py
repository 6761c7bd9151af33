"""MatMulNBits weight-only INT8 / INT4: bits, symmetry, accuracy_level, mixed precision and the
tied lm_head, read back from the written graph (what ONNX Runtime will really run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runner.backends import Job
from runner.backends.ort_ptq import weight_only
from runner.core.onnx_utils import fold_transposed_weights, storage_bits
from tests.conftest import typed

VOCAB, HIDDEN = 64, 64


def tiny_lm_graph(path: Path) -> Path:
    """x [B, 64] -> /model/layers.0/mlp/MatMul -> /lm_head/MatMul with the embedding matrix
    transposed, as a tied lm_head is exported (MatMul(x, Transpose(embed_tokens.weight)))."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32), "w_mlp")
    emb = rng.normal(size=(VOCAB, HIDDEN)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w_mlp"], ["h"], name="/model/layers.0/mlp/MatMul"),
        helper.make_node("Transpose", ["embed"], ["embed_t"], name="tie", perm=[1, 0]),
        helper.make_node("MatMul", ["h", "embed_t"], ["logits"], name="/lm_head/MatMul"),
        helper.make_node("Gather", ["embed", "ids"], ["e"], name="/embed/Gather"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", HIDDEN]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["b"]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", VOCAB]),
            helper.make_tensor_value_info("e", TensorProto.FLOAT, ["b", HIDDEN]),
        ],
        [w, numpy_helper.from_array(emb, "embed")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, str(path))
    return path


def _job(tmp_path: Path, *overrides: str) -> Job:
    cfg = typed("model=smollm2", "precision=int4", *overrides)
    base = tiny_lm_graph(tmp_path / "base.onnx")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return Job(cfg, None, None, base, out)


def _nbits(path: Path) -> dict[str, dict]:
    """MatMulNBits nodes by name: their attributes."""
    model = onnx.load(str(path))
    return {
        n.name: {a.name: helper.get_attribute_value(a) for a in n.attribute}
        for n in model.graph.node
        if n.op_type == "MatMulNBits"
    }


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"x": x, "ids": np.zeros(len(x), np.int64)})[0]


def test_fold_gives_the_tied_lm_head_a_constant_weight(tmp_path):
    model = onnx.load(str(tiny_lm_graph(tmp_path / "m.onnx")))
    assert fold_transposed_weights(model) == ["/lm_head/MatMul"]
    inits = {t.name for t in model.graph.initializer}
    head = next(n for n in model.graph.node if n.name == "/lm_head/MatMul")
    assert head.input[1] in inits  # a constant MatMulNBits can quantize
    assert "embed" in inits  # the lookup keeps the original matrix
    assert not any(n.op_type == "Transpose" for n in model.graph.node)
    onnx.save(model, str(tmp_path / "f.onnx"))
    x = np.random.default_rng(1).normal(size=(3, HIDDEN)).astype(np.float32)
    np.testing.assert_allclose(
        _run(tmp_path / "f.onnx", x), _run(tmp_path / "m.onnx", x), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("bits", [8, 4])
def test_weight_only_stores_every_matmul_at_its_bits_with_the_accuracy_level(tmp_path, bits):
    job = _job(
        tmp_path,
        f"precision=int{bits}",
        "precision.accuracy_level=4",
        "model.keep_float=[]",
        "model.int8_layers=[]",
    )
    out = weight_only(job, bits)
    nodes = _nbits(out)
    assert set(nodes) >= {f"/lm_head/MatMul_Q{bits}", f"/model/layers.0/mlp/MatMul_Q{bits}"}
    assert {a["bits"] for a in nodes.values()} == {bits}
    assert {a["accuracy_level"] for a in nodes.values()} == {4}
    counts = storage_bits(onnx.load(str(out)))
    # the mlp, the lm_head and the embedding lookup (GatherBlockQuantized)
    assert counts[bits] == HIDDEN * HIDDEN + 2 * VOCAB * HIDDEN
    assert set(counts) == {bits}  # nothing float: the offsets' block-sum matrices are no weights
    sym = bits == 8 or job.details["weight_only"]["symmetric"]
    assert job.details["weight_only"] == {
        "bits": bits,
        "algorithm": "rtn",
        "block_size": 32,
        "symmetric": sym,
        "zero_point": None if sym else "float",  # a language model's default
        "accuracy_level": 4,
    }
    x = np.random.default_rng(2).normal(size=(4, HIDDEN)).astype(np.float32)
    ref = _run(job.baseline_onnx, x)
    err = np.abs(_run(out, x) - ref).mean() / np.abs(ref).mean()
    assert err < (0.02 if bits == 8 else 0.2)  # 8 bits is much closer than 4


def test_int8_layers_mix_8_bit_into_an_int4_model_and_keep_float_wins(tmp_path):
    job = _job(tmp_path, "model.int8_layers=[lm_head]", "model.keep_float=[]")
    nodes = _nbits(weight_only(job, 4))
    assert nodes["/lm_head/MatMul_Q8"]["bits"] == 8
    assert nodes["/model/layers.0/mlp/MatMul_Q4"]["bits"] == 4
    assert job.details["int8_layers"] == ["/lm_head/MatMul"]

    job = _job(tmp_path, "model.int8_layers=[lm_head]", "model.keep_float=[lm_head]")
    out = weight_only(job, 4)
    assert list(_nbits(out)) == ["/model/layers.0/mlp/MatMul_Q4"]  # lm_head stayed float
    assert job.details["keep_float_layers"] == ["/lm_head/MatMul"]
    assert job.details["int8_layers"] == []


def test_symmetry_and_zero_points_follow_the_precision_setting(tmp_path):
    no8 = ("model.keep_float=[]", "model.int8_layers=[]")
    sym = _job(tmp_path, "precision.symmetric=true", *no8)
    weight_only(sym, 4)
    asym = _job(tmp_path, "precision.symmetric=false", "precision.zero_point=int", *no8)
    out = weight_only(asym, 4)
    assert sym.details["int4_symmetric"] is True and asym.details["int4_symmetric"] is False
    # integer zero points: a 4th input of every MatMulNBits; a symmetric one has none
    model = onnx.load(str(out))
    assert all(len(n.input) >= 4 for n in model.graph.node if n.op_type == "MatMulNBits")
    fmin = _job(tmp_path, "precision.symmetric=false", *no8)  # float: a language model's default
    model = onnx.load(str(weight_only(fmin, 4)))
    assert fmin.details["weight_only"]["zero_point"] == "float"
    assert all(len(n.input) == 3 for n in model.graph.node if n.op_type == "MatMulNBits")
    # one block-sum step per input (the mlp's, the lm_head's), each layer one MatMulNBits
    # over [x, block sums, block sums / 16]: K grows by two 32-row runs of offset digits
    assert sum(n.op_type == "Concat" for n in model.graph.node) == 2
    assert {a["K"] for a in _nbits(tmp_path / "out" / "model.onnx").values()} == {HIDDEN + 64}


@pytest.mark.parametrize("algo", ["hqq", "k_quant"])
def test_every_int4_algorithm_writes_4_bit_matmulnbits_close_to_the_float_model(tmp_path, algo):
    job = _job(
        tmp_path, f"precision.int4_algorithm={algo}", "model.keep_float=[]", "model.int8_layers=[]"
    )
    out = weight_only(job, 4)
    assert {a["bits"] for a in _nbits(out).values()} == {4}
    assert len(_nbits(out)) == 2 and job.details["int4_algorithm"] == algo
    x = np.random.default_rng(3).normal(size=(4, HIDDEN)).astype(np.float32)
    ref = _run(job.baseline_onnx, x)
    assert np.abs(_run(out, x) - ref).mean() / np.abs(ref).mean() < 0.2


def test_gptq_honours_8_bit_and_float_layers(tmp_path):
    """ORT's GPTQ branch ignores nodes_to_exclude: the lm_head asked for at 8 bits must not
    come out at 4 (it did, while the record said 8)."""
    from runner.datasets import Splits

    job = _job(tmp_path, "precision.int4_algorithm=gptq", "model.int8_layers=[lm_head]")
    job.cfg.model.task = "classification"  # the calibration rows feed x directly
    x = np.random.default_rng(4).normal(size=(16, HIDDEN)).astype(np.float32)
    calib = {"x": x, "ids": np.zeros(16, np.int64)}
    job.splits = Splits(x, np.zeros(16), calib, x, np.zeros(16), num_classes=0)
    nodes = _nbits(weight_only(job, 4))
    assert nodes["/lm_head/MatMul_Q8"]["bits"] == 8
    assert [a["bits"] for n, a in nodes.items() if "mlp" in n] == [4]


def test_only_a_language_model_gets_its_embedding_quantized(tmp_path):
    lm = _job(tmp_path, "model.keep_float=[]")
    ops = [n.op_type for n in onnx.load(str(weight_only(lm, 4))).graph.node]
    assert "GatherBlockQuantized" in ops and "Gather" not in ops
    assert lm.details["embedding"]["/embed/Gather"]["shared_with"] == "/lm_head/MatMul"
    encoder = _job(tmp_path, "model.keep_float=[]")
    encoder.cfg.model.task = "embedding"  # e.g. MiniLM: its position tables stay float
    ops = [n.op_type for n in onnx.load(str(weight_only(encoder, 4))).graph.node]
    assert "Gather" in ops and "GatherBlockQuantized" not in ops
    assert "embedding" not in encoder.details
