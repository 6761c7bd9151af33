"""ONNX helpers shared by backends: export, graph rewrites, and what the weights are stored as."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

INPUT_NAME = "input"
WEIGHT_OPS = {
    "Conv": 1,
    "ConvTranspose": 1,
    "Gemm": 1,
    "MatMul": 1,
    "ConvInteger": 1,
    "MatMulInteger": 1,
    "QLinearConv": 3,
    "QLinearMatMul": 3,
    "Gather": 0,  # embedding tables
}
# Constant matrices that sum an input's blocks (runner.backends.nbits' float offsets): graph
# plumbing, not weights of the model, so storage_bits does not count them.
BLOCK_SUMS = "block_sums_"


def export_onnx(module: Any, example: Any, path: Path) -> Path:
    """Export a torch module with a dynamic batch dimension (torch.export-based exporter).

    `example` is one tensor (input named "input"), or a dict of named tensors such as
    input_ids / attention_mask, whose second dimension (the sequence) is dynamic too.
    """
    import warnings

    import torch

    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec.*")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    batch = torch.export.Dim("batch", min=1)
    if isinstance(example, dict):
        seq = torch.export.Dim("sequence", min=2, max=4096)
        names, args = list(example), tuple(torch.as_tensor(v) for v in example.values())
        dims = tuple({0: batch, 1: seq} if a.ndim > 1 else {0: batch} for a in args)
    else:
        names, args, dims = [INPUT_NAME], (example,), ({0: batch},)
    torch.onnx.export(
        module,
        args,
        str(tmp),
        input_names=names,
        output_names=["output"],
        dynamic_shapes=dims,
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    os.replace(tmp, path)
    return path


def baseline_onnx(model: Any, path: Path) -> Path:
    """The FP32 baseline as an ONNX file at `path`: the model's own file, or a torch export."""
    if getattr(model, "onnx_path", None):
        return copy_model(Path(model.onnx_path), path)
    return export_onnx(model.module, model.example_input, path)


def graph_inputs(model: Any) -> list[Any]:
    """The graph inputs a caller feeds (older exports also list initializers as inputs)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def input_batch(model: Any) -> int | None:
    """The fixed batch size of the first fed input, or None when the dimension is dynamic."""
    dims = graph_inputs(model)[0].type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") else None


def gemm_to_matmul(model: Any) -> int:
    """Rewrite Gemm(transB=1, alpha=beta=1) as MatMul + Add, in place; return how many.

    ONNX Runtime's INT4 weight-only kernel (MatMulNBits) only replaces MatMul nodes, while the
    exporter emits Gemm for a Linear layer on 2-D input.
    """
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes, count = [], 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        ok = (
            node.op_type == "Gemm"
            and node.input[1] in inits
            and attrs.get("transB", 0) == 1
            and attrs.get("transA", 0) == 0
            and attrs.get("alpha", 1.0) == 1.0
            and attrs.get("beta", 1.0) == 1.0
        )
        if not ok:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        wt = numpy_helper.from_array(np.ascontiguousarray(w.T), node.input[1] + "_t")
        model.graph.initializer.append(wt)
        mm_out = node.output[0] + "_mm" if len(node.input) > 2 else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], wt.name], [mm_out]))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [mm_out, node.input[2]], [node.output[0]]))
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    return count


def fold_transposed_weights(model: Any) -> list[str]:
    """Give each MatMul that reads Transpose(initializer) a transposed initializer of its own.

    A language model whose lm_head shares the embedding matrix is exported as
    MatMul(x, Transpose(embed_tokens.weight)); MatMulNBits only quantizes a MatMul whose
    weight is a constant, so without this the lm_head (a fifth of SmolLM2's decode work)
    would stay float. The embedding lookup keeps the original matrix. Returns the MatMul names.
    """
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    folded = []
    for node in model.graph.node:
        src = producer.get(node.input[1]) if node.op_type == "MatMul" else None
        if src is None or src.op_type != "Transpose" or src.input[0] not in inits:
            continue
        perm = [helper.get_attribute_value(a) for a in src.attribute if a.name == "perm"]
        w = numpy_helper.to_array(inits[src.input[0]])
        if w.ndim != 2 or (perm and list(perm[0]) != [1, 0]):
            continue
        t = numpy_helper.from_array(np.ascontiguousarray(w.T), src.output[0] + "_folded")
        model.graph.initializer.append(t)
        node.input[1] = t.name
        folded.append(node.name)
    used = {i for n in model.graph.node for i in n.input}
    keep = [n for n in model.graph.node if n.op_type != "Transpose" or n.output[0] in used]
    if len(keep) != len(model.graph.node):
        del model.graph.node[:]
        model.graph.node.extend(keep)
    return folded


def _weight_elems(model: Any) -> list[tuple[str, int, int]]:
    """(initializer name, element count, ONNX dtype) of every weight a compute op reads."""
    from onnx import helper

    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    out = []
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            k = attrs["K"] - _appended(node, inits, producer)
            out.append((node.input[1], k * attrs["N"], -attrs.get("bits", 4)))
            continue
        if node.op_type == "GatherBlockQuantized":  # a token embedding (uint8 data: packed)
            out.append(_gathered(node, inits, producer))
            continue
        idx = WEIGHT_OPS.get(node.op_type)
        if idx is None or len(node.input) <= idx:
            continue
        name = node.input[idx]
        src = producer.get(name)
        while src is not None and src.op_type in ("DequantizeLinear", "Cast", "Transpose"):
            name = src.input[0]
            src = producer.get(name)
        if name in inits and not name.startswith(BLOCK_SUMS):
            t = inits[name]
            out.append((name, int(np.prod(t.dims)), t.data_type))
    return out


def _appended(node: Any, inits: dict, producer: dict) -> int:
    """Input rows a MatMulNBits reads beyond the layer's own: runner.backends.nbits feeds a
    float-offset layer Concat(x, x @ J), whose extra J.shape[1] rows are not weights."""
    cat = producer.get(node.input[0])
    sums = producer.get(cat.input[1]) if cat is not None and cat.op_type == "Concat" else None
    if sums is None or sums.op_type != "MatMul" or sums.input[1] not in inits:
        return 0
    return int(inits[sums.input[1]].dims[1])


def _gathered(node: Any, inits: dict, producer: dict) -> tuple[str, int, int]:
    """(table, elements, -bits) of a GatherBlockQuantized, its data followed through a Reshape
    (a table shared with a tied lm_head's MatMulNBits)."""
    from onnx import TensorProto, helper

    name = node.input[0]
    while name not in inits and producer.get(name) is not None:
        name = producer[name].input[0]
    t = inits[name]
    bits = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "bits"), 4)
    packed = 8 // bits if t.data_type == TensorProto.UINT8 else 1
    return name, int(np.prod(t.dims)) * packed, -int(bits)


def storage_bits(model: Any) -> dict[int, int]:
    """Weight elements per storage width in bits (32, 16, 8, 4): what the model really holds."""
    from onnx import TensorProto

    width = {
        TensorProto.FLOAT: 32,
        TensorProto.FLOAT16: 16,
        TensorProto.BFLOAT16: 16,
        TensorProto.INT8: 8,
        TensorProto.UINT8: 8,
        TensorProto.INT4: 4,
        TensorProto.UINT4: 4,
    }
    counts: dict[int, int] = {}
    for _, n, dtype in _weight_elems(model):
        bits = -dtype if dtype < 0 else width.get(dtype, 32)
        counts[bits] = counts.get(bits, 0) + n
    return counts


def quantized_fraction(path: Path, bits: int) -> float | None:
    """Share of weight elements stored in `bits` (or fewer) bits; None if no weights found."""
    import onnx

    counts = storage_bits(onnx.load(str(path)))
    total = sum(counts.values())
    if not total:
        return None
    return sum(n for b, n in counts.items() if b <= bits) / total


def external_data(path: Path) -> list[Path]:
    """The external-data files beside an ONNX model, by the two usual names: model.onnx.data
    (torch.onnx) and model.onnx_data (optimum-onnx, for models over 2 GB)."""
    path = Path(path)
    names = (path.name + ".data", path.name + "_data")
    return [path.with_name(n) for n in names if path.with_name(n).exists()]


def copy_model(src: Path, dst: Path) -> Path:
    """Copy an ONNX model and its external-data files (same names, so references hold)."""
    import shutil

    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    for data in external_data(src):
        shutil.copyfile(data, dst.with_name(dst.name + data.name[len(src.name) :]))
    return dst


def model_size(path: Path) -> int:
    """Bytes on disk of a model, external-data files beside it included."""
    path = Path(path)
    return path.stat().st_size + sum(d.stat().st_size for d in external_data(path))


def weighted_nodes(model) -> set[str]:
    """Names of the nodes whose second input is a weight (an initializer, or one transposed)."""
    inits = {t.name for t in model.graph.initializer}
    made = {o: n for n in model.graph.node for o in n.output}

    def constant(name: str) -> bool:
        if name in inits:
            return True
        node = made.get(name)
        return (
            node is not None and node.op_type in ("Transpose", "Cast") and constant(node.input[0])
        )

    return {n.name for n in model.graph.node if len(n.input) > 1 and constant(n.input[1])}


WIDTHS = {32: "fp32", 16: "fp16", 8: "int8", 4: "int4"}


def weight_precision(path: Path) -> tuple[str, dict[int, int]]:
    """What a graph's weights are stored as ('fp32', 'int8', 'mixed', ...) and their elements
    per bit width: how a model received as a file says its own precision."""
    import onnx

    bits = storage_bits(onnx.load(str(path)))
    if len(bits) == 1:
        return WIDTHS.get(next(iter(bits)), "other"), bits
    return ("mixed" if bits else "unknown"), bits


def drop_weight_shapes(path: Path) -> None:
    """Remove the shape entries (value_info) that torch's exporter writes for weights: the
    dynamic quantizer transposes a Gemm's weight into a MatMul's and keeps the stale entry,
    and ONNX shape inference then refuses the model (a text classifier's [2, 32] head)."""
    import onnx

    model = onnx.load(str(path))
    inits = {t.name for t in model.graph.initializer}
    kept = [v for v in model.graph.value_info if v.name not in inits]
    if len(kept) < len(model.graph.value_info):
        del model.graph.value_info[:]
        model.graph.value_info.extend(kept)
        onnx.save(model, str(path), save_as_external_data=model.ByteSize() > 2**31 - 2**26)
