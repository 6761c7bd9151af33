"""runner.policy.gather through the walk: decide never ships on a point estimate. Where an
interval straddles a bar it runs the job again with more data (under an alpha-spending
design) when the data allow, and otherwise ends inconclusive with the count that would
settle it."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from runner.core.sequential import boundaries
from runner.policy import gather
from runner.policy.decide import write_outputs
from runner.policy.walk import Walker
from runner.report.verdict import Thresholds
from tests.policy.test_decide import record

TH = Thresholds()
Z = NormalDist().inv_cdf(0.975)


def lm_record(drop: float, tokens: int, sd: float = 0.2, speedup: float = 2.0, runs: int = 5,
              spread: float = 0.02) -> dict:  # fmt: skip
    """A language model's record scored on tokens - 1 tokens: perplexity 10 at FP32, `drop`
    relative, a 95 % interval of the NLL difference from a per-token sd; speed from `runs`
    timing runs with a log spread `spread`."""
    n = tokens - 1
    base, half = 10.0, Z * sd / math.sqrt(n)
    d = math.log1p(drop)
    value = base * math.exp(d)
    t_half = 2.776 * spread / math.sqrt(runs) if runs == 5 else 1.96 * spread / math.sqrt(runs)
    return {
        "status": "ok", "reason": None, "task": "language_modeling",
        "axes": {"model": "m", "dataset": "d", "precision": "int8", "method": "ptq",
                 "target": "t", "backend": "b"},
        "metric": {"name": "perplexity", "higher_is_better": False, "value": value,
                   "baseline": base, "delta_abs": value - base, "n_samples": n,
                   "ci95": [base * (math.exp(d - half) - 1), base * (math.exp(d + half) - 1)]},
        "speedup": speedup,
        "speedup_ci": [speedup * math.exp(-t_half), speedup * math.exp(t_half)],
        "latency": {"p50_ms": 1.0, "session_runs": runs}, "size_bytes": 1_000_000,
        "baseline_size_bytes": 4_000_000, "compression": 4.0, "quantized_fraction": 1.0,
        "target_budget": {}, "overrides": [],
    }  # fmt: skip


class LM:
    """A language model's jobs: each record built from the overrides it was asked for, its
    interval narrowing with the tokens scored; `most` is all the validation text has."""

    def __init__(self, drop: float, most: int = 10**9, **kw):
        self.drop, self.most, self.kw, self.calls = drop, most, kw, []

    def job(self, name, over):
        self.calls.append((name, list(over)))
        if name == "fp32_ptq":
            return lm_record(0.0, 2048)
        got = dict(o.split("=", 1) for o in over if "=" in o)
        tokens = min(int(got.get("model.eval_tokens", 2048)), self.most)
        runs = int(got.get("latency.session_runs", 5))
        return lm_record(self.drop, tokens, runs=runs, **self.kw)

    @staticmethod
    def room(rec):
        return "model.eval_tokens", 2048

    def walk(self):
        w = Walker(True, TH, self.job, lambda *a: None, lambda *a: 0.0, room=self.room)
        return w.walk([], [])


def test_a_straddling_interval_with_no_more_data_ends_inconclusive_with_a_count(tmp_path):
    """A classifier's validation split is all there is: an interval across the 1 % bar
    (drop 0.8 %, [-0.31, 1.91] %) ships nothing, and says how many samples would settle it."""
    straddles = record(0.008, ci=0.01)
    jobs = {"fp32_ptq": record(0.0, 1.0, precision="fp32"), "int8_ptq": straddles}
    w = Walker(False, TH, lambda name, over: jobs[name], None, None)
    t = w.walk([], [])
    d = t.decisions[0]
    assert d.record is None and "inconclusive" in d.why
    assert t.steps[-1].label == "inconclusive"
    # the count, computed here: sd of the per-sample difference backed out of the interval
    sd = 0.01 / 0.9 / Z * math.sqrt(5000)  # half-width 0.01 of accuracy 0.9, relative
    need = math.ceil(((Z + NormalDist().inv_cdf(0.8)) * sd / (0.01 - 0.008)) ** 2)
    assert f"about {need} validation samples" in d.why
    written = write_outputs(tmp_path, t, [], TH)
    assert not list(tmp_path.glob("recommended_*.yaml"))
    assert "provisional" not in "".join(p.read_text() for p in written if p.suffix == ".md")


def test_the_walk_runs_the_job_again_with_more_tokens_and_ships_when_settled():
    """Drop 0.3 %, per-token sd 0.12: at 2047 tokens the interval at look 1's boundary (z 4.33)
    reaches 1.45 % (straddles); the second look, 4095 tokens, clears the bar at z 2.96."""
    lm = LM(0.003, sd=0.12)
    t = lm.walk()
    names = [c[0] for c in lm.calls]
    assert names[:3] == ["fp32_ptq", "int8_ptq", "int8_ptq_look2"]
    assert "model.eval_tokens=4096" in lm.calls[2][1]
    d = {x.precision: x for x in t.decisions}["int8"]
    assert d.job == "int8_ptq_look2" and d.record["metric"]["n_samples"] == 4095
    assert "look 2" in t.steps[1].figures


def test_the_looks_stop_at_the_planned_most_and_end_inconclusive():
    """A drop just under the bar never clears it: three looks (2048, 4096, 8192 tokens),
    then inconclusive with the count, nothing shipped."""
    lm = LM(0.0095)
    t = lm.walk()
    looks = [c for c in lm.calls if c[0].startswith("int8")]
    assert [c[0] for c in looks] == ["int8_ptq", "int8_ptq_look2", "int8_ptq_look3"]
    assert "model.eval_tokens=8192" in looks[-1][1]
    d = {x.precision: x for x in t.decisions}["int8"]
    assert d.record is None and "inconclusive" in d.why and "scored tokens" in d.why


def test_text_that_runs_out_makes_its_look_the_last_and_spends_the_rest():
    lm = LM(0.0095, most=3000)
    lm.walk()
    looks = [c[0] for c in lm.calls if c[0].startswith("int8")]
    assert looks == ["int8_ptq", "int8_ptq_look2"]  # 2999 tokens < 98 % of the 4095 asked


def test_a_straddling_speed_interval_gets_more_timing_runs():
    """Metric clearly fine, speed 1.07x with a wide spread: [0.99, 1.15] straddles 1.05x."""
    lm = LM(0.0, sd=0.05, speedup=1.07, spread=0.06)
    lm.walk()
    int8 = [c for c in lm.calls if c[0].startswith("int8")]
    assert int8[1][0] == "int8_ptq_look2" and "latency.session_runs=10" in int8[1][1]
    assert not any("model.eval_tokens" in o for o in int8[1][1])  # the metric was settled


def test_each_look_is_judged_at_its_boundary():
    lm = LM(0.0095)
    rec = lm.job("int8_ptq", [])
    tr = gather.Track("model.eval_tokens", [2048], [2047], gather.SAMPLES_SPENDING, rec)
    assert tr.z == pytest.approx(boundaries([2047], 8188, final=False)[0])  # 4.33: 1 of 3
    seen = gather.judged(tr, None, rec)
    lo, hi = seen["metric"]["ci95"]
    m = rec["metric"]
    point = m["value"] - m["baseline"]
    assert (hi - point) / (m["ci95"][1] - point) == pytest.approx(tr.z / Z)
    tr.add(4096, 4095, rec)
    assert tr.z == pytest.approx(boundaries([2047, 4095], 8188, final=False)[1])
    tr.add(8192, 8191, rec)  # the third look is the last: it spends what is left
    assert tr.final and tr.z == pytest.approx(boundaries([2047, 4095, 8191], 8188)[2])


def test_only_the_shipping_side_is_widened_so_a_clear_loss_stops_at_once():
    """Drop 5 %, 95 % interval about [3.5, 6.6] %: above the 3 % bar. Widened on both sides to
    look 1's boundary it would straddle 3 % and ask for more tokens; stopping on the loss side
    ships nothing, so that side stays at 95 % and the candidate is settled: stay."""
    lm = LM(0.05, sd=0.345)
    s = gather.settle(lm.job, lm.room, "int4_ptq", [], TH)
    assert s.where == "stay" and [c[0] for c in lm.calls] == ["int4_ptq"]
    m = lm_record(0.05, 2048, sd=0.345)["metric"]
    assert m["ci95"][0] / m["baseline"] > 0.03  # its 95 % lower end: clear of the bar
