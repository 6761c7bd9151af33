"""Benchmark: the issue-4 goals for the embedded language models, measured by the runner itself.

    python benchmarks/language_models.py [--out outputs/bench]

Runs the real sweeps (`python -m runner -m ...`) into --out, reads their result.json records
and prints the figures the README quotes, each against its goal:
  MiniLM on cpu_x86, batch 1, 32 tokens: best INT8 >= 2.0x faster than FP32, mean cosine >= 0.99.
  SmolLM2-135M: best INT8 within +5 % perplexity of FP32; the better-than-RTN INT4 rounding
  removes at least a third of the perplexity increase of round-to-nearest INT4.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINILM = ["model=minilm", "dataset=text_corpus", "method=ptq"]
SMOL = ["model=smollm2", "dataset=text_corpus", "method=ptq"]
SWEEPS = {
    "minilm": [
        [*MINILM, "precision=fp32,fp16,int8,int4"],
        [*MINILM, "precision=int4", "precision.int4_algorithm=hqq,gptq"],
    ],
    "smollm2": [
        [*SMOL, "precision=fp32,int8,int4"],  # torchao INT8 (preferred), ORT INT4 RTN
        [*SMOL, "precision=int8", "method.backend=ort_dynamic_int8"],
        [*SMOL, "precision=int4", "precision.int4_algorithm=hqq,gptq"],
        [*SMOL, "precision=int4", "method.backend=torchao_int4_weight_only"],
    ],
}


def sweep(name: str, out: Path) -> list[dict]:
    """Run a model's sweeps (resuming finished jobs) and return their ok records."""
    recs = []
    for i, args in enumerate(SWEEPS[name]):
        target = out / name / str(i)
        cmd = [sys.executable, "-m", "runner", "-m", *args, f"hydra.sweep.dir={target}"]
        print(f"$ python {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        recs += [json.loads(p.read_text()) for p in sorted(target.glob("*/result.json"))]
    return [r for r in recs if r["status"] == "ok"]


def label(r: dict) -> str:
    """precision/backend[/int4 algorithm] of a record."""
    algo = r.get("details", {}).get("int4_algorithm")
    return f"{r['axes']['precision']}/{r['axes']['backend']}" + (f"/{algo}" if algo else "")


def minilm(recs: list[dict]) -> bool:
    """Print every MiniLM candidate; check the best INT8 against the goal."""
    for r in recs:
        m = r["metric"]
        nn = m.get("extra", {}).get("nn_agreement", {}).get("value")
        print(
            f"  {label(r):38s} cosine {m['value']:.4f}  NN agreement {nn:.3f}  "
            f"speedup {r['speedup']:.2f}x  p50 {r['latency']['p50_ms']:.2f} ms  "
            f"{r['size_bytes'] / 1e6:.1f} MB"
        )
    int8 = [r for r in recs if r["axes"]["precision"] == "int8"]
    best = max(int8, key=lambda r: r["speedup"])
    ok = best["speedup"] >= 2.0 and best["metric"]["value"] >= 0.99
    print(
        f"  goal: best INT8 >= 2.0x at cosine >= 0.99 -> {best['speedup']:.2f}x at "
        f"{best['metric']['value']:.4f}: {'MET' if ok else 'NOT MET'}"
    )
    return ok


def smollm2(recs: list[dict]) -> bool:
    """Print every SmolLM2 candidate; check the INT8 and INT4 goals."""
    base = recs[0]["metric"]["baseline"]
    for r in recs:
        m = r["metric"]
        print(
            f"  {label(r):38s} perplexity {m['value']:.2f} ({m['value'] / base - 1:+.1%})  "
            f"speedup {r['speedup']:.2f}x  {r['size_bytes'] / 1e6:.0f} MB  "
            f"quantized {r['quantized_fraction'] or 0:.0%}"
        )
    int8 = min(
        (r for r in recs if r["axes"]["precision"] == "int8"), key=lambda r: r["metric"]["value"]
    )
    rise8 = int8["metric"]["value"] / base - 1
    print(
        f"  goal: best INT8 within +5 % -> {label(int8)} {rise8:+.1%}: "
        f"{'MET' if rise8 <= 0.05 else 'NOT MET'}"
    )
    int4 = {
        r.get("details", {}).get("int4_algorithm"): r
        for r in recs
        if r["axes"]["backend"] == "ort_int4_matmulnbits"
    }
    rise = {k: r["metric"]["value"] - base for k, r in int4.items()}
    for k in ("hqq", "gptq"):
        removed = 1 - rise[k] / rise["rtn"] if rise["rtn"] > 0 else 0.0
        print(f"  INT4 {k} removes {removed:.0%} of round-to-nearest's perplexity increase")
    removed = 1 - rise["gptq"] / rise["rtn"] if rise["rtn"] > 0 else 0.0
    ok4 = removed >= 1 / 3
    print(
        f"  goal: calibration-aware INT4 (gptq) removes >= 1/3 of RTN's increase -> "
        f"{removed:.0%}: {'MET' if ok4 else 'NOT MET'}"
    )
    return rise8 <= 0.05 and ok4


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench")
    args = p.parse_args()
    print("MiniLM (all-MiniLM-L6-v2), cpu_x86, batch 1 x 32 tokens, 1 thread:")
    ok = minilm(sweep("minilm", args.out))
    print("SmolLM2-135M-Instruct, perplexity on 2,048 tokens (window 1,024, stride 512):")
    ok = smollm2(sweep("smollm2", args.out)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
