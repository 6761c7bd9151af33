"""`python -m runner.validate --model M --data D > a.json`: one model, measured on your data.

The validate half of validate-then-compare: evaluates an ONNX file, a TorchScript file or a
state_dict (with --arch) on an image folder or a csv/jsonl file, all of it as validation data,
times it with the sweep's latency protocol, and prints a result record (schema_version 1) on
stdout. `python -m runner.compare a.json b.json` reads two of them; with `--outcomes FILE.npz`
the per-sample outcomes are kept, so two models validated on the same data get a paired CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import DatasetConfig, LatencyConfig, ModelConfig, TargetConfig
from runner.models import existing_file

log = logging.getLogger(__name__)
WIDTHS = {32: "fp32", 16: "fp16", 8: "int8", 4: "int4"}


def data_kind(path: str) -> str:
    """The dataset loader a path calls for: a folder of class folders, or a table file."""
    p = Path(path)
    if p.is_dir():
        return "imagefolder"
    if p.suffix.lower() in (".jsonl", ".json"):
        return "jsonl"
    if p.suffix.lower() == ".csv":
        return "csv"
    raise ValueError(f"--data {path}: expected an image folder, a .csv or a .jsonl file")


def configs(args: argparse.Namespace) -> tuple[ModelConfig, DatasetConfig]:
    """The model and dataset configs the loaders take, from the command line."""
    is_onnx = Path(args.model).suffix.lower() == ".onnx"
    model = ModelConfig(
        name="onnx_file" if is_onnx else "torch_file",
        task=args.task,
        path=args.model,
        arch=args.arch,
        trust_pickle=args.trust_pickle,
    )
    data = DatasetConfig(
        name=data_kind(args.data),
        path=args.data,
        task=args.task,
        image_size=args.image_size,
        grayscale=args.grayscale,
        invert=args.invert,
        scale=args.scale,
        mean=args.mean,
        std=args.std,
        label_column=args.label_column,
        feature_columns=args.features.split(",") if args.features else None,
    )
    if is_onnx and data.name == "imagefolder":  # fill in what the model expects
        from runner.models.onnx_file import fill_image_settings, image_input, read_onnx

        onnx_model = read_onnx(existing_file(args.model, "an .onnx file"))
        fill_image_settings(data, image_input(onnx_model))
    return model, data


def read_all(cfg: DatasetConfig) -> tuple[Any, dict[str, Any]]:
    """Every sample as validation data: (Splits, details)."""
    from runner.datasets import Splits, imagefolder, tabular

    if cfg.name == "imagefolder":
        x, y, classes = imagefolder.read(cfg)
        n_cls, details = len(classes), {"classes": classes}
    else:
        x, y, n_cls = tabular.read(cfg, cfg.name)
        details = {}
    return Splits(x, y, x, x, y, num_classes=n_cls), details


def weight_precision(path: Path) -> tuple[str, dict[int, int]]:
    """What the weights are stored as ('fp32', 'int8', 'mixed', ...) and elements per width."""
    import onnx

    from runner.core.onnx_utils import storage_bits

    bits = storage_bits(onnx.load(str(path)))
    if len(bits) == 1:
        return WIDTHS.get(next(iter(bits)), "other"), bits
    return ("mixed" if bits else "unknown"), bits


def metric_block(task: str, out: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The record's metric: the model is its own reference (delta 0), plus the value's CI."""
    from runner.core.stats import mean_ci
    from runner.job import evaluate

    block = evaluate.compare(task, out, out, y)
    lo, hi = mean_ci(out)
    block.update(ci95=None, delta_rel=0.0, value_ci95=[lo, hi])
    if "extra" in block:
        block["extra"] = {k: v["value"] for k, v in block["extra"].items()}
    return block


def measure_model(args: argparse.Namespace, cfg: ModelConfig, splits: Any) -> dict[str, Any]:
    """Load, evaluate and time the model: outcomes, latency, size and weight storage."""
    from runner.core import registry
    from runner.core.onnx_utils import baseline_onnx, model_size
    from runner.job import evaluate, measure
    from runner.targets import make_session

    target = TargetConfig(name="cpu", provider=args.provider, threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = registry.get("model", cfg.name)(cfg, splits, Path(tmp))
        path = baseline_onnx(model, Path(tmp) / "model.onnx")
        session = make_session(path, target)
        t0 = time.perf_counter()
        out = evaluate.outcomes(args.task, evaluate.predict(session, splits.x_val), splits.y_val)
        eval_s = time.perf_counter() - t0
        sample = np.ascontiguousarray(splits.x_val[: args.batch])
        lat = LatencyConfig(args.warmup, args.min_runs, args.min_seconds, memory_probe=False)
        (times,) = measure.time_models([measure.session_runner(session, sample)], lat)
        precision, bits = weight_precision(path)
        size = model_size(Path(args.model) if cfg.name == "onnx_file" else path)
    return {
        "fingerprint": model.fingerprint,
        "outcomes": out,
        "eval_s": round(eval_s, 3),
        "latency": measure.latency_stats(times, args.batch, args.threads),
        "precision": precision,
        "weight_bits": {str(k): v for k, v in bits.items()},
        "size_bytes": size,
    }


def record(args: argparse.Namespace, splits: Any, m: dict[str, Any]) -> dict[str, Any]:
    """The result record (schema_version 1): the model is its own reference."""
    from runner.core import record as results

    key = [m["fingerprint"], splits.fingerprint(), args.task, args.provider, args.threads]
    out = m["outcomes"]
    return {
        "schema_version": results.SCHEMA_VERSION,
        "run_key": hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16],
        "status": "ok",
        "reason": None,
        "axes": {
            "model": Path(args.model).name,
            "dataset": Path(args.data).name,
            "precision": m["precision"],
            "method": "validate",
            "target": args.provider,
            "backend": "onnxruntime",
        },
        "task": args.task,
        "metric": metric_block(args.task, out, splits.y_val),
        "outcomes": summary(out),
        "n_samples": int(len(out)),
        "latency": m["latency"],
        "speedup": 1.0,  # its own reference: delta 0, speedup and compression 1
        "size_bytes": m["size_bytes"],
        "compression": 1.0,
        "quantized_fraction": None,
        "peak_rss_bytes": None,
        "timings": {"quantize_s": None, "eval_s": m["eval_s"], "total_s": None},
        "env": results.environment(),
        "artifact": str(Path(args.model).resolve()),
        "outcomes_file": None,
        "overrides": list(args.argv),
        "details": {"weight_bits": m["weight_bits"]},
    }


def validate(args: argparse.Namespace) -> dict[str, Any]:
    """Load, evaluate and time one model on all of the data; the result record."""
    started = time.perf_counter()
    mcfg, dcfg = configs(args)
    splits, details = read_all(dcfg)
    if not 1 <= args.batch <= len(splits.x_val):
        raise ValueError(f"--batch {args.batch} must be between 1 and {len(splits.x_val)}")
    m = measure_model(args, mcfg, splits)
    rec = record(args, splits, m)
    rec["details"].update(details)
    if args.outcomes:  # baseline = candidate: runner.compare pairs two models' candidates
        dst = Path(args.outcomes).resolve()
        dst.parent.mkdir(parents=True, exist_ok=True)
        np.savez(dst, baseline=m["outcomes"], candidate=m["outcomes"])
        rec["outcomes_file"] = str(dst)
    rec["timings"]["total_s"] = round(time.perf_counter() - started, 3)
    return rec


def summary(out: np.ndarray) -> dict[str, float]:
    """Per-sample outcomes in a few numbers (1/0 correctness, or absolute errors)."""
    q = np.percentile(out, [50, 90])
    return {
        "mean": float(out.mean()),
        "std": float(out.std()),
        "min": float(out.min()),
        "p50": float(q[0]),
        "p90": float(q[1]),
        "max": float(out.max()),
    }


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m runner.validate", description=__doc__)
    a = p.add_argument
    a("--model", required=True, help=".onnx, TorchScript (.pt), or a state_dict with --arch")
    a("--data", required=True, help="image folder (DIR/<class>/*.png), .csv or .jsonl file")
    a("--task", default="classification", choices=["classification", "regression"])
    a("--arch", help="registered architecture of a state_dict (digits_cnn, diabetes_mlp)")
    a("--trust-pickle", action="store_true", help="allow a pickle or TorchScript (code)")
    a("--image-size", type=int, nargs=2, metavar=("H", "W"), help="default: the ONNX input")
    a("--grayscale", action="store_true", default=None, help="default: the ONNX input's C")
    a("--rgb", dest="grayscale", action="store_false")
    a("--invert", action="store_true", help="255 - pixel (dark ink on light paper)")
    a("--scale", type=float, default=255.0, help="pixel / scale (255: [0, 1])")
    a("--mean", type=float, nargs="+", default=[0.0], help="per channel, after scale")
    a("--std", type=float, nargs="+", default=[1.0], help="per channel, after scale")
    a("--label-column", default="label")
    a("--features", help="comma-separated feature columns (default: all but the label)")
    a("--provider", default="CPUExecutionProvider")
    a("--threads", type=int, default=1)
    a("--batch", type=int, default=1, help="batch size of the latency measurement")
    a("--warmup", type=int, default=20)
    a("--min-runs", type=int, default=50)
    a("--min-seconds", type=float, default=2.0)
    a("--outcomes", help="also write the per-sample outcomes here (.npz), for runner.compare")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI: print the record as JSON; exit 2 with a one-line error on bad input."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        record = validate(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
