"""Weight-only MatMulNBits written by the project: llama.cpp's block rules on ONNX Runtime's
fast kernels, half-precision scales on disk, and a quantized token embedding.

- `symmetric`: 8 bits with scale = max|w| / 127 per block (llama.cpp's Q8_0 rule; ONNX
  Runtime's quantizer uses max / -128, which cannot reproduce a Q8_0 grid).
- `float`: asymmetric with a float minimum per block, w = d * q + m (llama.cpp's Q4_1 rule).
  MatMulNBits' zero points are integers (a float minimum cannot be written as one: every
  weight of the block moves by the same fraction of a step, an error that adds up over the dot
  product) and its float zero points have no fast kernel. So the block is stored symmetric,
  w = d * (q - 8) + r with r = m + 8 d: x . w = sum_b d_b sum_i (q_i - 8) x_i + sum_b r_b S_b(x),
  S_b the block sums of the input. The layer reads [x, S, S / 16] (S = x @ J, one small MatMul
  per input) and its weight gains r's two 4-bit digits as extra rows: one kernel call.
- Layers that read the same input at the same bits (q/k/v, gate/up) are one MatMulNBits, side
  by side, and a Split.
- Scales are stored as float16 and cast to float32 when the session loads (ONNX
  Runtime folds the Cast before it pre-packs the weights): half a bit per weight less on disk.
- The token embedding (a Gather of a constant table) becomes GatherBlockQuantized; a tied
  lm_head stored symmetric shares its table, so the two are one table on disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from runner.core.onnx_utils import BLOCK_SUMS

log = logging.getLogger(__name__)
MODES = ("symmetric", "float")
HALF_MAX = 65504.0  # float16's largest finite value


@dataclass
class Packed:
    """One weight [K, N] quantized block-wise along K: what MatMulNBits stores."""

    q: np.ndarray  # [N, k_blocks, block] uint8 in 0 .. 2**bits - 1, zero point 2**(bits - 1)
    scale: np.ndarray  # [N, k_blocks] float32 (values exact in float16)
    offset: np.ndarray | None  # [N, k_blocks] float32: the float mode's r, else None
    bits: int
    block: int
    k: int


def blocks(w: np.ndarray, block: int) -> np.ndarray:
    """A MatMul weight [K, N] as [N, k_blocks, block] along K (the last block zero padded)."""
    k, n = w.shape
    kb = -(-k // block)
    out = np.zeros((n, kb * block), np.float32)
    out[:, :k] = w.T
    return out.reshape(n, kb, block)


def _half(x: np.ndarray) -> np.ndarray:
    """Round to the nearest float16 value, kept as float32 (what is stored is what is used)."""
    return np.clip(x, -HALF_MAX, HALF_MAX).astype(np.float16).astype(np.float32)


def quantize(w: np.ndarray, bits: int, block: int, mode: str) -> Packed:
    """Quantize a MatMul weight [K, N] by `mode` (symmetric: Q8_0's rule at 8 bits, Q4_0's at
    4; float: Q4_1's float minimum), scales rounded to float16 before the weights are rounded."""
    b = blocks(np.asarray(w, np.float32), block)
    top, mid = 2**bits - 1, 2 ** (bits - 1)
    if mode == "float":
        lo = b.min(-1)
        scale = _half((b.max(-1) - lo) / top)
        scale[scale == 0] = 1.0
        q = np.clip(np.round((b - lo[..., None]) / scale[..., None]), 0, top)
        return Packed(q.astype(np.uint8), scale, _half(lo + mid * scale), bits, block, w.shape[0])
    if mode != "symmetric":
        raise ValueError(f"weight-only mode {mode!r} is unknown; use one of {', '.join(MODES)}")
    if bits == 8:  # Q8_0: the largest magnitude maps to +-127
        scale = _half(np.abs(b).max(-1) / (mid - 1))
    else:  # Q4_0: the value of largest magnitude maps to -8, using all 16 levels
        extreme = np.take_along_axis(b, np.abs(b).argmax(-1)[..., None], -1)[..., 0]
        scale = _half(extreme / -mid)
    scale[scale == 0] = 1.0
    q = np.clip(np.round(b / scale[..., None]) + mid, 0, top)
    return Packed(q.astype(np.uint8), scale, None, bits, block, w.shape[0])


def dequantize(p: Packed) -> np.ndarray:
    """The weight [K, N] that a Packed stands for (what the kernels compute with)."""
    w = (p.q.astype(np.float32) - 2 ** (p.bits - 1)) * p.scale[..., None]
    if p.offset is not None:
        w += p.offset[..., None]
    n = w.shape[0]
    return np.ascontiguousarray(w.reshape(n, -1)[:, : p.k].T)


def pack(q: np.ndarray, bits: int) -> np.ndarray:
    """[N, k_blocks, block] values -> MatMulNBits' uint8 blob (low bits first along K)."""
    q = q.astype(np.uint8)
    if bits == 8:
        return q
    if bits != 4:
        raise ValueError(f"bits={bits}: the project's packer writes 4 or 8 bits")
    return (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)


def unpack(blob: np.ndarray, bits: int) -> np.ndarray:
    """MatMulNBits' uint8 blob -> [N, k_blocks, block] values (the inverse of `pack`)."""
    if bits == 8:
        return blob.copy()
    out = np.empty((*blob.shape[:-1], blob.shape[-1] * 2), np.uint8)
    out[..., 0::2], out[..., 1::2] = blob & 0x0F, blob >> 4
    return out


def _init(graph, name: str, arr: np.ndarray) -> str:
    from onnx import numpy_helper

    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
    return name


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs):
    from onnx import helper

    domain = "com.microsoft" if op in ("MatMulNBits", "GatherBlockQuantized") else ""
    return helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs)


def matmul_nbits(graph, node, p: Packed, level: int, out: str | None = None):
    """The MatMulNBits node (and its initializers) that replaces MatMul `node` with `p`."""
    return _nbits_node(graph, node.name, node.input[0], out or node.output[0], p, level)


def _nbits_node(graph, name: str, x: str, out: str, p: Packed, level: int):
    stem = f"{name}_Q{p.bits}"
    b = _init(graph, f"{stem}_B", pack(p.q, p.bits))
    s = _init(graph, f"{stem}_scales", p.scale)
    n = p.q.shape[0]
    attrs = {"K": p.k, "N": n, "bits": p.bits, "block_size": p.block, "accuracy_level": level}
    return _node("MatMulNBits", [x, b, s], [out], stem, **attrs)


def _offsets(graph, x: str, members: list, block: int) -> list:
    """Nodes adding sum_b r_b S_b(x) to each member's MatMulNBits output: the block sums of
    the shared input, S = x @ J (J [K, k_blocks] marks each row's block, so any rank and a
    partial last block work), one MatMul with every member's offsets side by side, a Split."""
    first = members[0][1]
    stem = f"{members[0][0].name}_offsets"
    j = f"{BLOCK_SUMS}{first.k}x{first.block}"  # one per input width, shared by every layer
    if j not in {t.name for t in graph.initializer}:
        marks = np.zeros((first.k, first.q.shape[1]), np.float32)
        marks[np.arange(first.k), np.arange(first.k) // block] = 1.0
        _init(graph, j, marks)
    r = np.concatenate([p.offset.T for _, p in members], axis=1)  # [k_blocks, sum of N]
    nodes = [
        _node("MatMul", [x, j], [f"{stem}_sums"], f"{stem}_sum"),
        _node("MatMul", [f"{stem}_sums", _init(graph, f"{stem}_r", r)], [f"{stem}_all"], stem),
    ]
    parts = [f"{stem}_all"]
    if len(members) > 1:
        parts = [f"{stem}_{i}" for i in range(len(members))]
        sizes = _init(
            graph, f"{stem}_sizes", np.array([p.q.shape[0] for _, p in members], np.int64)
        )
        nodes.append(_node("Split", [f"{stem}_all", sizes], parts, f"{stem}_split", axis=-1))
    for (node, _), part in zip(members, parts, strict=True):
        add = f"{node.name}_offset_add"
        nodes.append(_node("Add", [f"{node.output[0]}_nbits", part], [node.output[0]], add))
    return nodes


def replace(model, plan: dict[str, tuple[int, str]], block: int, level: int) -> dict[str, Packed]:
    """Replace each MatMul named in `plan` (name -> (bits, mode)) whose weight is a constant by
    a MatMulNBits written here, in place; layers that read the same input at the same bits and
    mode become one MatMulNBits (`_fused`), float-mode ones over one block-sum step
    (`_augmented`). Returns name -> Packed (what each layer now holds)."""
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    packed, nodes, groups = {}, [], {}
    for node in g.node:
        if node.op_type != "MatMul" or node.name not in plan or node.input[1] not in inits:
            nodes.append(node)
            continue
        bits, mode = plan[node.name]
        p = quantize(numpy_helper.to_array(inits[node.input[1]]), bits, block, mode)
        packed[node.name] = p
        key = (node.input[0], bits, mode)  # layers that read one input: one kernel call
        if key not in groups:  # the group's nodes go where its first layer was
            groups[key] = []
            nodes.append(groups[key])
        groups[key].append((node, p))
    for (x, _, mode), members in groups.items():
        if mode == "symmetric":
            made = _fused(g, x, members, level)
        elif members[0][1].k % block == 0:
            made = _augmented(g, x, members, level)
        else:  # a partial last block: the offsets as a MatMul of their own
            made = [matmul_nbits(g, n, p, level, f"{n.output[0]}_nbits") for n, p in members]
            made += _offsets(g, x, members, block)
        members[:] = made
    flat = [n for item in nodes for n in (item if isinstance(item, list) else [item])]
    del g.node[:]
    g.node.extend(flat)
    _drop_unused(model)
    _microsoft_domain(model)
    return packed


def digits(p: Packed) -> tuple[np.ndarray, np.ndarray]:
    """A float-mode layer's offsets r [N, k_blocks] as two 4-bit digits on one float16 scale
    per output column, r = sigma * (h + l / 16), laid out as appended K rows: h in the first
    padded run of blocks, l in the second. Returns (their q, their scales); p.offset becomes
    the r that is stored (what the kernel computes with)."""
    n, kb = p.offset.shape
    pad = -(-kb // p.block) * p.block
    sigma = _half(np.abs(p.offset).max(1) / 7.4)
    sigma[sigma == 0] = 1.0
    t = p.offset / sigma[:, None]
    high = np.clip(np.round(t), -8, 7)
    low = np.clip(np.round((t - high) * 16), -8, 7)
    q = np.full((n, 2 * pad), 2 ** (p.bits - 1), np.uint8)  # the zero level: padding adds 0
    q[:, :kb] += high.astype(np.int8).view(np.uint8)
    q[:, pad : pad + kb] += low.astype(np.int8).view(np.uint8)
    p.offset = (sigma[:, None] * (high + low / 16)).astype(np.float32)
    runs = 2 * pad // p.block
    return q.reshape(n, runs, p.block), np.repeat(sigma[:, None], runs, axis=1)


def _augmented(graph, x: str, members: list, level: int) -> list:
    """Float-mode layers that read `x`, each as ONE MatMulNBits over [x, S, S / 16]: S = x @ J
    (J marks each row's block: S holds the block sums, in blocks of their own) and the weight
    gains the offsets' two digits as extra rows, so x . w + sum_b r_b S_b is a single kernel
    call (a separate offset MatMul, Split and Adds cost a third of the decode speed here)."""
    first = members[0][1]
    block, kb = first.block, first.q.shape[1]
    pad = -(-kb // block) * block
    j = f"{BLOCK_SUMS}{first.k}x{block}_digits"  # one per input width, shared by every layer
    if j not in {t.name for t in graph.initializer}:
        marks = np.zeros((first.k, 2 * pad), np.float32)
        rows = np.arange(first.k)
        marks[rows, rows // block], marks[rows, pad + rows // block] = 1.0, 1.0 / 16
        _init(graph, j, marks)
    stem = f"{members[0][0].name}_augmented"
    nodes = [
        _node("MatMul", [x, j], [f"{stem}_sums"], f"{stem}_sums"),
        _node("Concat", [x, f"{stem}_sums"], [f"{stem}_x"], f"{stem}_concat", axis=-1),
    ]
    wide = []
    for node, p in members:
        q, scale = digits(p)
        both = (np.concatenate([p.q, q], 1), np.concatenate([p.scale, scale], 1))
        wide.append((node, Packed(*both, None, p.bits, block, p.k + 2 * pad)))
    return [*nodes, *_fused(graph, f"{stem}_x", wide, level)]


def _fused(graph, x: str, members: list, level: int) -> list:
    """Layers that read `x` as one MatMulNBits, their weights side by side, and a Split into
    their outputs: one kernel call and one int8 copy of the input for q/k/v (gate/up)
    instead of three (two). The node is named after its layers, joined by '+'."""
    name = "+".join(n.name for n, _ in members)
    first = members[0][1]
    if len(members) == 1:
        return [_nbits_node(graph, name, x, members[0][0].output[0], first, level)]
    q = np.concatenate([p.q for _, p in members])
    both = Packed(q, np.concatenate([p.scale for _, p in members]), None, first.bits,
                  first.block, first.k)  # fmt: skip
    stem = f"{members[0][0].name}_fused"
    sizes = _init(graph, f"{stem}_sizes", np.array([p.q.shape[0] for _, p in members], np.int64))
    return [
        _nbits_node(graph, name, x, f"{stem}_y", both, level),
        _node("Split", [f"{stem}_y", sizes], [n.output[0] for n, _ in members], stem, axis=-1),
    ]


def _drop_unused(model) -> None:
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def _microsoft_domain(model) -> None:
    from onnx import helper

    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def tables(model) -> dict[str, str]:
    """Gather node -> its constant 2-D float table (token embeddings)."""
    from onnx import TensorProto

    inits = {t.name: t for t in model.graph.initializer}
    out = {}
    for n in model.graph.node:
        t = inits.get(n.input[0]) if n.op_type == "Gather" else None
        if t is not None and len(t.dims) == 2 and t.data_type == TensorProto.FLOAT:
            out[n.name] = t.name
    return out


def tied(model, table: str) -> str | None:
    """The MatMul whose constant weight is `table` transposed (a tied lm_head), or None."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    rows = numpy_helper.to_array(inits[table])
    for n in model.graph.node:
        w = inits.get(n.input[1]) if n.op_type == "MatMul" else None
        same = w is not None and tuple(w.dims) == rows.shape[::-1]
        if same and np.array_equal(numpy_helper.to_array(w), rows.T):
            return n.name
    return None


def embedding(model, gather: str, bits: int, block: int, share: tuple[str, Packed] | None):
    """Replace Gather `gather` by GatherBlockQuantized, in place: reading the MatMulNBits table
    of a tied lm_head (`share`: its MatMul name and Packed, symmetric), or a symmetric table
    of its own at `bits`. Returns what the record says: bits, block, shared with whom."""
    from onnx import numpy_helper

    g = model.graph
    node = next(n for n in g.node if n.name == gather)
    inits = {t.name: t for t in g.initializer}
    rows = numpy_helper.to_array(inits[node.input[0]])
    if rows.shape[1] % block:
        return {"bits": 32, "reason": f"width {rows.shape[1]} is not a multiple of {block}"}
    stem, extra = f"{gather}_Q", []
    if share is not None:
        lm = next(
            n for n in g.node if n.name.startswith(f"{share[0]}_Q") and n.op_type == "MatMulNBits"
        )
        p, scales = share[1], lm.input[2]
        shape = _init(g, f"{stem}_shape", np.array([rows.shape[0], -1], np.int64))
        extra.append(_node("Reshape", [lm.input[1], shape], [f"{stem}_data"], f"{stem}_reshape"))
        data = f"{stem}_data"
    else:
        p = quantize(rows.T, bits, block, "symmetric")
        data = _init(g, f"{stem}_data", pack(p.q, bits).reshape(rows.shape[0], -1))
        scales = _init(g, f"{stem}_scales", p.scale)
    attrs = {"bits": p.bits, "block_size": block, "gather_axis": 0, "quantize_axis": 1}
    gbq = _node(
        "GatherBlockQuantized", [data, node.input[1], scales], list(node.output), stem, **attrs
    )
    at = list(g.node).index(node)
    nodes = list(g.node)
    nodes[at : at + 1] = [*extra, gbq]
    del g.node[:]
    g.node.extend(nodes)
    _drop_unused(model)
    _microsoft_domain(model)
    return {"bits": p.bits, "block_size": block, "shared_with": share[0] if share else None}


def half_scales(model) -> int:
    """Store the float32 scales of MatMulNBits / GatherBlockQuantized and the float offsets as
    float16 initializers, each cast back to float32 by a Cast that ONNX Runtime folds when the
    session loads (before it pre-packs the weights); returns how many tensors."""
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    names = {n.input[2] for n in g.node if n.op_type in ("MatMulNBits", "GatherBlockQuantized")}
    names |= {
        n.input[1] for n in g.node if n.op_type == "MatMul" and n.input[1].endswith("_offsets_r")
    }
    casts, done = [], 0
    for t in g.initializer:
        if t.name not in names or t.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t)
        if not np.all(np.abs(a) <= HALF_MAX):
            continue
        half = numpy_helper.from_array(a.astype(np.float16), f"{t.name}_f16")
        t.CopyFrom(half)
        casts.append(
            helper.make_node(
                "Cast",
                [half.name],
                [half.name[:-4]],
                name=f"{half.name}_cast",
                to=TensorProto.FLOAT,
            )
        )
        done += 1
    nodes = [*casts, *g.node]
    del g.node[:]
    g.node.extend(nodes)
    return done


def embeddings(model, embeds: dict, ties: dict, packed: dict, bits: int, cfg, s: dict) -> dict:
    """Each token embedding (Gather node -> table) as GatherBlockQuantized, in place: sharing
    its tied lm_head's table when that was written here symmetric, else a symmetric table of
    its own (8 bits in an INT8 job or where model.int8_layers names it or its lm_head, else
    `bits`); model.keep_float keeps it float. Returns what the record says, per Gather."""
    from runner.backends import matches

    keep, eight, out = list(cfg.keep_float), list(cfg.int8_layers), {}
    for gather, table in embeds.items():
        if matches(gather, keep) or matches(table, keep):
            out[gather] = {"bits": 32, "reason": "model.keep_float"}
            continue
        lm = ties.get(gather)
        p = packed.get(lm)
        share = (lm, p) if p is not None and p.offset is None else None
        own = 8 if bits == 8 or matches(gather, eight) or (lm and matches(lm, eight)) else bits
        out[gather] = embedding(model, gather, own, s["block_size"], share)
    return out
