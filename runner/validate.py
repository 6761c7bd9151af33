"""`python -m runner.validate --model M --data D > a.json`: one model, measured on your data.

The validate half of validate-then-compare: an ONNX file, a TorchScript file or a state_dict
(with --arch) is evaluated on an image folder or a csv/jsonl file, all of it as validation
data, and timed, by the pipeline's validate mode (runner.job.pipeline.validate: the code that
scores and times a sweep's baseline), and its result record is printed on stdout.
`python -m runner.compare a.json b.json` reads two of them; with `--outcomes FILE.npz` the
per-sample outcomes are kept, so two models validated on the same data get a paired CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any


def data_kind(path: str) -> str:
    """The dataset loader a path calls for: a folder of class folders, or a table file."""
    p = Path(path)
    if p.is_dir():
        return "imagefolder"
    if p.suffix.lower() in (".jsonl", ".json"):
        return "jsonl"
    if p.suffix.lower() == ".csv":
        return "csv"
    if not p.exists():
        raise ValueError(f"--data {path} does not exist; give an image folder, a .csv or a .jsonl")
    raise ValueError(f"--data {path}: expected an image folder, a .csv or a .jsonl file")


def config(args: argparse.Namespace, cache_dir: Path) -> Any:
    """The job's typed config: the project's defaults for the model source and data kind,
    with the command line's values; every sample is validation data (no train or
    calibration share)."""
    from runner.core.compose import compose

    source = "onnx_file" if Path(args.model).suffix.lower() == ".onnx" else "torch_file"
    cfg, _ = compose([f"model={source}", f"dataset={data_kind(args.data)}"])
    model = replace(
        cfg.model, task=args.task, path=args.model, arch=args.arch, trust_pickle=args.trust_pickle
    )
    data = replace(
        cfg.dataset,
        path=args.data,
        task=args.task,
        train_fraction=0.0,
        calib_fraction=0.0,
        image_size=args.image_size,
        grayscale=args.grayscale,
        invert=args.invert,
        scale=args.scale,
        mean=args.mean,
        std=args.std,
        label_column=args.label_column,
        feature_columns=args.features.split(",") if args.features else None,
    )
    target = replace(cfg.target, provider=args.provider, threads=args.threads, batch=args.batch)
    latency = replace(
        cfg.latency,
        warmup=args.warmup,
        min_runs=args.min_runs,
        min_seconds=args.min_seconds,
        memory_probe=args.memory,
    )
    return replace(
        cfg, model=model, dataset=data, target=target, latency=latency, cache_dir=str(cache_dir)
    )


def outcomes_path(given: str) -> Path:
    """Where --outcomes writes: a plain file name in an existing folder, through the writer
    (no symlink followed; the folder is the output root). ValueError (one line) otherwise."""
    from runner.core.writer import Writer

    path = Path(given).absolute()  # not resolve(): a symlink there must not be followed
    if not path.parent.is_dir():
        raise ValueError(f"--outcomes {given}: its folder does not exist; create it")
    try:
        out = Writer(path.parent, create=False)
    except OSError as exc:
        raise ValueError(f"--outcomes {given}: {exc}") from None
    if out.name(path.name) != path.name or path.is_symlink():
        raise ValueError(f"--outcomes {given}: give a plain file name that is not a symlink")
    return out.path(path.name)


def validate(args: argparse.Namespace) -> dict[str, Any]:
    """The result record of one model on all of the data (ValueError: one-line input error)."""
    from runner.job import pipeline

    outcomes = outcomes_path(args.outcomes) if args.outcomes else None
    with tempfile.TemporaryDirectory(prefix="validate-") as tmp:  # no cache left behind
        cfg = config(args, Path(tmp))
        rec = pipeline.validate(cfg, list(args.argv), outcomes)
    rec["axes"]["model"], rec["axes"]["dataset"] = Path(args.model).name, Path(args.data).name
    rec["artifact"] = str(Path(args.model).resolve())
    if cfg.dataset.name == "imagefolder":  # class i is the i-th folder: say which they were
        from runner.datasets.imagefolder import class_files

        rec["details"]["classes"] = class_files(cfg.dataset.path)[0]
    return rec


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
    a("--memory", action="store_true", help="also measure peak memory (a fresh process)")
    a("--outcomes", help="also write the per-sample outcomes here (.npz), for runner.compare")
    return p


# The config keys an error may name, as this command's flags (its user never typed the keys).
FLAGS = {
    "model.path": "--model",
    "dataset.path": "--data",
    "model.arch": "--arch",
    "model.trust_pickle=true": "--trust-pickle",
    "model.trust_pickle": "--trust-pickle",
    "dataset.image_size": "--image-size",
    "dataset.grayscale=true": "--grayscale",
    "dataset.grayscale=false": "--rgb",
    "dataset.grayscale": "--grayscale/--rgb",
    "dataset.label_column": "--label-column",
    "dataset.feature_columns": "--features",
    "target.batch": "--batch",
}


def as_flags(message: str) -> str:
    """An error message with the config keys it names written as this command's flags."""
    for key, flag in FLAGS.items():
        message = message.replace(f"{key}=", f"{flag} ").replace(key, flag)
    return message


def main(argv: list[str] | None = None) -> int:
    """CLI: print the record as JSON; exit 2 with a one-line error on bad input."""
    from runner.core.safe_io import console_logging, printable

    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    args.argv = argv
    console_logging()
    try:
        record = validate(args)
    except ValueError as exc:
        print(printable(f"error: {as_flags(str(exc))}"), file=sys.stderr)
        return 2
    print(json.dumps(record, indent=2, default=str))  # JSON escapes every control character
    return 0


if __name__ == "__main__":
    sys.exit(main())
