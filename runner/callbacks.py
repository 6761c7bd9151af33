"""Hydra callback: summarize a sweep when the multirun ends.

Jobs never raise (the pipeline records failures in result.json), so Hydra reaches
`on_multirun_end` even when some jobs failed; `python -m runner.summarize DIR` does the same
work by hand for a sweep that was interrupted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)


class SummarizeOnMultirunEnd(Callback):
    """Write summary.md/csv, pareto.png and recommended.yaml into the sweep directory."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from runner.summarize import summarize
        from runner.verdict import Thresholds

        sweep_dir = Path(config.hydra.sweep.dir)
        s = config.summary
        try:
            th = Thresholds(s.ship_below, s.qat_below, min_speedup=s.min_speedup)
            summary = summarize(sweep_dir, objective=s.objective, thresholds=th)
        except Exception:  # noqa: BLE001 - the results are on disk whatever happens here
            log.exception("summary failed; run `python -m runner.summarize %s`", sweep_dir)
            return
        print(summary.text)
