"""Causal language models as they are deployed: scored and timed through their KV cache.

The same graph (runner.core.lm_graph) is scored and timed:
- perplexity: strided windows over contiguous text, each window one forward pass from an empty
  cache, every token after the first scored exactly once (Hugging Face's strided recipe);
- generation: prefill of a prompt (time to first token), then greedy decode one token at a
  time through the cache (decode tokens/s), as llama.cpp's pp / tg figures are measured.

The perplexity interval is over blocks of consecutive scored tokens, not tokens: neighbouring
tokens of one text are not independent draws (nll_delta_ci).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runner.core.lm_graph import KVGraph, log_softmax_pick

BLOCK_TOKENS = 128  # scored tokens per block of the perplexity interval


def block_means(x: np.ndarray, block: int = BLOCK_TOKENS) -> np.ndarray:
    """Means of consecutive blocks of about `block` values (len(x) // block blocks, sizes
    differing by at most one, every value in one block)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    blocks = max(1, len(x) // block)
    return np.array([b.mean() for b in np.array_split(x, blocks)])


def nll_delta_ci(
    base: np.ndarray, cand: np.ndarray, block: int = BLOCK_TOKENS, confidence: float = 0.95
) -> tuple[tuple[float, float], int]:
    """The interval of mean(cand - base) per-token NLL, and the number of blocks it rests on:
    the paired interval (runner.core.stats.paired_delta_ci: a t interval under 30 blocks, the
    expanded percentile bootstrap from 30) of the block means of consecutive scored tokens,
    so the tokens' dependence within a text widens it as it should. Fewer than two blocks:
    the per-token interval."""
    from runner.core.stats import paired_delta_ci

    b, c = np.asarray(base, np.float64), np.asarray(cand, np.float64)
    if len(b) // block < 2:
        return paired_delta_ci(b, c, confidence=confidence), len(b)
    bb, cb = block_means(b, block), block_means(c, block)
    return paired_delta_ci(bb, cb, confidence=confidence), len(bb)


def window_scores(session: Any, x: dict[str, np.ndarray], progress: bool = True) -> np.ndarray:
    """Per position of each window [W, window - 1, 2]: the NLL of the next token, and the
    token the model ranks first there (for top-1 agreement with the baseline).

    Each window is one forward pass from an empty cache: the graph that is timed is the graph
    that is scored.
    """
    from tqdm import tqdm

    graph, ids = KVGraph(session), x["input_ids"]
    out = np.zeros((len(ids), ids.shape[1] - 1, 2), np.float32)
    bar = tqdm(
        range(len(ids)), desc="perplexity windows", leave=False, disable=None if progress else True
    )
    for w in bar:  # disable=None: a bar on a terminal only, never mixed into a captured log
        logits, _ = graph.step(ids[w : w + 1], graph.empty())
        nll, top = log_softmax_pick(logits[0, :-1], ids[w, 1:])
        out[w, :, 0], out[w, :, 1] = nll, top
    return out


def greedy(session: Any, prompt: np.ndarray, new_tokens: int) -> np.ndarray:
    """Greedy continuation of a prompt [1, P] through the KV cache: the new token ids."""
    graph = KVGraph(session)
    logits, past = graph.step(prompt, graph.empty(len(prompt)))
    tokens = [int(logits[0, -1].argmax())]
    for _ in range(new_tokens - 1):
        logits, past = graph.step(np.array([[tokens[-1]]]), past)
        tokens.append(int(logits[0, -1].argmax()))
    return np.array(tokens, np.int64)


@dataclass
class Generation:
    """Timed calls of one graph: prefill of the prompt, and greedy decode from its cache.

    `prefill()` runs the prompt from an empty cache (time to first token). `decode()` runs
    `new_tokens` greedy steps from the prompt's cache, which is made once and reused so every
    call does the same work; each step's wall time is appended to `token_times` (per-token
    percentiles). The first decode call is the timing protocol's warm-up: it runs only
    `warm_steps` steps (enough to warm the kernels) and keeps no step times.
    """

    session: Any
    prompt: np.ndarray
    new_tokens: int
    token_times: list[float] = field(default_factory=list)
    warm_steps: int = 4

    def __post_init__(self) -> None:
        self.graph = KVGraph(self.session)
        logits, self.cache = self.graph.step(self.prompt, self.graph.empty(len(self.prompt)))
        self.first = np.array([[int(logits[0, -1].argmax())]], np.int64)
        self.warm = True

    def prefill(self) -> None:
        self.graph.step(self.prompt, self.graph.empty(len(self.prompt)))

    def decode(self) -> None:
        past, token = self.cache, self.first
        warm, self.warm = self.warm, False
        for _ in range(min(self.warm_steps, self.new_tokens) if warm else self.new_tokens):
            t0 = time.perf_counter()
            logits, past = self.graph.step(token, past)
            token = logits[:, -1].argmax(axis=-1).reshape(-1, 1)
            if not warm:
                self.token_times.append(time.perf_counter() - t0)


def generation_figures(
    prefill_s: list[float], decode_s: list[float], token_s: list[float], gen: dict[str, int]
) -> dict[str, float | int]:
    """The record's generation block from timed prefill calls, decode calls and decode steps."""
    tokens = np.asarray(token_s) * 1e3
    return {
        "prompt_tokens": gen["prompt_tokens"],
        "new_tokens": gen["new_tokens"],
        "ttft_ms": float(np.median(prefill_s) * 1e3),
        "decode_tokens_per_s": gen["new_tokens"] / float(np.median(decode_s)),
        "decode_token_p50_ms": float(np.percentile(tokens, 50)),
        "decode_token_p90_ms": float(np.percentile(tokens, 90)),
        "prefill_calls": len(prefill_s),
        "decode_calls": len(decode_s),
    }


def prompt_of(x: dict[str, np.ndarray], tokens: int, mask: np.ndarray | None = None) -> np.ndarray:
    """The timing prompt [1, tokens]: the first tokens of the validation stream. `mask` (the
    windows' scoring mask) tells real tokens from the padding of a short final window."""
    ids = x["input_ids"][0]
    real = len(ids) if mask is None else int(np.asarray(mask)[0].sum()) + 1
    if tokens < 1 or tokens > real:
        raise ValueError(
            f"model.prompt_tokens={tokens} must be between 1 and the {real} tokens of the first "
            "evaluation window; set model.prompt_tokens lower or use a longer text"
        )
    return np.ascontiguousarray(ids[None, :tokens])


def runners(gens: list[Generation]) -> list[Callable[[], object]]:
    """Prefill calls of every model, then decode calls of every model (time_models order)."""
    return [g.prefill for g in gens] + [g.decode for g in gens]
