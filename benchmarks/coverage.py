"""Benchmark: does the 95 % interval cover? The issue-9 goals, simulated and measured.

    python benchmarks/coverage.py [--reps 1000] [--speed-repeats 40] [--speed-seconds 1.0]

Prints three tables:
  1. 0/1 outcomes (accuracy), n = 540, baseline 0.99: exact coverage of Tango's score interval
     (runner.stats.paired_delta_ci) summed over every (losses, gains) outcome, next to the old
     conditional-Wilson interval; and how often a true 1.52 relative % drop is called "ship".
  2. continuous outcomes (absolute errors, per-token NLL) at n = 10, 30, 134: simulated
     coverage of paired_delta_ci (paired t below 30 samples, percentile bootstrap above),
     next to the percentile bootstrap alone.
  3. speed: two ONNX Runtime sessions of one FP32 model timed against each other with the
     runner's interleaved protocol, repeated: how often speedup_ci contains 1.0.
   4. MAE at a true +1 % (issue 22): how often the verdict ships, next to dividing the
      delta's interval by the observed baseline.
   5. cosine with lognormal harm at a true 1 % drop, n = 134 (issue 22): ship rates.
   Then benchmarks/decide_rates.py's tables: decide's ship rate at a true 1 % drop with its
   evidence gathering, and after selection.
Goals: every pattern >= 0.93 (0/1, and bootstrap at n >= 30); FP32 vs itself >= 90 %;
MAE at +1 % ships <= 2.5 %; skewed cosine at n = 134 ships <= 5 %; decide <= 2.5 %, and after
selection <= 2.5 %.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.core import stats  # noqa: E402
from runner.report.verdict import Thresholds, judge_candidate  # noqa: E402

N_ACC, BASE_ACC = 540, 0.99
# (p10 = loss rate, p01 = gain rate): candidate 0.985, i.e. delta -0.5 pp, three ways
PATTERNS = {"all losses": (0.005, 0.0), "mixed 3:1": (0.0075, 0.0025), "mixed 2:1": (0.01, 0.005)}


def wilson_conditional(n10: int, n01: int, n: int) -> tuple[float, float]:
    """The interval the project used before: Wilson on the discordant pairs only."""
    d = n10 + n01
    if d == 0:
        return 0.0, 0.0
    z = 1.959963984540054
    p = n01 / d
    centre = (p + z * z / (2 * d)) / (1 + z * z / d)
    half = z * math.sqrt(p * (1 - p) / d + z * z / (4 * d * d)) / (1 + z * z / d)
    return (2 * (centre - half) - 1) * d / n, (2 * (centre + half) - 1) * d / n


def cells(p10: float, p01: float, n: int, mass: float = 1 - 1e-9):
    """(n10, n01, probability) of the trinomial, enumerated until `mass` is covered."""
    k = np.arange(n + 1)
    lg = np.vectorize(math.lgamma)
    log_fact = lg(k + 1.0)
    out = []
    for n10 in range(n + 1):
        for n01 in range(n + 1 - n10):
            rest = n - n10 - n01
            logp = log_fact[n] - log_fact[n10] - log_fact[n01] - log_fact[rest]
            logp += rest * math.log(1 - p10 - p01)
            logp += n10 * math.log(p10) if p10 else (0.0 if n10 == 0 else -math.inf)
            logp += n01 * math.log(p01) if p01 else (0.0 if n01 == 0 else -math.inf)
            if logp > -40:
                out.append((n10, n01, math.exp(logp)))
        if n10 > 10 and n10 > 4 * n * p10 + 20:
            break
    total = sum(p for *_, p in out)
    assert total > mass, f"enumerated mass {total}"
    return out


def binary_table() -> None:
    """Exact coverage of the accuracy-delta interval, and the ship rate of a 1.52 % drop."""
    print(f"1. accuracy delta, n = {N_ACC}, baseline {BASE_ACC}: exact coverage of the 95 % CI")
    print(f"{'pattern (p10, p01)':<28} {'Tango (now)':>12} {'cond. Wilson (before)':>22}")
    for name, (p10, p01) in PATTERNS.items():
        truth, cov_t, cov_w = p01 - p10, 0.0, 0.0
        for n10, n01, p in cells(p10, p01, N_ACC):
            lo, hi = stats.tango_delta_ci(n10, n01, N_ACC)
            cov_t += p * (lo <= truth <= hi)
            lo, hi = wilson_conditional(n10, n01, N_ACC)
            cov_w += p * (lo <= truth <= hi)
        print(f"{name + f' ({p10}, {p01})':<28} {cov_t:>12.3f} {cov_w:>22.3f}")
    p10 = 0.015  # candidate 0.975: a 1.52 relative % drop, between the 1 % and 3 % thresholds
    ship = {"Tango": 0.0, "cond. Wilson": 0.0}
    for n10, n01, p in cells(p10, 0.0, N_ACC):
        for label, fn in (("Tango", stats.tango_delta_ci), ("cond. Wilson", wilson_conditional)):
            lo, hi = fn(n10, n01, N_ACC)
            value = BASE_ACC + (n01 - n10) / N_ACC
            rec = {"metric": {"name": "accuracy", "value": value, "baseline": BASE_ACC,
                              "higher_is_better": True, "ci95": [lo, hi]}}  # fmt: skip
            ship[label] += p * (judge_candidate(rec, Thresholds()).label == "ship")
    shown = ", ".join(f"{k} {v:.3f}" for k, v in ship.items())
    print(f"true 1.52 relative % drop (all losses) called 'ship': {shown}\n")


def draw(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paired outcomes: absolute errors of a regressor and its noisier copy, or per-token NLL."""
    if kind == "abs error":
        err = rng.normal(0, 1, n)
        return np.abs(err), np.abs(err + rng.normal(0.05, 0.3, n))
    nll = rng.gamma(2.0, 1.5, n)
    return nll, np.maximum(nll + rng.normal(0.02, 0.4, n) + 0.05 * nll * rng.standard_normal(n), 0)


def continuous_table(reps: int) -> None:
    """Simulated coverage of paired_delta_ci on continuous outcomes at small and usual n."""
    print(f"2. continuous outcomes: coverage of the 95 % CI over {reps} simulated sweeps")
    print(f"{'outcome':<10} {'n':>4} {'method used':>18} {'coverage':>9} {'percentile boot':>16}")
    for kind in ("abs error", "nll"):
        b, c = draw(kind, 2_000_000, np.random.default_rng(99))
        truth = float((c - b).mean())
        for n in (10, 30, 134):
            rng = np.random.default_rng(n)
            hit = boot_hit = 0
            for r in range(reps):
                b, c = draw(kind, n, rng)
                lo, hi = stats.paired_delta_ci(b, c, seed=r)
                hit += lo <= truth <= hi
                lo, hi = stats._bootstrap_mean_ci(c - b, 0.95, 2000, r)
                boot_hit += lo <= truth <= hi
            used = "paired t" if n < stats.SMALL_N else "studentized boot"
            print(f"{kind:<10} {n:>4} {used:>18} {hit / reps:>9.3f} {boot_hit / reps:>16.3f}")
    print()


def _continuous_record(b: np.ndarray, c: np.ndarray, name: str, higher: bool, seed: int) -> dict:
    """The metric block the job writes for continuous outcomes (runner.job.evaluate.compare)."""
    from runner.core.continuous import continuous_fields

    value, base = float(c.mean()), float(b.mean())
    lo, hi = stats.paired_delta_ci(b, c, seed=seed)
    m = {"name": name, "higher_is_better": higher, "value": value, "baseline": base,
         "delta_abs": value - base, "ci95": [lo, hi], "n_samples": int(b.size)}  # fmt: skip
    return {"metric": {**m, **continuous_fields(b, c, higher)}}


def mae_pair(n: int, rng: np.random.Generator, rise: float = 0.01):
    """Absolute errors of a regressor and of its copy whose MAE is `rise` higher on average,
    the change additive (not proportional to each error): the case where dividing the delta's
    interval by the observed baseline ships far too often."""
    b = np.abs(rng.standard_normal(n))
    mu = rise * math.sqrt(2 / math.pi)  # rise x E|N(0, 1)|
    return b, b + rng.normal(mu, 0.25 * mu, n)


def ratio_table(reps: int) -> None:
    """Issue 22: MAE at a true +1 % (exactly on the ship line): how often it ships."""
    print(f"4. MAE at a true +1 % (the ship line): ship rate over {reps} simulated sweeps "
          "(goal <= 2.5 %)")  # fmt: skip
    print(f"{'n':>5} {'verdict now':>12} {'delta / observed baseline (before)':>36}")
    for n in (30, 134, 540):
        rng, now, before = np.random.default_rng(1000 + n), 0, 0
        for r in range(reps):
            b, c = mae_pair(n, rng)
            rec = _continuous_record(b, c, "mae", False, r)
            now += judge_candidate(rec, Thresholds()).label == "ship"
            before += rec["metric"]["ci95"][1] / b.mean() < 0.01
        print(f"{n:>5} {now / reps:>12.3f} {before / reps:>36.3f}")
    print()


def skewed_table(reps: int) -> None:
    """Issue 22: cosine to FP32 with lognormal harm, a true 1 % drop: how often it ships."""
    print(f"5. cosine with lognormal harm, true 1 % drop, n = 134: ship rate over {reps} "
          "simulated sweeps (goal <= 5 %)")  # fmt: skip
    print(f"{'sigma':>5} {'verdict now':>12} {'interval alone':>15} {'percentile (before)':>20}")
    for sigma in (1.0, 1.5):
        rng, now, alone, before = np.random.default_rng(134), 0, 0, 0
        for r in range(reps):
            b = np.ones(134)
            c = b - 0.01 * np.exp(sigma * rng.standard_normal(134) - sigma**2 / 2)
            rec = _continuous_record(b, c, "cosine_to_fp32", True, r)
            now += judge_candidate(rec, Thresholds()).label == "ship"
            alone += rec["metric"]["drop_ci95"][1] < 0.01
            before += stats._bootstrap_mean_ci(c - b, 0.95, 2000, r, expand=True)[0] > -0.01
        print(f"{sigma:>5} {now / reps:>12.3f} {alone / reps:>15.3f} {before / reps:>20.3f}")
    print("(verdict now: studentized interval and no verdict below max(30, 25 x skewness^2))\n")


def fp32_session(path: Path):
    """A small FP32 MLP as an ONNX Runtime session (1 thread), built in place (no download)
    the first time `path` is asked for, loaded from it afterwards."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    if path.is_file():
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    shapes = [(64, 512), (512, 512), (512, 10)]  # about 0.3 M multiply-adds: ~0.1 ms a call
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), f"w{i}")
             for i, s in enumerate(shapes)]  # fmt: skip
    mm, relu = "MatMul", "Relu"
    nodes = [helper.make_node(mm, ["x", "w0"], ["h0"]), helper.make_node(relu, ["h0"], ["r0"]),
             helper.make_node(mm, ["r0", "w1"], ["h1"]), helper.make_node(relu, ["h1"], ["r1"]),
             helper.make_node(mm, ["r1", "w2"], ["y"])]  # fmt: skip
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits,
    )  # fmt: skip
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path
    )
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def speed_table(repeats: int, seconds: float) -> None:
    """FP32 against itself as the pipeline times it: how often speedup_ci contains 1.0."""
    from runner.core.config import LatencyConfig
    from runner.job.measure import SESSION_RUNS, session_runner, time_models, time_runs

    cfg = LatencyConfig(warmup=20, min_runs=50, min_seconds=seconds)
    x = np.random.default_rng(1).normal(size=(1, 64)).astype(np.float32)
    hits = block_hits = 0
    widths, points, t0 = [], [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.onnx"
        fp32_session(path)

        def fresh_pair(run: int) -> list:  # made in alternating order, as the pipeline does
            pair = [session_runner(fp32_session(path), x) for _ in range(2)]
            return pair if run % 2 == 0 else pair[::-1]

        for _ in range(repeats):
            timed = time_runs(fresh_pair, cfg, SESSION_RUNS)
            lo, hi = stats.speedup_interval(*timed.rounds)
            hits += lo <= 1.0 <= hi
            widths.append(hi / lo)
            points.append(np.median(timed[0]) / np.median(timed[1]))
            one_pair = time_models(fresh_pair(0), cfg)  # blocks of one session pair only
            lo, hi = stats.speedup_interval(*one_pair.rounds)
            block_hits += lo <= 1.0 <= hi
    took = time.perf_counter() - t0
    print(f"3. speed: FP32 timed against itself, {repeats} repeats, latency.min_seconds "
          f"{seconds:g}, {SESSION_RUNS} fresh-session runs each ({took:.0f} s)")  # fmt: skip
    print(f"speedup_ci contains 1.0: {hits / repeats:.3f} (goal >= 0.90); block rounds of one "
          f"session pair instead: {block_hits / repeats:.3f}")  # fmt: skip
    print(f"median CI width hi/lo {np.median(widths):.3f}; p50 ratios "
          f"{min(points):.3f}-{max(points):.3f}")  # fmt: skip


def main() -> None:
    """Run the three tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=1000, help="simulated sweeps per n (table 2)")
    p.add_argument("--speed-repeats", type=int, default=30, help="timing repeats (table 3)")
    p.add_argument("--speed-seconds", type=float, default=1.0, help="latency.min_seconds")
    p.add_argument("--decide-reps", type=int, default=2000, help="simulated walks (decide)")
    p.add_argument("--skip-issue22", action="store_true", help="skip tables 4, 5 and decide's")
    p.add_argument("--no-speed", action="store_true", help="skip table 3 (timing, slow)")
    args = p.parse_args()
    t0 = time.perf_counter()
    binary_table()
    continuous_table(args.reps)
    if not args.skip_issue22:
        ratio_table(args.reps)
        skewed_table(args.reps)
    if not args.no_speed:
        speed_table(args.speed_repeats, args.speed_seconds)
    if not args.skip_issue22:
        print()
        from benchmarks import decide_rates

        decide_rates.main(args.decide_reps)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
