"""pareto.png: the metric against latency, size and memory, one row of panels per group.

Each point carries its intervals as error bars (the paired CI of the metric; the speed interval
on the latency axis when the record has one), so a reader sees which differences are real.
Points are told apart by colour and marker, named in one legend per row: labels never overlap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GROUP = ("model", "dataset", "target")
PANELS = (
    ("p50_ms", "p50 latency (ms): FP32's / paired speedup"),
    ("size_mb", "size (MB)"),
    ("peak_mem_mb", "peak memory (MB)"),
)
# Metrics with a natural range: the axis never runs past it.
BOUNDS = {
    "accuracy": (0.0, 1.0),
    "cosine_to_fp32": (-1.0, 1.0),
    "mae": (0.0, np.inf),
    "perplexity": (1.0, np.inf),
}
MARKERS = "osD^vP<>Xph"


def metric_errors(g: pd.DataFrame) -> np.ndarray:
    """[below, above] error bars of each row's metric: the paired CI of its delta, placed
    around the candidate's value (zero where the record has no interval)."""
    lo = (g.baseline_metric + g.ci_lo_abs - g.metric).to_numpy(dtype=float)
    hi = (g.baseline_metric + g.ci_hi_abs - g.metric).to_numpy(dtype=float)
    below, above = np.nan_to_num(-lo), np.nan_to_num(hi)
    return np.vstack([np.clip(below, 0, None), np.clip(above, 0, None)])


def latency_errors(g: pd.DataFrame) -> np.ndarray | None:
    """[below, above] error bars of p50 from the speed interval: p50 * speedup / speedup_ci."""
    if not {"speedup_ci_lo", "speedup_ci_hi"} <= set(g.columns):
        return None
    p50, spd = g.p50_ms.to_numpy(float), g.speedup.to_numpy(float)
    fast = p50 * spd / g.speedup_ci_hi.to_numpy(float)  # the interval's fastest latency
    slow = p50 * spd / g.speedup_ci_lo.to_numpy(float)
    return np.vstack([np.nan_to_num(np.clip(p50 - fast, 0, None)),
                      np.nan_to_num(np.clip(slow - p50, 0, None))])  # fmt: skip


def metric_limits(values: np.ndarray, err: np.ndarray, name: str) -> tuple[float, float]:
    """Axis limits covering the points and their bars with a small margin, inside the
    metric's natural range."""
    lo, hi = float(np.min(values - err[0])), float(np.max(values + err[1]))
    # at least 2 % of the metric's size, so that equal values do not fill the axis with noise
    span = max(hi - lo, 0.02 * max(abs(hi), abs(lo)), 1e-6)
    mid, half = (lo + hi) / 2, span * 0.54
    low_bound, high_bound = BOUNDS.get(name, (-np.inf, np.inf))
    # the margin stops at the natural range; an interval that reaches past it is never cut
    return max(mid - half, min(low_bound, lo)), min(mid + half, max(high_bound, hi))


def _panel(
    ax: Any, g: pd.DataFrame, cost: str, xlabel: str, styles: dict, recommended: set
) -> None:
    """One scatter of metric vs cost with error bars; the Pareto front joins front points; a
    ring marks the recommended point."""
    g = g[np.isfinite(g[cost]) & np.isfinite(g.metric)]
    if not len(g):
        ax.text(0.5, 0.5, f"no {xlabel} measured", ha="center", transform=ax.transAxes)
        ax.set(xlabel=xlabel)
        return
    yerr = metric_errors(g)
    xerr = latency_errors(g) if cost == "p50_ms" else None
    for i, r in enumerate(g.itertuples()):
        color, marker = styles[r.Index]
        big = r.verdict == "baseline"
        ax.errorbar(getattr(r, cost), r.metric, yerr=None if big else yerr[:, i : i + 1],
                    xerr=None if xerr is None else xerr[:, i : i + 1], color=color,
                    marker="*" if big else marker, ms=14 if big else 7, capsize=3, ls="none",
                    label=f"#{r.row} {r.precision}/{r.method} ({r.verdict})")  # fmt: skip
    chosen = g[g.index.isin(recommended)]
    if len(chosen):
        ax.scatter(chosen[cost], chosen.metric, s=420, facecolors="none", edgecolors="black",
                   linewidths=2, label="recommended", zorder=5)  # fmt: skip
    front = g[g[f"pareto_{cost}"].astype(bool)].sort_values(cost)
    if len(front) > 1:
        ax.step(front[cost], front.metric, where="post", color="tab:green", lw=1.2, alpha=0.8,
                label="Pareto front", zorder=0)  # fmt: skip
    name = str(g.metric_name.iloc[0])
    ax.set_ylim(*metric_limits(g.metric.to_numpy(float), yerr, name))
    better = "higher" if g.higher_is_better.iloc[0] else "lower"
    ax.set(xlabel=xlabel, ylabel=f"{name} ({better} is better)")
    ax.grid(alpha=0.3)


def plot_pareto(df: pd.DataFrame, path: Path, recommended: Any = ()) -> Path:
    """Write pareto.png: per (model, dataset, target) group, metric vs latency, size, memory;
    `recommended`: the table rows (index) recommended, ringed."""
    pareto_figure(df, recommended).savefig(path, dpi=100)
    return path


def pareto_figure(df: pd.DataFrame, recommended: Any = ()) -> Any:
    """The figure of plot_pareto: a row of panels per group, a legend naming every point."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    ok = df[df.status == "ok"] if len(df) else df
    groups = list(ok.groupby(list(GROUP), sort=False)) if len(ok) else []
    rows = max(1, len(groups))
    fig = Figure(figsize=(17, 4.6 * rows), layout="constrained")
    axs = fig.subplots(rows, len(PANELS), squeeze=False)
    cmap = [f"C{i}" for i in range(10)]
    for (keys, g), row in zip(groups, axs, strict=False):
        styles = {idx: (cmap[i % 10], MARKERS[i % len(MARKERS)]) for i, idx in enumerate(g.index)}
        for ax, (cost, label) in zip(row, PANELS, strict=True):
            _panel(ax, g, cost, label, styles, set(recommended))
        row[0].set_title(" / ".join(keys), loc="left")
        named: dict[str, Any] = {}  # every point once, and the front line if any panel has one
        for ax in row:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                named.setdefault(label, handle)
        row[-1].legend(named.values(), named.keys(), fontsize=8, loc="upper left",
                       bbox_to_anchor=(1.02, 1))  # fmt: skip
    if not groups:
        axs[0][0].text(0.5, 0.5, "no ok jobs to plot", ha="center")
    return fig
