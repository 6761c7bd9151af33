"""Run a llama.cpp model (llama-cpp-python) where the pipeline expects a KV-cache graph.

`LlamaCppSession` speaks the names of the KV-cache export (runner.core.lm_graph: input_ids,
attention_mask, position_ids, past_key_values.0.key/value -> logits, present.0.*), so the job
scores and times llama.cpp with the same perplexity windows and the same prefill / decode code
as an ONNX graph. llama.cpp keeps its cache inside its context; the cache that travels through
the interface is the token ids it holds ([1, 1, tokens, 1], float32), and each call first
brings llama.cpp's cache to exactly those tokens: cut back to the longest common prefix (the
decode protocol's rewind to the prompt costs nothing) and, if it differs, the rest evaluated.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from runner.backends.torch_runtime import _Input

log = logging.getLogger(__name__)
PAST = ("past_key_values.0.key", "past_key_values.0.value")


def available() -> str | None:
    """Why llama.cpp cannot run here (the optional extra is missing), or None."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        return (
            f"llama.cpp is not installed ({exc}); install the extra with `make llama` "
            "(llama-cpp-python, built for this CPU)"
        )
    return None


class LlamaCppSession:
    """`session.run(names, feed)` for a GGUF file run by llama.cpp, batch 1, `threads` threads,
    a context of `n_ctx` tokens (the longest window or prompt plus decode)."""

    def __init__(self, path: Path, threads: int, n_ctx: int) -> None:
        from llama_cpp import Llama

        self.llm = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=min(n_ctx, 512),
            n_ubatch=min(n_ctx, 512),
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=True,  # every position's logits: perplexity windows score them all
            seed=0,
            verbose=False,
        )
        self.n_ctx = n_ctx
        past = [_Input(n, (None, 1, None, 1)) for n in PAST]
        self.inputs = [_Input("input_ids"), _Input("attention_mask"), _Input("position_ids"), *past]

    def get_inputs(self) -> list[_Input]:
        return list(self.inputs)

    def _sync(self, history: np.ndarray) -> None:
        """Make llama.cpp's cache hold exactly the tokens `history`."""
        llm, n = self.llm, len(history)
        held = np.asarray(llm.input_ids[: llm.n_tokens], np.int64)
        same = int(np.argmin(np.append(held[:n] == history[: len(held)], False)))
        llm.n_tokens = min(same, n)  # eval() drops the cache past n_tokens
        if llm.n_tokens < n:
            llm.eval(history[llm.n_tokens :].tolist())

    def run(self, _outputs: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        ids = np.asarray(feed["input_ids"], np.int64)
        if ids.shape[0] != 1:
            raise ValueError(f"llama_cpp runs batch 1; got a batch of {ids.shape[0]}")
        history = np.asarray(feed[PAST[0]], np.float32)[0, 0, :, 0].astype(np.int64)
        seen, new = len(history), ids.shape[1]
        if seen + new > self.n_ctx:
            raise ValueError(f"llama_cpp: {seen + new} tokens exceed its context of {self.n_ctx}")
        self._sync(history)
        self.llm.eval(ids[0].tolist())
        logits = np.array(self.llm.scores[seen : seen + new], np.float32)[None]
        cache = np.concatenate([history, ids[0]]).astype(np.float32)[None, None, :, None]
        return [logits, cache, cache]
