"""The KV-cache graph contract of a causal language model: export, inputs, strided windows.

The graph is optimum-onnx's `text-generation-with-past` export (inputs `input_ids`,
`attention_mask`, `position_ids`, `past_key_values.N.key/value`; outputs `logits`,
`present.N.key/value`), or anything with the same names (runner.backends.torch_runtime's
TorchLMSession runs a torch model behind them). Model sources export it, backends feed it
calibration text, and the job scores and times it (runner.job.lm).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


PAST, PRESENT = "past_key_values.", "present."


# optimum-onnx's task for a decoder with its past key/values as inputs and outputs
EXPORT_TASK = "text-generation-with-past"


def export_kv(model_dir: Path, out_dir: Path) -> Path:
    """Export a `save_pretrained` causal-LM folder with its KV cache; returns model.onnx.

    optimum-onnx writes model.onnx (and model.onnx_data above 2 GB) plus the tokenizer files.
    """
    from optimum.exporters.onnx import main_export

    from runner.core.console import route_library_output

    route_library_output()  # optimum's notices (tied weights, ...): the job's log, not the console
    out_dir = Path(out_dir)
    log.info("export: %s with a KV cache (optimum-onnx, %s)", Path(model_dir).name, EXPORT_TASK)
    t0 = time.perf_counter()
    main_export(
        str(model_dir), output=str(out_dir), task=EXPORT_TASK, do_validation=False, device="cpu"
    )
    log.info("export: done in %.0f s", time.perf_counter() - t0)
    return out_dir / "model.onnx"


def is_kv_graph(session: Any) -> bool:
    """Whether a session takes past key/values (a KV-cache decoder)."""
    return any(i.name.startswith(PAST) for i in session.get_inputs())


_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class KVGraph:
    """Calls a KV-cache decoder session: one step = new tokens + the cache so far."""

    def __init__(self, session: Any) -> None:
        self.session = session
        inputs = {i.name: i for i in session.get_inputs()}
        self.past = [n for n in inputs if n.startswith(PAST)]
        if not self.past or "input_ids" not in inputs:
            raise ValueError(
                "the language model's graph has no past_key_values inputs: export it with "
                f"optimum-onnx's task {EXPORT_TASK!r} (model=hf_causal_lm does)"
            )
        self.present = [PRESENT + n[len(PAST) :] for n in self.past]
        self.position = "position_ids" in inputs
        self.mask = "attention_mask" in inputs
        first = inputs[self.past[0]]
        self.heads, self.head_dim = int(first.shape[1]), int(first.shape[3])
        self.dtype = _DTYPES.get(getattr(first, "type", ""), np.float32)

    def empty(self, batch: int = 1) -> list[np.ndarray]:
        """A cache holding no tokens yet."""
        shape = (batch, self.heads, 0, self.head_dim)
        return [np.zeros(shape, self.dtype) for _ in self.past]

    def step(
        self, ids: np.ndarray, past: list[np.ndarray], logits: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits [batch, new, vocab] of the new tokens `ids`, and the cache including them."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        batch, new = ids.shape
        seen = past[0].shape[2]
        feed = {"input_ids": ids, **dict(zip(self.past, past, strict=True))}
        if self.mask:
            feed["attention_mask"] = np.ones((batch, seen + new), np.int64)
        if self.position:
            feed["position_ids"] = np.broadcast_to(
                np.arange(seen, seen + new, dtype=np.int64), (batch, new)
            ).copy()
        out = self.session.run(["logits", *self.present], feed)
        return out[0], out[1:]


def log_softmax_pick(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(-log p(target), argmax) per position of logits [T, V], computed in float64 (in chunks
    of positions: a 1,024 x 49k window would take 400 MB at once)."""
    nll = np.empty(len(targets))
    for i in range(0, len(targets), 128):
        z = logits[i : i + 128].astype(np.float64)
        z -= z.max(axis=-1, keepdims=True)
        logz = np.log(np.exp(z).sum(axis=-1))
        nll[i : i + 128] = logz - z[np.arange(len(z)), targets[i : i + 128]]
    return nll, logits.argmax(axis=-1)


def windows(ids: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Hugging Face's strided perplexity windows over a token stream, as rectangular arrays.

    Window k starts at k * stride and ends `window` tokens later, or at the end of the stream;
    it scores the tokens the previous window did not reach, so every token after the first is
    scored exactly once, with up to `window - 1` tokens of context. A final short window is
    padded on the right (a causal model never looks ahead, so padding changes nothing) and its
    padding is not scored. Returns (input_ids [W, window], mask [W, window - 1]): mask[w, t]
    is 1 when window w scores its token t + 1.
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    if n < 2:
        raise ValueError(f"the evaluation text has {n} tokens; it needs at least 2")
    if not 0 < stride < window:  # stride == window: each window's first token goes unscored
        raise ValueError(
            f"model.stride={stride} must be between 1 and model.window - 1 = {window - 1} (a "
            "window needs context before the tokens it scores); set model.stride below model.window"
        )
    rows, masks, prev_end = [], [], 0
    for begin in range(0, n, stride):
        end = min(begin + window, n)
        row = np.zeros(window, np.int64)
        row[: end - begin] = ids[begin:end]
        mask = np.zeros(window - 1, np.int64)
        first = max(prev_end, begin + 1) - begin  # first scored token, in window positions
        mask[first - 1 : end - begin - 1] = 1
        rows.append(row)
        masks.append(mask)
        prev_end = end
        if end == n:
            break
    return np.stack(rows), np.stack(masks)


def prefill_feeds(model: Any, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Every input a graph (ModelProto) needs to run `ids` [N, S] from an empty cache: the
    calibration feed for algorithms that run the graph (GPTQ). A graph without a KV cache
    gets {"input_ids": ids}."""
    from onnx import TensorProto

    ids = np.ascontiguousarray(ids, dtype=np.int64)
    n, s = ids.shape
    feeds = {"input_ids": ids}
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if inp.name == "attention_mask":
            feeds[inp.name] = np.ones((n, s), np.int64)
        elif inp.name == "position_ids":
            feeds[inp.name] = np.broadcast_to(np.arange(s, dtype=np.int64), (n, s)).copy()
        elif inp.name.startswith(PAST):
            half = inp.type.tensor_type.elem_type == TensorProto.FLOAT16
            shape = (n, dims[1].dim_value, 0, dims[3].dim_value)
            feeds[inp.name] = np.zeros(shape, np.float16 if half else np.float32)
    return feeds
