"""Metrics over a series of runs (checkpoints of one model over training), one small panel per metric."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from latentviz.figures._style import ACCENT, MUTED, figure, text

_COLS = 3
# Sizes in pixels: every panel keeps its height however many metrics there are, so the figure
# grows with the rows (a fixed spacing fraction failed plotly's check beyond 6 rows).
_ROW_PX = 210  # one row of panels with the gap below it
_GAP_PX = 60  # between rows: room for the next row's panel titles
_TOP_PX, _BOTTOM_PX = 80, 48  # the figure's title and the first panel titles; the last x-axis title


def metric_series(steps, values: dict, *, x_title: str = "step", names=None) -> go.Figure:
    """One line per metric against ``steps``, each in its own panel (the scales differ).

    Parameters
    ----------
    steps : sequence of float
        The x position of each run (training step, epoch, or the run's rank).
    values : dict of str to sequence of float
        Metric name -> one value per run (NaN where a run lacks the metric).
    names : sequence of str, optional
        Run names shown on hover.
    """
    metrics = sorted(values)
    rows = max(1, math.ceil(len(metrics) / _COLS))
    fig = make_subplots(
        rows=rows,
        cols=_COLS,
        subplot_titles=[text(m) for m in metrics],
        horizontal_spacing=0.07,
        vertical_spacing=_GAP_PX / (_ROW_PX * rows - _GAP_PX),
    )
    fig.update_layout(
        figure(
            title="Metrics over the series", height=_TOP_PX + _ROW_PX * rows - _GAP_PX + _BOTTOM_PX, showlegend=False
        ).layout
    )
    fig.update_layout(margin={"t": _TOP_PX, "b": _BOTTOM_PX})
    steps = [float(s) for s in steps]
    hover_names = [text(n) for n in (names if names is not None else steps)]
    for k, name in enumerate(metrics):
        y = np.asarray(values[name], dtype=float)
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=np.round(y, 5),
                mode="lines+markers",
                customdata=hover_names,
                marker={"color": ACCENT, "size": 7},
                line={"color": ACCENT, "width": 2},
                hovertemplate="%{customdata}: %{y:.4g}<extra>" + text(name) + "</extra>",
            ),
            row=k // _COLS + 1,
            col=k % _COLS + 1,
        )
    fig.update_xaxes(title={"text": text(x_title), "font": {"size": 10, "color": MUTED}})
    fig.update_annotations(font={"size": 11, "color": MUTED})
    return fig
