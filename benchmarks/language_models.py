"""Benchmark: the embedded language models measured by the runner itself, as deployed.

    python benchmarks/language_models.py [--out outputs/bench] [--only smollm2|minilm]

Runs the real sweeps (`python -m runner -m ...`, resuming finished jobs) into --out, reads
their result.json records and prints one row per candidate, each against its goal:
  MiniLM on cpu_x86, batch 1, 32 tokens: best INT8 >= 2.0x faster than FP32, mean cosine >= 0.99.
  SmolLM2-135M, 1 thread, generation through the KV cache (prefill 128 tokens, then 64 greedy
  tokens), perplexity on contiguous held-out text, FP32 timed interleaved in every job; ONNX
  Runtime and llama.cpp (method.backend=llama_cpp, needs `make llama`) side by side. Goals for
  the default INT8 / INT4: >= 2.0x decode tokens/s at <= +1 % perplexity in <= 150 MB, and
  >= 2.5x at <= +8 % in <= 110 MB.
"""

from __future__ import annotations

import argparse
import json
import os
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
        # the defaults, and llama.cpp's F32 / Q8_0 / Q4_K_M beside them: one sweep
        [*SMOL, "precision=fp32,int8,int4", "method.backend=auto,llama_cpp"],
        [*INT4, "precision.zero_point=int"],  # MatMulNBits' integer zero points
        [*INT4, "precision.symmetric=true"],  # llama.cpp's Q4_0 rule
        [*INT4, "precision.int4_block_size=64"],
        [*INT4, "model.int8_layers=[]"],  # the lm_head at 4 bits too
        [*INT4, "precision.zero_point=int", "model.int8_layers=[lm_head,v_proj,down_proj]"],
        [*INT4, "precision.int4_algorithm=gptq"],  # 3,072 calibration tokens, lm_head 8-bit
        [*INT4, "method.backend=llama_cpp", "precision.gguf_type=Q4_0,Q4_1"],
        [*SMOL, "precision=int8", "precision.int4_block_size=64"],
    ],
}


def sweep(name: str, out: Path) -> list[dict]:
    """Run a model's sweeps (resuming finished jobs) and return their ok records."""
    recs = []
    for i, args in enumerate(SWEEPS[name]):
        target = out / name / str(i)
        cmd = [sys.executable, "-m", "runner", "-m", *args, f"hydra.sweep.dir={target}"]
        load = "/".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"$ python {' '.join(cmd[1:])}   (load average {load})", flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        got = [json.loads(p.read_text()) for p in sorted(target.glob("*/result.json"))]
        recs += [{**r, "sweep": i} for r in got]
    return [r for r in recs if r["status"] == "ok"]


def label(r: dict) -> str:
    """precision/backend and the weight-only settings that tell candidates apart."""
    d = r.get("details", {})
    out = f"{r['axes']['precision']}/{r['axes']['backend']}"
    if w := d.get("weight_only"):
        kind = "sym" if w["symmetric"] else f"{w.get('zero_point') or 'int'}-zp"
        out += f"/{w['algorithm']} b{w['block_size']} {kind}"
        out += f" 8bit:{len(d['int8_layers'])}" if d.get("int8_layers") else ""
        out += " lm_head_fp" if d.get("keep_float_layers") else ""
    if d.get("gguf_type"):
        out += f"/{d['gguf_type']}"
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
        if r["axes"]["precision"] != "fp32" or r["axes"]["backend"] == "llama_cpp":
            rows.append((r, r["generation"], r["metric"]["value"], r["speedup"], label(r)))
    for r, g, ppl, x, name in rows:
        top1 = r["metric"].get("extra", {}).get("top1_agreement", {}).get("value", 1.0)
        size = r["size_bytes"] if name != "fp32/ort_fp32" else r["baseline_size_bytes"]
        print(
            f"  {name:44s} {g['ttft_ms']:6.0f}ms {g['decode_tokens_per_s']:6.1f} {x:7.2f}x "
            f"{ppl:6.2f} {ppl / r['metric']['baseline'] - 1:+7.1%} {top1:6.3f} {size / 1e6:5.0f}"
        )
    ok = True
    for bits, goal_x, goal_ppl, goal_mb in (("int8", 2.0, 0.01, 150), ("int4", 2.5, 0.08, 110)):
        ours = [r for r in recs if r["sweep"] == 0 and r["axes"]["backend"] != "llama_cpp"]
        best = next((r for r in ours if r["axes"]["precision"] == bits), None)  # the default
        if best is None:
            continue
        mb = best["size_bytes"] / 1e6
        met = best["speedup"] >= goal_x and best["metric"]["delta_rel"] <= goal_ppl
        met = met and mb <= goal_mb
        ok = ok and met
        print(
            f"  goal: default {bits.upper()} >= {goal_x}x decode at <= +{goal_ppl:.0%} perplexity "
            f"in <= {goal_mb} MB -> {label(best)} {best['speedup']:.2f}x at "
            f"{best['metric']['delta_rel']:+.1%} in {mb:.1f} MB: {'MET' if met else 'NOT MET'}"
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
