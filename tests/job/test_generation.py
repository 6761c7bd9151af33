"""A language model timed as it generates, on decoders whose every step has a known cost.

The sessions below run on a fake clock: a step costs `per_token` seconds per token it feeds,
so each figure of the record (time to first token, decode tokens/s, per-token latency, the
decode speedup and which model it belongs to) has an exact value to check it against, counted
from what the steps were really fed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from runner.job import lm, timing
from tests.conftest import typed

VOCAB, HEADS, DIM = 11, 2, 4


@dataclass
class Clock:
    t: float = 0.0

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeDecoder:
    """A KV-cache decoder graph: feeds are recorded as (new tokens, cached tokens); the next
    token is a function of the position, so greedy decode is deterministic."""

    clock: Clock
    per_token: float
    feeds: list[tuple[int, int]] = field(default_factory=list)

    def get_inputs(self):
        kv = [f"past_key_values.0.{k}" for k in ("key", "value")]
        names = ["input_ids", "attention_mask", "position_ids", *kv]
        return [
            SimpleNamespace(name=n, shape=[1, HEADS, "past", DIM], type="tensor(float)")
            for n in names
        ]

    def run(self, names, feed):
        ids, past = feed["input_ids"], feed["past_key_values.0.key"]
        new, seen = ids.shape[1], past.shape[2]
        assert feed["attention_mask"].shape == (1, seen + new)
        assert feed["position_ids"].tolist() == [list(range(seen, seen + new))]
        self.feeds.append((new, seen))
        self.clock.t += self.per_token * new
        logits = np.zeros((1, new, VOCAB), np.float32)
        logits[0, np.arange(new), (seen + np.arange(new)) % VOCAB] = 1.0
        present = np.zeros((1, HEADS, seen + new, DIM), np.float32)
        return [logits, present, present]


PROMPT, NEW = 12, 6


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(timing.measure.time, "perf_counter", c)  # the one `time` module
    return c


def test_each_decode_step_feeds_one_token_onto_the_growing_cache(clock):
    dec = FakeDecoder(clock, per_token=0.001)
    prompt = np.arange(PROMPT)[None, :]
    g = lm.Generation(dec, prompt, NEW)
    assert dec.feeds == [(PROMPT, 0)]  # the prompt's cache, made once
    g.decode()  # the protocol's warm-up: a few steps, no step times kept
    assert dec.feeds[1:] == [(1, PROMPT + k) for k in range(g.warm_steps)] and not g.token_times
    dec.feeds.clear()
    g.decode()
    assert dec.feeds == [(1, PROMPT + k) for k in range(NEW)]  # never the prompt again
    assert g.token_times == pytest.approx([0.001] * NEW)
    dec.feeds.clear()
    g.prefill()
    assert dec.feeds == [(PROMPT, 0)]  # time to first token: the prompt from an empty cache


def _timed(clock, base_cost: float, cand_cost: float, runs: int = 3):
    cfg = typed(
        f"model.prompt_tokens={PROMPT}", f"model.new_tokens={NEW}", f"latency.session_runs={runs}"
    )
    made: list[tuple[FakeDecoder, FakeDecoder]] = []

    def fresh(run: int) -> list:
        made.append((FakeDecoder(clock, base_cost), FakeDecoder(clock, cand_cost)))
        return list(made[-1])

    record: dict = {}
    x = {"input_ids": np.arange(40)[None, :]}
    lat_base, lat, speedup, ci = timing.time_generation(cfg, record, fresh, x)
    return record, lat_base, lat, speedup, ci, made


def test_decode_figures_are_counted_from_the_tokens_really_decoded(clock):
    record, lat_base, lat, speedup, _, made = _timed(clock, base_cost=0.004, cand_cost=0.001)
    base, cand = record["baseline_generation"], record["generation"]
    for fig, cost, who in ((base, 0.004, 0), (cand, 0.001, 1)):
        decoders = [pair[who] for pair in made]
        steps = sum(new == 1 and seen >= PROMPT for d in decoders for new, seen in d.feeds)
        timed_steps = steps - len(decoders) * lm.Generation.warm_steps  # warm-up kept no times
        assert timed_steps == fig["decode_calls"] * NEW  # every timed call decoded NEW tokens
        assert fig["decode_tokens_per_s"] == pytest.approx(1 / cost)  # NEW / (NEW * cost)
        assert fig["ttft_ms"] == pytest.approx(PROMPT * cost * 1e3)
        assert fig["decode_token_p50_ms"] == pytest.approx(cost * 1e3)
        assert (fig["prompt_tokens"], fig["new_tokens"]) == (PROMPT, NEW)
    assert speedup == pytest.approx(4.0)  # candidate 4x the baseline's tokens/s, not 1/4
    assert cand["speedup_decode"] == pytest.approx(4.0)
    assert cand["speedup_prefill"] == pytest.approx(4.0)
    assert lat_base["p50_ms"] == pytest.approx(4.0) and lat["p50_ms"] == pytest.approx(1.0)
    assert lat["session_runs"] == 3 and lat["unit"] == "decode token"


def test_a_slower_candidate_reads_below_one_and_the_speed_follows_summary_lm_speed(clock):
    record, *_, speedup, _, _ = _timed(clock, base_cost=0.001, cand_cost=0.002)
    assert speedup == pytest.approx(0.5)
    assert record["generation"]["decode_tokens_per_s"] == pytest.approx(500.0)
    assert record["baseline_generation"]["decode_tokens_per_s"] == pytest.approx(1000.0)
