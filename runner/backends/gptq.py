"""GPTQ rounding for ONNX Runtime's INT4 weight-only path, with the error feedback intact.

ONNX Runtime 1.31.1 ships GPTQ (quantization/neural_compressor/weight_only.py), but its
`gptq()` spreads each column's rounding error along `Hinv1[i:, i]`, a column of an upper
triangular factor, which is zero below the diagonal: no error reaches the other weights and
the result equals round-to-nearest (we checked: byte-identical MatMulNBits weights on
MiniLM). This module is a corrected `gptq()` with the same signature; `quantize` runs ORT's
own pipeline (activation capture, Hessians, MatMulNBits packing) with it swapped in.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def _group_params(w: np.ndarray, maxq: int) -> tuple[np.ndarray, np.ndarray]:
    """Asymmetric scale and zero point per output column of a group of rows (0 in range)."""
    xmin = np.minimum(w.min(axis=0), 0.0)
    xmax = np.maximum(w.max(axis=0), 0.0)
    same = (xmin == 0) & (xmax == 0)
    xmin[same], xmax[same] = -1.0, 1.0
    scale = (xmax - xmin) / maxq
    return scale, np.round(-xmin / scale)


def gptq(W, H, num_bits=4, group_size=32, scheme="asym", blocksize=128, percdamp=0.01,  # noqa: N803
         actorder=False, mse=False, perchannel=True):  # fmt: skip
    """GPTQ (Frantar et al. 2022) on W [K in, N out] with Hessian H [K, K]; returns the
    dequantized weights. Asymmetric group-wise grids; `actorder`, `mse`, `perchannel` and
    `scheme` are accepted for ORT's call signature (asym, no reordering here)."""
    del actorder, mse, perchannel, scheme
    W = np.array(W, dtype=np.float64)  # noqa: N806
    H = np.array(H, dtype=np.float64)  # noqa: N806
    k_in = W.shape[0]
    group = group_size if group_size != -1 else k_in
    maxq = 2**num_bits - 1
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[dead, :] = 0.0
    H[np.arange(k_in), np.arange(k_in)] += percdamp * np.mean(np.diag(H))
    U = np.linalg.cholesky(np.linalg.inv(H)).T  # noqa: N806 - upper: inv(H) = U.T @ U
    Q = np.zeros_like(W)  # noqa: N806
    scale = zero = None
    for i1 in range(0, k_in, blocksize):
        i2 = min(i1 + blocksize, k_in)
        W1 = W[i1:i2].copy()  # noqa: N806
        err = np.zeros_like(W1)
        for i in range(i2 - i1):
            k = i1 + i
            if k % group == 0:
                rows = np.vstack([W1[i:], W[i2:]])[:group]  # current (updated) weights
                scale, zero = _group_params(rows, maxq)
            w = W1[i]
            q = scale * (np.clip(np.round(w / scale) + zero, 0, maxq) - zero)
            Q[k] = q
            err[i] = (w - q) / U[k, k]
            W1[i:] -= np.outer(U[k, k:i2], err[i])
        W[i2:] -= U[i1:i2, i2:].T @ err
    return Q.astype(np.float32)


def name_nodes(model) -> int:
    """Give every unnamed or duplicate-named node a unique name, in place; return how many.

    ORT's GPTQ pipeline sorts the graph by node name: nodes that share a name (our Gemm ->
    MatMul + Add rewrite leaves them unnamed, so do some exporters) collapse into one and the
    rest are dropped, e.g. a classifier's last MatMul + Add ("Graph output does not exist").
    """
    taken = {n.name for n in model.graph.node if n.name}
    seen: set[str] = set()
    renamed = 0
    for i, node in enumerate(model.graph.node):
        if node.name and node.name not in seen:
            seen.add(node.name)
            continue
        stem = f"{node.name or node.op_type}_{i}"
        name, k = stem, 0
        while name in taken or name in seen:
            k += 1
            name = f"{stem}_{k}"
        node.name = name
        seen.add(name)
        renamed += 1
    return renamed


def quantize(model, reader, block_size: int, exclude: list[str] | tuple = ()):
    """INT4 MatMulNBits weights by GPTQ, calibrated on `reader`; returns the ModelProto.

    `exclude`: MatMul node names left as they are (kept float, or quantized later to 8 bits).
    """
    from onnxruntime.quantization import matmul_nbits_quantizer as mnb
    from onnxruntime.quantization.neural_compressor import weight_only

    name_nodes(model)
    algo = mnb.GPTQWeightOnlyQuantConfig(calibration_data_reader=reader, block_size=128)
    quant = mnb.MatMulNBitsQuantizer(
        model,
        block_size=block_size,
        is_symmetric=False,
        algo_config=algo,
        nodes_to_exclude=list(exclude),
    )
    # ORT's GPTQ branch ignores nodes_to_exclude (only its RTN branch marks them "fp32"):
    # mark them here, or an excluded layer is quantized to 4 bits all the same
    planned = quant._generate_q4_node_config
    quant._generate_q4_node_config = lambda: {**planned(), **dict.fromkeys(exclude, "fp32")}
    original, weight_only.gptq = weight_only.gptq, gptq
    try:
        quant.process()
    finally:
        weight_only.gptq = original
    return quant.model.model if hasattr(quant.model, "model") else quant.model


def calibrated(job, model, block: int, exclude: list[str] | tuple = ()):
    """GPTQ on the job's calibration split (language models: `precision.gptq_tokens` tokens in
    256-token chunks, run through the graph with an empty KV cache); returns the ModelProto."""
    from runner.core import batches
    from runner.core import lm_graph as lm
    from runner.core.onnx_utils import graph_inputs, input_batch

    x = job.splits.x_calib
    if batches.rows(x) == 0:
        raise ValueError("GPTQ needs calibration data: dataset.calib_fraction is 0; raise it")
    if job.cfg.model.task == "language_modeling":  # 256-token chunks in one batch: ORT's
        ids = x["input_ids"]  # GPTQ runs the whole model once per MatMul input and batch
        chunks = max(1, job.cfg.precision.gptq_tokens // 256)
        cut = ids[:, : ids.shape[1] // 256 * 256].reshape(-1, 256)[:chunks]
        if len(cut) < chunks:
            job.details.setdefault("warnings", []).append(
                f"GPTQ calibrated on {len(cut) * 256} tokens, fewer than precision.gptq_tokens="
                f"{job.cfg.precision.gptq_tokens}: the calibration split is short; raise "
                "dataset.calib_fraction or model.calib_tokens, or give a longer text"
            )
        x = lm.prefill_feeds(model, np.ascontiguousarray(cut))  # with a KV cache's inputs
    n = min(job.cfg.method.calibration_samples, batches.rows(x))
    x = batches.take(x, slice(0, n))
    fixed = input_batch(model)  # an export with a static batch dimension takes only that
    reader = batches.calibration_reader(x, graph_inputs(model)[0].name, batch=fixed or n)
    log.info("GPTQ: Hessians from %d calibration samples", n)
    job.details["gptq_calibration_samples"] = n
    return quantize(model, reader, block, exclude)
