"""The project's MatMulNBits packer (runner.backends.nbits): llama.cpp's block rules, float
offsets run as symmetric MatMulNBits plus an offset MatMul, half-precision scales, and the token
embedding as GatherBlockQuantized sharing a tied lm_head's table. Each graph is run by ONNX
Runtime and checked against numpy on the dequantized weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runner.backends import nbits
from tests.backends.test_weight_only import HIDDEN, VOCAB, tiny_lm_graph


def grid(rng, shape, bits: int, minimum: bool) -> np.ndarray:
    """Weights [K, N] already on a llama.cpp grid, blocks of 32 along K: Q8_0 (d * q, q in
    -127..127) or Q4_1 (d * q + m, q in 0..15), d and m float16, both ends of q attained."""
    k, n = shape
    top = 15 if minimum else 127
    q = rng.integers(0 if minimum else -top, top + 1, size=(n, k // 32, 32)).astype(np.float32)
    q[..., 0], q[..., 1] = (0 if minimum else -top), top
    d = rng.uniform(0.001, 0.05, size=(n, k // 32, 1)).astype(np.float16).astype(np.float32)
    m = rng.uniform(-0.3, 0.1, size=(n, k // 32, 1)).astype(np.float16).astype(np.float32)
    w = d * q + (m if minimum else 0)
    return np.ascontiguousarray(w.reshape(n, k).T)


def test_llama_cpp_grids_come_back_exactly_and_integer_zero_points_cannot_hold_q4_1():
    rng = np.random.default_rng(0)
    q8 = grid(rng, (64, 8), 8, minimum=False)
    assert np.array_equal(nbits.dequantize(nbits.quantize(q8, 8, 32, "symmetric")), q8)
    q41 = grid(rng, (64, 8), 4, minimum=True)
    fmin = nbits.quantize(q41, 4, 32, "float")
    np.testing.assert_allclose(nbits.dequantize(fmin), q41, rtol=0, atol=1e-3 * np.abs(q41).max())
    # the same block with an integer zero point (what MatMulNBits stores): every weight of a
    # block moves by the same fraction of a step, so the block's mean error is not zero
    b = nbits.blocks(q41, 32)
    lo, hi = np.minimum(b.min(-1), 0), np.maximum(b.max(-1), 0)
    s = (hi - lo) / 15
    z = np.round(-lo / s)
    deq = (np.clip(np.round(b / s[..., None]) + z[..., None], 0, 15) - z[..., None]) * s[..., None]
    bias = np.abs((deq - b).mean(-1)) / s
    assert np.median(bias) > 0.1  # a systematic shift of a tenth of a step or more


def test_pack_and_unpack_are_inverse_and_low_bits_come_first():
    q = np.arange(32, dtype=np.uint8).reshape(1, 1, 32) % 16
    blob = nbits.pack(q, 4)
    assert blob.shape == (1, 1, 16) and blob[0, 0, 0] == 0x10 and blob[0, 0, 1] == 0x32
    assert np.array_equal(nbits.unpack(blob, 4), q)


def one_matmul(path: Path, w: np.ndarray, rank: int = 3) -> Path:
    k, n = w.shape
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", k][-rank:])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", n][-rank:])
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="/layer/MatMul")
    graph = helper.make_graph([node], "g", [x], [y], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, str(path))
    return path


def run(path: Path, **feeds) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("k, rank", [(96, 3), (80, 2)])  # 80: a last block of 16 (padded)
def test_float_offsets_give_the_product_with_the_dequantized_weight(tmp_path, k, rank):
    """96: the offsets ride in the same MatMulNBits ([x, S, S / 16]); 80: a partial last block,
    the offsets as a MatMul of their own."""
    rng = np.random.default_rng(1)
    w = rng.normal(0.05, 0.1, size=(k, 24)).astype(np.float32)  # blocks off zero: offsets matter
    model = onnx.load(str(one_matmul(tmp_path / "f.onnx", w, rank)))
    packed = nbits.replace(model, {"/layer/MatMul": (4, "float")}, 32, level=0)
    nbits.half_scales(model)
    onnx.save(model, str(tmp_path / "q.onnx"))
    x = rng.normal(1.0, 1.0, size=(2, 3, k)[-rank:]).astype(np.float32)
    (y,) = run(tmp_path / "q.onnx", x=x)
    want = x @ nbits.dequantize(packed["/layer/MatMul"])
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert np.abs(want - x @ w).mean() < 0.1 * np.abs(x @ w).mean()  # and close to float
    kinds = {t.name: t.data_type for t in model.graph.initializer}
    assert {kinds[n] for n in kinds if n.endswith(("_scales_f16", "_r_f16"))} == {
        TensorProto.FLOAT16
    }


def test_the_tied_embedding_shares_the_lm_heads_8_bit_table(tmp_path):
    from runner.core.onnx_utils import fold_transposed_weights

    base = tiny_lm_graph(tmp_path / "m.onnx")
    model = onnx.load(str(base))
    fold_transposed_weights(model)
    embeds = nbits.tables(model)
    ties = {g: nbits.tied(model, t) for g, t in embeds.items()}
    assert ties == {"/embed/Gather": "/lm_head/MatMul"}
    plan = {"/lm_head/MatMul": (8, "symmetric"), "/model/layers.0/mlp/MatMul": (4, "float")}
    packed = nbits.replace(model, plan, 32, level=0)
    share = ("/lm_head/MatMul", packed["/lm_head/MatMul"])
    info = nbits.embedding(model, "/embed/Gather", 8, 32, share)
    assert info == {"bits": 8, "block_size": 32, "shared_with": "/lm_head/MatMul"}
    nbits.half_scales(model)
    onnx.save(model, str(tmp_path / "q.onnx"))
    ids = np.array([3, 0, 63], np.int64)
    logits, rows = run(tmp_path / "q.onnx", x=np.ones((3, HIDDEN), np.float32), ids=ids)
    table = nbits.dequantize(share[1]).T  # [VOCAB, HIDDEN]: the lm_head's rows
    np.testing.assert_array_equal(rows, table[ids])
    emb = numpy_helper.to_array(
        next(t for t in onnx.load(str(base)).graph.initializer if t.name == "embed")
    )
    assert np.abs(rows - emb[ids]).max() <= np.abs(emb).max() / 127  # within a step of Q8_0
    used = [t for t in model.graph.initializer if t.data_type == TensorProto.UINT8]
    mlp = (HIDDEN + 64) * HIDDEN // 2  # 4 bits, plus the float offsets' two 32-row digit runs
    assert sum(int(np.prod(t.dims)) for t in used) == mlp + VOCAB * HIDDEN  # lm_head: 8 bits
    assert "embed" not in {t.name for t in model.graph.initializer}  # one table, not two


def test_an_untied_embedding_gets_a_symmetric_table_of_its_own(tmp_path):
    model = onnx.load(
        str(tiny_lm_graph(tmp_path / "m.onnx"))
    )  # Transpose kept: no MatMul reads embed
    emb = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "embed"))
    info = nbits.embedding(model, "/embed/Gather", 4, 32, None)
    assert info == {"bits": 4, "block_size": 32, "shared_with": None}
    onnx.save(model, str(tmp_path / "q.onnx"))
    ids = np.arange(VOCAB, dtype=np.int64)
    _, rows = run(tmp_path / "q.onnx", x=np.ones((VOCAB, HIDDEN), np.float32), ids=ids)
    want = nbits.dequantize(nbits.quantize(emb.T, 4, 32, "symmetric")).T
    np.testing.assert_allclose(rows, want, rtol=1e-6)


@pytest.mark.parametrize("bits, mode", [(8, "symmetric"), (4, "float")])
def test_layers_that_read_one_input_become_one_kernel_call(tmp_path, bits, mode):
    """q / k / v read the same normalized input: one MatMulNBits (weights side by side) and a
    Split, each output still the product with its own dequantized weight."""
    from runner.backends.ort_ptq import _stored_bits

    rng = np.random.default_rng(5)
    ws = [rng.normal(0.02, 0.1, size=(64, n)).astype(np.float32) for n in (64, 32, 32)]
    nodes = [helper.make_node("MatMul", ["x", f"w{i}"], [f"y{i}"], name=f"/attn/{n}/MatMul")
             for i, n in enumerate("qkv")]  # fmt: skip
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", 64])
    outs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(3)]
    inits = [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(ws)]
    graph = helper.make_graph(nodes, "g", [x], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    packed = nbits.replace(model, {n.name: (bits, mode) for n in nodes}, 32, level=0)
    kernels = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    assert len(kernels) == 1 and [n.op_type for n in model.graph.node].count("Split") == 1
    assert _stored_bits(model) == {n.name: bits for n in nodes}
    onnx.save(model, str(tmp_path / "q.onnx"))
    xs = rng.normal(0.5, 1.0, size=(1, 5, 64)).astype(np.float32)
    for y, node in zip(run(tmp_path / "q.onnx", x=xs), nodes, strict=True):
        want = xs @ nbits.dequantize(packed[node.name])
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
