"""Language-model scoring and greedy decoding on a fake KV-cache decoder whose logits are a
known table: every NLL and every top-1 token is checked against a log-softmax computed here,
and every greedy token against a loop over the table (no cache, no runner code)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from runner.job import lm

VOCAB, HEADS, DIM = 7, 2, 3
RNG = np.random.default_rng(5)
TABLE = RNG.normal(size=(VOCAB, VOCAB)).astype(np.float32)  # logits after token t: TABLE[t]
SHIFT = 0.25  # plus SHIFT x position on token (position % VOCAB): the cache's length matters


def table_logits(token: int, position: int) -> np.ndarray:
    row = TABLE[token].astype(np.float64).copy()
    row[position % VOCAB] += SHIFT * position
    return row


class FakeLM:
    """A KV-cache decoder graph: logits of each new token from TABLE and its position."""

    def __init__(self):
        self.feeds: list[tuple[int, int]] = []
        self.fed: list[list[int]] = []

    def get_inputs(self):
        kv = [f"past_key_values.0.{k}" for k in ("key", "value")]
        return [
            SimpleNamespace(name=n, shape=[1, HEADS, "past", DIM], type="tensor(float)")
            for n in ["input_ids", "attention_mask", "position_ids", *kv]
        ]

    def run(self, names, feed):
        ids, past = feed["input_ids"], feed["past_key_values.0.key"]
        new, seen = ids.shape[1], past.shape[2]
        assert ids.shape[0] == past.shape[0] == 1  # one sequence, its own cache
        self.feeds.append((new, seen))
        self.fed.append(ids[0].tolist())
        logits = np.stack([table_logits(int(t), seen + i) for i, t in enumerate(ids[0])])
        present = np.zeros((1, HEADS, seen + new, DIM), np.float32)
        return [logits[None].astype(np.float32), present, present]


def log_softmax(row: np.ndarray) -> np.ndarray:
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


def test_each_window_is_scored_from_an_empty_cache_against_a_log_softmax():
    ids = RNG.integers(0, VOCAB, size=(3, 9))
    fake = FakeLM()
    out = lm.window_scores(fake, {"input_ids": ids}, progress=False)
    assert out.shape == (3, 8, 2) and out.dtype == np.float32
    assert fake.feeds == [(9, 0)] * 3  # one pass per window, from an empty cache
    for w in range(3):
        for p in range(8):
            row = np.asarray(table_logits(int(ids[w, p]), p), np.float32).astype(np.float64)
            assert out[w, p, 0] == pytest.approx(-log_softmax(row)[ids[w, p + 1]], rel=1e-5)
            assert out[w, p, 1] == int(np.argmax(row))


def expected_greedy(prompt: np.ndarray, n: int) -> list[int]:
    """The next token: argmax of the last token's logits at its position, n times."""
    out, token, position = [], int(prompt[0, -1]), prompt.shape[1] - 1
    for _ in range(n):
        token = int(np.argmax(np.float32(table_logits(token, position))))
        out.append(token)
        position += 1
    return out


def test_greedy_continues_through_the_cache_one_token_at_a_time():
    prompt = np.array([[3, 1, 4, 1, 5]])
    fake = FakeLM()
    got = lm.greedy(fake, prompt, 6)
    expected = expected_greedy(prompt, 6)
    assert got.tolist() == expected and got.dtype == np.int64
    assert fake.feeds == [(5, 0)] + [(1, 5 + k) for k in range(5)]


def test_timed_decode_steps_feed_the_greedy_continuation():
    prompt = np.array([[2, 6, 0, 3]])
    fake = FakeLM()
    g = lm.Generation(fake, prompt, 5)
    g.decode()  # warm-up
    fake.fed.clear()
    g.decode()
    assert fake.fed == [[t] for t in expected_greedy(prompt, 5)]  # each the last one's argmax


def test_the_prompt_is_the_first_tokens_of_the_first_window_and_refuses_padding():
    x = {"input_ids": np.arange(20).reshape(2, 10)}
    assert lm.prompt_of(x, 4).tolist() == [[0, 1, 2, 3]]
    assert lm.prompt_of(x, 1).tolist() == [[0]]  # a one-token prompt is a prompt
    assert lm.prompt_of(x, 10).tolist() == [list(range(10))]
    mask = np.array([[1] * 5 + [0] * 4, [1] * 9])  # the first window: 6 real tokens
    assert lm.prompt_of(x, 6, mask).shape == (1, 6)
    for bad, real in ((7, 6), (0, 6), (11, 10)):
        with pytest.raises(
            ValueError, match=f"prompt_tokens={bad} must be between 1 and the {real}"
        ):
            lm.prompt_of(x, bad, mask if real == 6 else None)


def test_generation_figures_from_hand_timed_calls():
    figures = lm.generation_figures(
        prefill_s=[0.030, 0.010, 0.020],  # median 20 ms
        decode_s=[0.5, 0.3, 0.4, 0.6],  # median 0.45 s for 9 tokens: 20 tokens/s
        token_s=[0.01 * k for k in range(1, 11)],  # 10 .. 100 ms
        gen={"prompt_tokens": 12, "new_tokens": 9},
    )
    assert figures == {
        "prompt_tokens": 12,
        "new_tokens": 9,
        "ttft_ms": pytest.approx(20.0),
        "decode_tokens_per_s": pytest.approx(20.0),
        "decode_token_p50_ms": pytest.approx(55.0),  # numpy's linear percentile of 10..100
        "decode_token_p90_ms": pytest.approx(91.0),
        "prefill_calls": 3,
        "decode_calls": 4,
    }
