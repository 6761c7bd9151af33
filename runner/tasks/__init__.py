"""Tasks beyond the four built into runner.job.evaluate: one self-registering file each.

A task is registered as ("task", NAME), NAME being the `model.task` value, and has:

- `name`, `higher_is_better`: the metric the record's `metric` block names;
- `outcomes(outputs, y, reference) -> np.ndarray`: the evidence one model leaves on the
  validation split (per-sample 0/1 for accuracy; for a corpus-level metric such as mAP, a
  table with one row per detection and ground-truth group, an image index in each row);
- `value(evidence) -> float`: the metric of one model from its evidence;
- `compare(base, cand, y, outputs) -> dict`: the record's metric block, with the paired 95 %
  interval of candidate - baseline (a per-sample score interval, or a bootstrap over images).

evaluate.outcomes / evaluate.compare hand a registered task its work, so the pipeline calls the
same two functions whatever the task is.
"""
