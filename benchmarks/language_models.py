"""Benchmark: the embedded language models measured by the runner itself, as deployed.

    python benchmarks/language_models.py [--out outputs/bench] [--only smollm2|minilm]

Runs the real sweeps (`python -m runner -m ...`, resuming finished jobs) into --out, reads
their result.json records and prints one row per candidate, each against its goal:
  MiniLM on cpu_x86, batch 1, 32 tokens: best INT8 >= 2.0x faster than FP32, mean cosine >= 0.99.
  SmolLM2-135M, 1 thread, generation through the KV cache (prefill 128 tokens, then 64 greedy
  tokens), perplexity on contiguous held-out text, FP32 timed interleaved in every job:
  best INT8 >= 2.0x decode tokens/s at <= +1 % perplexity; best INT4 >= 2.5x at <= +12 %.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINILM = ["model=minilm", "dataset=text_corpus", "method=ptq"]
SMOL = ["model=smollm2", "method=ptq"]
INT4 = [*SMOL, "precision=int4"]
SWEEPS = {
    "minilm": [
        [*MINILM, "precision=fp32,fp16,int8,int4"],
        [*MINILM, "precision=int4", "precision.int4_algorithm=hqq,gptq"],
    ],
    "smollm2": [
        [*SMOL, "precision=fp32,int8,int4"],  # the defaults: MatMulNBits INT8 and INT4
        [*SMOL, "precision=int8", "precision.accuracy_level=0"],
        [*SMOL, "precision=int8", "method.backend=ort_dynamic_int8"],
        [
            *SMOL,
            "precision=int8",
            "method.backend=torchao_int8_dynamic",
            "model.keep_float=[lm_head]",
        ],
        [*INT4, "precision.accuracy_level=0"],
        [*INT4, "precision.symmetric=true"],
        [*INT4, "precision.int4_block_size=16,64"],
        [*INT4, "precision.int4_algorithm=k_quant,hqq"],
        [*INT4, "model.int8_layers=[lm_head]", "precision.symmetric=true"],
        [*INT4, "model.keep_float=[lm_head]", "precision.symmetric=true"],
        [*INT4, "precision.int4_algorithm=gptq", "model.int8_layers=[lm_head]"],
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
    """precision/backend and the weight-only settings that tell candidates apart."""
    d = r.get("details", {})
    out = f"{r['axes']['precision']}/{r['axes']['backend']}"
    if w := d.get("weight_only"):
        out += f"/{w['algorithm']} b{w['block_size']} {'sym' if w['symmetric'] else 'asym'}"
        out += f" acc{w['accuracy_level']}"
        out += " lm_head8" if d.get("int8_layers") else ""
        out += " lm_head_fp" if d.get("keep_float_layers") else ""
    return out


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
    """One row per SmolLM2 candidate: prefill, decode, perplexity, top-1; the two goals."""
    print(
        f"  {'candidate':44s} {'prefill':>8s} {'tok/s':>6s} {'decode x':>8s} {'ppl':>6s} "
        f"{'delta':>7s} {'top-1':>6s} {'MB':>5s}"
    )
    base = recs[0]
    rows = [(base, base["baseline_generation"], base["metric"]["baseline"], 1.0, "fp32/ort_fp32")]
    for r in recs:
        if r["axes"]["precision"] != "fp32":
            rows.append((r, r["generation"], r["metric"]["value"], r["speedup"], label(r)))
    for r, g, ppl, x, name in rows:
        top1 = r["metric"].get("extra", {}).get("top1_agreement", {}).get("value", 1.0)
        size = r["size_bytes"] if name != "fp32/ort_fp32" else r["baseline_size_bytes"]
        print(
            f"  {name:44s} {g['ttft_ms']:6.0f}ms {g['decode_tokens_per_s']:6.1f} {x:7.2f}x "
            f"{ppl:6.2f} {ppl / r['metric']['baseline'] - 1:+7.1%} {top1:6.3f} {size / 1e6:5.0f}"
        )
    ok = True
    for bits, goal_x, goal_ppl in (("int8", 2.0, 0.01), ("int4", 2.5, 0.12)):
        cands = [r for r in recs if r["axes"]["precision"] == bits]
        good = [r for r in cands if r["metric"]["delta_rel"] <= goal_ppl]
        best = max(good or cands, key=lambda r: r["speedup"])
        met = best["speedup"] >= goal_x and best["metric"]["delta_rel"] <= goal_ppl
        ok = ok and met
        print(
            f"  goal: best {bits.upper()} >= {goal_x}x decode at <= +{goal_ppl:.0%} perplexity -> "
            f"{label(best)} {best['speedup']:.2f}x at {best['metric']['delta_rel']:+.1%}: "
            f"{'MET' if met else 'NOT MET'}"
        )
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench")
    p.add_argument("--only", choices=sorted(SWEEPS), help="one model's sweeps only")
    args = p.parse_args()
    ok = True
    if args.only in (None, "minilm"):
        print("MiniLM (all-MiniLM-L6-v2), cpu_x86, batch 1 x 32 tokens, 1 thread:")
        ok = minilm(sweep("minilm", args.out)) and ok
    if args.only in (None, "smollm2"):
        print(
            "SmolLM2-135M-Instruct, cpu_x86, 1 thread: prefill 128 tokens, decode 64 through the "
            "KV cache; perplexity on 2,048 contiguous tokens (window 1,024, stride 512):"
        )
        ok = smollm2(sweep("smollm2", args.out)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
