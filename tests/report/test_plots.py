"""pareto.png: what a reader sees must be true to the records (fronts, intervals, ranges)."""

from __future__ import annotations

import numpy as np
import pytest

from runner.report.plots import PANELS, metric_limits, pareto_figure
from runner.report.summary import summarize
from tests.records import baseline_record, make_record, write_job


@pytest.fixture
def table(tmp_path):
    """Baseline (dominated by int8), two front candidates and one dominated, accuracy near 1."""
    write_job(tmp_path, "0", baseline_record(baseline=0.99))
    write_job(tmp_path, "1", make_record("int8", "ptq", drop=-0.002, baseline=0.99, p50=0.02,
                                         size=500_000, ci_drop=(-0.004, 0.009),
                                         speedup_ci=(2.5, 3.5)))  # fmt: skip
    write_job(tmp_path, "2", make_record("int4", "ptq", drop=0.008, baseline=0.99, p50=0.05,
                                         size=200_000, ci_drop=(0.001, 0.02)))  # fmt: skip
    write_job(tmp_path, "3", make_record("fp16", "ptq", drop=0.009, baseline=0.99, p50=0.07,
                                         size=700_000))  # fmt: skip
    return summarize(tmp_path, write=False).table


def _axes(table):
    fig = pareto_figure(table)
    return [ax for ax in fig.axes if ax.get_xlabel()]


def test_one_panel_per_objective_and_a_legend_naming_every_point(table):
    axes = _axes(table)
    assert [ax.get_xlabel() for ax in axes] == [label for _, label in PANELS]
    legend = axes[-1].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    names = ["#1 fp32/ptq (baseline)", "#2 int8/ptq (", "#3 int4/ptq (", "#4 fp16/ptq ("]
    assert len(labels) == 5 and labels[4] == "Pareto front"
    assert all(label.startswith(n) for label, n in zip(labels, names, strict=False))
    assert not any(ax.texts for ax in axes)  # no free-floating labels that could overlap


def test_the_front_line_joins_front_points_only(table):
    latency, size, _ = _axes(table)
    int8_p50 = 0.06 / (2.5 * 3.5) ** 0.5  # FP32's 0.06 ms over the centre of int8's interval
    for ax, cost, front in ((latency, "p50_ms", [int8_p50]), (size, "size_mb", [0.2, 0.5])):
        lines = [ln for ln in ax.get_lines() if ln.get_label() == "Pareto front"]
        expected = sorted(table.loc[table[f"pareto_{cost}"], cost])
        assert expected == pytest.approx(front)
        if len(front) > 1:
            (line,) = lines
            assert sorted(set(np.round(line.get_xdata(), 9))) == pytest.approx(front)
        else:
            assert lines == []  # a single front point: nothing to join, the baseline stays off


def test_error_bars_are_the_records_metric_interval(table):
    latency = _axes(table)[0]
    bars = {c.get_label(): c for c in latency.containers}
    segments = [seg for col in bars["#2 int8/ptq (ship)"].lines[2] for seg in col.get_segments()]
    vertical = [seg for seg in segments if seg[0][0] == seg[1][0] and seg[0][1] != seg[1][1]]
    horizontal = [seg for seg in segments if seg[0][1] == seg[1][1] and seg[0][0] != seg[1][0]]
    (lo, hi) = sorted(vertical[0][:, 1])
    row = table[table.precision == "int8"].iloc[0]
    assert lo == pytest.approx(row.baseline_metric + row.ci_lo_abs)
    assert hi == pytest.approx(row.baseline_metric + row.ci_hi_abs)
    # the latency bar is the speed interval: p50 of the baseline over the speedup's bounds
    (fast, slow) = sorted(horizontal[0][:, 0])
    base_p50 = row.p50_ms * row.speedup
    assert fast == pytest.approx(base_p50 / row.speedup_ci_hi)
    assert slow == pytest.approx(base_p50 / row.speedup_ci_lo)


def test_accuracy_axes_cover_the_data_and_their_margin_stops_at_1(table):
    for ax in _axes(table):
        bottom, top = ax.get_ylim()
        assert top <= 1.0  # no bar reaches past 1 here: the margin stops there
        assert bottom < table.metric.min() and top > table[table.status == "ok"].metric.max()


def test_metric_limits_keep_natural_bounds_and_a_minimum_span_but_never_cut_a_bar():
    err = np.zeros((2, 2))
    assert metric_limits(np.array([0.999, 1.0]), err, "accuracy")[1] == 1.0
    lo, hi = metric_limits(np.array([20.0, 20.0]), err, "perplexity")
    assert lo < 20.0 < hi and hi - lo >= 0.4  # equal values: no axis filled with noise
    assert metric_limits(np.array([0.01]), np.array([[0.01], [0.0]]), "mae")[0] == 0.0
    # an interval reaching past the natural range is shown whole
    assert metric_limits(np.array([0.01]), np.array([[0.5], [0.0]]), "mae")[0] <= -0.49
    assert metric_limits(np.array([0.995]), np.array([[0.0], [0.012]]), "accuracy")[1] >= 1.007


def test_the_recommended_point_is_ringed_on_every_panel(table):
    row = table.index[table.precision == "int8"][0]
    for ax in [a for a in pareto_figure(table, [row]).axes if a.get_xlabel()]:
        (ring,) = [c for c in ax.collections if c.get_label() == "recommended"]
        cost = {"p50": "p50_ms", "siz": "size_mb", "pea": "peak_mem_mb"}[ax.get_xlabel()[:3]]
        assert ring.get_offsets().tolist() == [[table.loc[row, cost], table.loc[row, "metric"]]]
    assert not [c for a in pareto_figure(table).axes for c in a.collections
                if c.get_label() == "recommended"]  # fmt: skip
