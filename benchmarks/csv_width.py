"""Benchmark: how long refusing a too-wide CSV takes, and the memory it costs.

    python benchmarks/csv_width.py [--columns 150000] [--name-width 100]

Writes a CSV of one header row and one data row into a temporary folder (150,000 columns of
100-character names: a 15 MB header, past the 4 MiB the pre-check reads), then times
runner.datasets.tabular.read on it in this process and prints the seconds, the growth of the
peak RSS (importing pandas is part of it) and the refusal. Run it in a fresh process each time.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--columns", type=int, default=150_000)
    p.add_argument("--name-width", type=int, default=100)
    args = p.parse_args()
    from runner.core.config import DatasetConfig
    from runner.datasets.tabular import read

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        with open(path, "w") as f:  # column by column: the peak RSS stays the reader's
            for i in range(args.columns):
                f.write(f"{',' if i else ''}c{i:0{args.name_width}d}")
            f.write("\n" + ",".join("1" * args.columns) + "\n")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        try:
            read(DatasetConfig(name="csv", path=str(path)))
            said = "read (not refused)"
        except ValueError as exc:
            said = str(exc).replace(str(path), "wide.csv")
        took = time.perf_counter() - t0
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"{took:.2f} s, peak RSS +{grew:.0f} MB: {said}")


if __name__ == "__main__":
    main()
