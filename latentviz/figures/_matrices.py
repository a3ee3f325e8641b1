"""Heatmaps of matrices between named things: latents × factors, run × run."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from latentviz.figures._style import figure, text


def mi_heatmap(
    mi,
    *,
    latent_names,
    factor_names,
    title: str = "Mutual information between latents and factors",
    normalized: bool = True,
) -> go.Figure:
    """Latent × factor mutual information: a disentangled code has one bright cell per column.

    Parameters
    ----------
    mi : array-like of shape (n_latents, n_factors)
        Mutual information, normalised by the factor's entropy when ``normalized`` (then in [0, 1]).
    latent_names, factor_names : sequence of str
        Row and column names.
    """
    mi = np.asarray(mi, dtype=float)
    return _heatmap(
        mi,
        rows=list(latent_names),
        cols=list(factor_names),
        title=title,
        scale="Blues",
        zmin=0,
        zmax=1 if normalized else None,
        value="I / H(factor)" if normalized else "I (nats)",
        x_title="factor",
        y_title="latent",
    )


def similarity_heatmap(matrix, *, names, title: str, baseline=None, zmin: float = 0, zmax: float = 1) -> go.Figure:
    """Run × run similarity (CKA, SVCCA, ...); with ``baseline`` the chance level is named per cell."""
    matrix = np.asarray(matrix, dtype=float)
    fig = _heatmap(
        matrix,
        rows=list(names),
        cols=list(names),
        title=title,
        scale="Viridis",
        zmin=zmin,
        zmax=zmax,
        value="similarity",
        x_title=None,
        y_title=None,
        subtitle="hover a cell for its chance level (one run's rows shuffled)" if baseline is not None else None,
    )
    if baseline is not None:
        fig.data[0].customdata = np.round(np.asarray(baseline, dtype=float), 3)
        fig.data[0].hovertemplate = "%{y} vs %{x}: %{z:.3f} (chance %{customdata:.3f})<extra></extra>"
    return fig


def _heatmap(
    matrix: np.ndarray,
    *,
    rows,
    cols,
    title: str,
    scale: str,
    zmin,
    zmax,
    value: str,
    x_title,
    y_title,
    subtitle: str | None = None,
) -> go.Figure:
    height = min(720, 170 + 34 * len(rows))
    fig = figure(
        title=title,
        subtitle=subtitle,
        height=height,
        xaxis={"showgrid": False, "title": {"text": x_title}, "type": "category"},
        yaxis={"showgrid": False, "autorange": "reversed", "title": {"text": y_title}, "type": "category"},
    )
    small = matrix.size <= 400
    fig.add_trace(
        go.Heatmap(
            z=np.round(matrix, 4),
            x=[text(c) for c in cols],
            y=[text(r) for r in rows],
            zmin=zmin,
            zmax=zmax,
            colorscale=scale,
            xgap=1,
            ygap=1,
            texttemplate="%{z:.2f}" if small else None,
            textfont={"size": 10},
            colorbar={"title": {"text": value}, "thickness": 12},
            hovertemplate="%{y} × %{x}: %{z:.3f}<extra></extra>",
        )
    )
    return fig
