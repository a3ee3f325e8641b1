"""Figures of clusters and drift: per-dimension KS statistics, two runs on one map, cluster shares."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from latentviz.figures._style import (
    ACCENT,
    BAD,
    CATEGORICAL,
    MUTED,
    NEUTRAL,
    figure,
    text,
)


def ks_bars(statistic, p_value, *, flagged, level: float) -> go.Figure:
    """The KS statistic per latent dimension; the dimensions whose test rejects at ``level`` in red."""
    statistic = np.asarray(statistic, dtype=float)
    names = [f"z{j}" for j in range(len(statistic))]
    bad = {int(j) for j in flagged}
    fig = figure(
        title="Per-dimension drift (two-sample KS statistic)",
        subtitle=f"red: the test rejects at the Bonferroni level {level:.2g}",
        height=320,
    )
    fig.add_bar(
        x=names,
        y=statistic,
        marker_color=[BAD if j in bad else NEUTRAL for j in range(len(statistic))],
        customdata=np.asarray(p_value, dtype=float),
        hovertemplate="%{x}: KS %{y:.3f}, p %{customdata:.2g}<extra></extra>",
    )
    fig.update_layout(xaxis_title="latent dimension", yaxis_title="KS statistic", showlegend=False)
    return fig


def drift_map(
    reference_xy, current_xy, *, names=("reference", "current"), method: str = "PCA of the reference"
) -> go.Figure:
    """Both runs' codes on one aligned map, coloured by run."""
    fig = figure(title="Both runs on one map", subtitle=f"{method}; a seeded sample of each run", height=460)
    for name, xy, color in zip(names, (reference_xy, current_xy), (NEUTRAL, ACCENT), strict=True):
        xy = np.asarray(xy, dtype=float).reshape(-1, 2) if len(xy) else np.zeros((0, 2))
        fig.add_scattergl(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            name=text(name),
            marker={"size": 4, "color": color, "opacity": 0.6},
            hoverinfo="skip",
        )
    fig.update_layout(xaxis_title="axis 1", yaxis_title="axis 2", legend={"orientation": "h", "y": -0.15})
    return fig


def cluster_share_bars(rows) -> go.Figure:
    """Each reference cluster's share of the reference and of the current run (outliers as cluster -1)."""
    labels = ["outliers" if r["cluster"] == -1 else f"cluster {r['cluster']}" for r in rows]
    fig = figure(title="Reference clusters: share of each run", height=340)
    for key, name, color in (("reference_share", "reference", NEUTRAL), ("current_share", "current", ACCENT)):
        fig.add_bar(x=labels, y=[r[key] for r in rows], name=name, marker_color=color)
    fig.update_layout(
        barmode="group",
        yaxis_title="share of the points",
        yaxis_tickformat=".0%",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def cluster_sizes(sizes, outliers: int) -> go.Figure:
    """Points per cluster, with the outliers in grey."""
    names = [f"cluster {c}" for c in range(len(sizes))] + (["outliers"] if outliers else [])
    values = list(sizes) + ([outliers] if outliers else [])
    colors = [CATEGORICAL[c % len(CATEGORICAL)] for c in range(len(sizes))] + ([MUTED] if outliers else [])
    fig = figure(title="Points per cluster", height=300)
    fig.add_bar(x=names, y=values, marker_color=colors, showlegend=False)
    fig.update_layout(yaxis_title="points")
    return fig
