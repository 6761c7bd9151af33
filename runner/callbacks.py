"""Hydra callback: summarize a sweep when the multirun ends, and remember how its jobs ended.

Jobs never raise (the pipeline records failures in result.json), so Hydra reaches
`on_multirun_end` even when some jobs failed; `python -m runner.summarize DIR` does the same
work by hand for a sweep that was interrupted. The command line (`runner.__main__.cli`) asks
`failed_jobs()` afterwards and exits 1 when any job failed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)
LAST: dict[str, Any] = {}  # the multirun that just ended in this process: sweep_dir, jobs


class SummarizeOnMultirunEnd(Callback):
    """Write summary.md/csv, pareto.png and recommended.yaml into the sweep directory."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from runner.core.safe_io import printable
        from runner.recipes.export import summarize_sweep
        from runner.report.verdict import Thresholds

        sweep_dir = Path(config.hydra.sweep.dir)
        LAST.clear()
        LAST["sweep_dir"] = sweep_dir
        s = config.summary
        try:
            th = Thresholds(s.ship_below, s.qat_below, min_speedup=s.min_speedup)
            summary = summarize_sweep(sweep_dir, objective=s.objective, thresholds=th)
        except Exception:  # noqa: BLE001 - the results are on disk whatever happens here
            log.exception("summary failed; run `python -m runner.summarize %s`", sweep_dir)
            return
        print(printable(summary.text))
        try:  # one W&B run for the whole sweep; W&B never fails the sweep
            from runner.report.tracking import log_sweep, tracking_config

            log_sweep(tracking_config(config.tracking), sweep_dir, summary)
        except Exception as exc:  # noqa: BLE001
            log.warning("tracking: W&B summary run skipped (%s)", exc)


def failed_jobs() -> list[tuple[str, str]]:
    """(job folder, reason) of every failed job of the multirun that just ended here, read
    from the records on disk (also counted: LAST["jobs"], every record found)."""
    from runner.core.record import RESULT_FILE, read

    root = LAST.get("sweep_dir")
    if root is None or not Path(root).is_dir():
        return []
    failed, jobs = [], 0
    for path in sorted(Path(root).rglob(RESULT_FILE)):
        jobs += 1
        try:
            rec = read(path)
        except ValueError as exc:
            failed.append((path.parent.name, str(exc)))
            continue
        if rec.get("status") == "failed":
            failed.append((path.parent.name, str(rec.get("reason"))))
    LAST["jobs"] = jobs
    return failed
