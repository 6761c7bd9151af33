"""GPU check: run the whole CUDA path and print what was verified (on a machine with a GPU).

    python benchmarks/gpu_check.py [--out DIR] [--budget-s 300]

Runs digits_cnn and MiniLM at fp32 / fp16 / int8 (PTQ) on `target=cuda` through the real
command line, then checks every record: the job is ok, its candidate loads with the CUDA
execution provider actually active (ONNX Runtime falls back to the CPU silently when the CUDA
libraries are missing), the metric is close to the FP32 baseline, and the latency is timed.
Needs onnxruntime-gpu (same version as onnxruntime in pyproject.toml) instead of onnxruntime.
Exit status 0 when everything was verified, 1 otherwise, 2 when there is no CUDA provider.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Metric checks: the largest relative drop each precision may show and still count as working.
MAX_DROP = {"fp32": 0.001, "fp16": 0.01, "int8": 0.05}
FAST = ["latency.warmup=10", "latency.min_runs=30", "latency.min_seconds=0.5"]


def _providers() -> list[str]:
    import onnxruntime as ort

    return ort.get_available_providers()


def _sweep(out: Path, model: str, budget_s: float) -> subprocess.CompletedProcess:
    """One sweep of fp32/fp16/int8 PTQ on the cuda target (ONNX Runtime backends only)."""
    cmd = [
        sys.executable, "-m", "runner", "-m", f"model={model}", "precision=fp32,fp16,int8",
        "method=ptq", "target=cuda", f"hydra.sweep.dir={out / model}",
        f"cache_dir={out / 'cache'}", *FAST,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=budget_s)


def _check(rec: dict, job_dir: Path) -> list[str]:
    """What is wrong with one cuda record (empty when verified)."""
    from runner.core.config import TargetConfig
    from runner.targets import make_session

    a = rec["axes"]
    if rec["status"] != "ok":
        return [f"{a['model']} {a['precision']}: {rec['status']} - {rec['reason']}"]
    bad = []
    cfg = TargetConfig(name="cuda", provider="CUDAExecutionProvider", prefer_providers=[])
    active = make_session(job_dir / rec["artifact"], cfg).get_providers()
    if active[0] != "CUDAExecutionProvider":
        bad.append(f"{a['model']} {a['precision']}: session runs on {active}, not CUDA")
    m = rec["metric"]
    drop = (m["baseline"] - m["value"]) / abs(m["baseline"]) if m["higher_is_better"] else 0.0
    if drop > MAX_DROP[a["precision"]]:
        bad.append(f"{a['model']} {a['precision']}: {m['name']} drops {drop:.2%}")
    if not rec["latency"] or rec["latency"]["p50_ms"] <= 0:
        bad.append(f"{a['model']} {a['precision']}: no latency")
    return bad


def main(argv: list[str] | None = None) -> int:
    """Run the sweeps, check each record, print one line per verified fact."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu_check")
    p.add_argument("--budget-s", type=float, default=300.0, help="the whole check's time limit")
    args = p.parse_args(argv)
    have = _providers()
    print(f"onnxruntime providers: {', '.join(have)}")
    if "CUDAExecutionProvider" not in have:
        print("FAIL: no CUDAExecutionProvider: install onnxruntime-gpu on a CUDA host")
        return 2
    start, problems = time.perf_counter(), []
    for model in ("digits_cnn", "minilm"):
        left = args.budget_s - (time.perf_counter() - start)
        done = _sweep(args.out, model, max(left, 1.0))
        if done.returncode != 0:
            problems.append(f"{model} sweep exited {done.returncode}: {done.stderr[-500:]}")
            continue
        for path in sorted((args.out / model).glob("*/result.json")):
            rec = json.loads(path.read_text())
            bad = _check(rec, path.parent)
            problems += bad
            if not bad:
                m, lat = rec["metric"], rec["latency"]
                print(
                    f"ok: {model} {rec['axes']['precision']} [{rec['axes']['backend']}] on "
                    f"CUDA ({', '.join(rec['details']['target']['providers'])}): "
                    f"{m['name']} {m['value']:.4f} vs {m['baseline']:.4f}, "
                    f"p50 {lat['p50_ms']:.3f} ms, speedup {rec['speedup']:.2f}x"
                )
    took = time.perf_counter() - start
    print(f"took {took:.0f} s (budget {args.budget_s:.0f} s)")
    for line in problems:
        print(f"FAIL: {line}")
    return 1 if problems or took > args.budget_s else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
