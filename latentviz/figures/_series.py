"""Metrics over a series of runs (checkpoints of one model over training), one small panel per metric."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from latentviz.figures._style import ACCENT, MUTED, figure, text

_COLS = 3


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
    fig = make_subplots(rows=rows, cols=_COLS, subplot_titles=[text(m) for m in metrics],
                        horizontal_spacing=0.07, vertical_spacing=0.18 if rows > 1 else 0.2)
    fig.update_layout(figure(title="Metrics over the series", height=120 + 210 * rows, showlegend=False).layout)
    steps = [float(s) for s in steps]
    hover_names = [text(n) for n in (names if names is not None else steps)]
    for k, name in enumerate(metrics):
        y = np.asarray(values[name], dtype=float)
        fig.add_trace(go.Scatter(x=steps, y=np.round(y, 5), mode="lines+markers", customdata=hover_names,
                                 marker={"color": ACCENT, "size": 7}, line={"color": ACCENT, "width": 2},
                                 hovertemplate="%{customdata}: %{y:.4g}<extra>" + text(name) + "</extra>"),
                      row=k // _COLS + 1, col=k % _COLS + 1)
    fig.update_xaxes(title={"text": text(x_title), "font": {"size": 10, "color": MUTED}})
    fig.update_annotations(font={"size": 11, "color": MUTED})
    return fig
