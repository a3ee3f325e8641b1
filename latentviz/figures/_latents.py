"""Figures of the latent dimensions one by one: marginals against the prior, KL, activity, correlation."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from latentviz.figures._style import ACCENT, BAD, DIVERGING, MUTED, NEUTRAL, compact, figure
from latentviz.latent_stats import ACTIVE_UNIT_THRESHOLD, COLLAPSE_KL_THRESHOLD

#: Histograms shown at most; beyond it the dimensions with the largest variance are kept.
MAX_HISTOGRAMS = 16
_COLS = 4


def dim_names(d: int) -> list[str]:
    return [f"z{j}" for j in range(d)]


#: Rows a statistic over every code reads at once: a float64 copy of 64k rows, never of the whole array.
_BLOCK_ROWS = 65_536


def chosen_dims(z: np.ndarray, max_dims: int) -> np.ndarray:
    """All dimensions when they fit, else the ``max_dims`` of largest variance (in index order)."""
    d = z.shape[1]
    if d <= max_dims:
        return np.arange(d)
    variances = [np.nanvar(_finite_column(z, j)) for j in range(d)]
    return np.sort(np.argsort(-np.asarray(variances), kind="stable")[:max_dims])


def _finite_column(z: np.ndarray, j: int) -> np.ndarray:
    """Column ``j``'s finite values in float64 (one column copied, whatever the codes' dtype)."""
    values = np.asarray(z[:, j], dtype=np.float64)
    return values[np.isfinite(values)]


def _correlation(z: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns ``dims`` over the rows finite in all of them, in two passes over
    blocks of rows (mean, then centred products: no float64 copy of the codes); NaN for a constant column."""
    d = len(dims)
    blocks = [slice(start, start + _BLOCK_ROWS) for start in range(0, len(z), _BLOCK_ROWS)]

    def finite_rows(block: slice) -> np.ndarray:
        rows = np.asarray(z[block][:, dims], dtype=np.float64)
        return rows[np.isfinite(rows).all(axis=1)]

    count, total = 0, np.zeros(d)
    for block in blocks:
        rows = finite_rows(block)
        count, total = count + len(rows), total + rows.sum(axis=0)
    if count < 2:
        return np.full((d, d), np.nan)
    mean, products = total / count, np.zeros((d, d))
    for block in blocks:
        centred = finite_rows(block) - mean
        products += centred.T @ centred
    spread = np.sqrt(np.diag(products))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = products / np.outer(spread, spread)
    constant = spread <= 1e-12 * np.maximum(1.0, np.abs(mean)) * math.sqrt(count)
    corr[constant, :] = corr[:, constant] = np.nan
    return np.clip(corr, -1.0, 1.0)


def latent_histograms(z: np.ndarray, *, bins: int = 40, max_dims: int = MAX_HISTOGRAMS) -> go.Figure:
    """Histogram (as a density) of each latent dimension, with the N(0, 1) prior drawn over it.

    A dimension that matches the prior is what a VAE's KL term asks for; a spike at 0 is a
    collapsed dimension; a wide or multi-modal one carries information. Counts are binned
    here, so the figure's size does not grow with the number of samples.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_latents)
    bins : int
        Bins per histogram.
    max_dims : int
        Dimensions shown at most (those of largest variance beyond it).
    """
    z = np.asarray(z)  # as it is: one column at a time is copied to float64
    dims = chosen_dims(z, max_dims)
    rows = math.ceil(len(dims) / _COLS)
    names = dim_names(z.shape[1])
    fig = make_subplots(
        rows=rows,
        cols=_COLS,
        subplot_titles=[names[j] for j in dims],
        horizontal_spacing=0.04,
        vertical_spacing=min(0.3, 0.5 / rows),
    )
    subtitle = (
        None if len(dims) == z.shape[1] else f"{len(dims)} of {z.shape[1]} dimensions shown (those of largest variance)"
    )
    fig.update_layout(
        figure(
            title="Each latent dimension against the N(0, 1) prior",
            subtitle=subtitle,
            height=150 + 170 * rows,
            bargap=0.02,
            showlegend=False,
        ).layout
    )
    grid = np.linspace(-4, 4, 161)
    prior = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    for k, j in enumerate(dims):
        row, col = k // _COLS + 1, k % _COLS + 1
        values = _finite_column(z, j)
        lo, hi = _histogram_range(values)
        density, edges = np.histogram(values, bins=bins, range=(lo, hi), density=True)
        centers = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(
            go.Bar(
                x=compact(centers),
                y=compact(density),
                width=float(edges[1] - edges[0]),
                marker={"color": ACCENT, "opacity": 0.75},
                name="codes",
                hovertemplate=f"{names[j]} = %{{x:.2f}}<br>density %{{y:.3f}}<extra></extra>",
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=compact(grid),
                y=compact(prior),
                mode="lines",
                name="N(0, 1)",
                hoverinfo="skip",
                line={"color": BAD, "width": 1.5, "dash": "dot"},
            ),
            row=row,
            col=col,
        )
    fig.update_xaxes(showgrid=False, tickfont={"size": 10})
    fig.update_yaxes(showticklabels=False, showgrid=False)
    fig.update_annotations(font={"size": 11, "color": MUTED})
    fig.update_layout(margin={"t": 80})
    return fig


def _histogram_range(values: np.ndarray) -> tuple[float, float]:
    """At least [-3.5, 3.5] (the prior's bulk), widened to the 0.5-99.5 % quantiles of the codes."""
    if not len(values):
        return -3.5, 3.5
    lo, hi = np.quantile(values, [0.005, 0.995])
    return float(min(-3.5, lo)), float(max(3.5, hi))


def kl_bars(kl_per_dim, *, threshold: float = COLLAPSE_KL_THRESHOLD) -> go.Figure:
    """Mean KL divergence to the prior per dimension (nats); below ``threshold`` a dimension is collapsed."""
    return _dimension_bars(
        np.asarray(kl_per_dim, dtype=float),
        threshold=threshold,
        title="KL divergence to the prior per dimension",
        y_title="KL (nats)",
        below="collapsed",
        above="in use",
    )


def activity_bars(variance_of_means, *, threshold: float = ACTIVE_UNIT_THRESHOLD) -> go.Figure:
    """Variance of the codes across samples per dimension; above ``threshold`` a unit is active (Burda et al.)."""
    return _dimension_bars(
        np.asarray(variance_of_means, dtype=float),
        threshold=threshold,
        title="Activity per dimension (variance of the codes)",
        y_title="variance",
        below="inactive",
        above="active",
    )


def _dimension_bars(
    values: np.ndarray, *, threshold: float, title: str, y_title: str, below: str, above: str
) -> go.Figure:
    names = dim_names(len(values))
    on = values >= threshold
    fig = figure(
        title=title,
        height=300,
        showlegend=True,
        bargap=0.25,
        xaxis={"type": "category", "showgrid": False},
        yaxis={"title": {"text": y_title}},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    for mask, name, color in ((on, above, ACCENT), (~on, below, NEUTRAL)):
        if mask.any():
            fig.add_trace(
                go.Bar(
                    x=[names[j] for j in np.flatnonzero(mask)],
                    y=compact(values[mask]),
                    name=name,
                    marker={"color": color},
                    hovertemplate="%{x}: %{y:.4g}<extra>" + name + "</extra>",
                )
            )
    fig.add_hline(
        y=threshold,
        line={"color": MUTED, "width": 1, "dash": "dash"},
        annotation={"text": f"threshold {threshold:g}", "font": {"size": 10, "color": MUTED}},
        annotation_position="top left",
    )
    fig.update_xaxes(categoryorder="array", categoryarray=names)
    return fig


def correlation_heatmap(z: np.ndarray, *, max_dims: int = 64) -> go.Figure:
    """Pearson correlation between latent dimensions: off-diagonal colour is entanglement.

    A factorised code has a white off-diagonal; strongly coloured pairs encode the same thing.
    Constant dimensions have no correlation and are left blank.
    """
    z = np.asarray(z)
    dims = chosen_dims(z, max_dims)
    corr = _correlation(z, dims)
    names = [dim_names(z.shape[1])[j] for j in dims]
    side = min(640, 160 + 36 * len(dims))
    subtitle = None if len(dims) == z.shape[1] else f"{len(dims)} of {z.shape[1]} dimensions (largest variance)"
    fig = figure(
        title="Correlation between latent dimensions",
        subtitle=subtitle,
        height=side + 60,
        xaxis={"showgrid": False, "side": "bottom"},
        yaxis={"showgrid": False, "autorange": "reversed"},
    )
    fig.add_trace(
        go.Heatmap(
            z=compact(corr),
            x=names,
            y=names,
            zmin=-1,
            zmax=1,
            colorscale=DIVERGING,
            texttemplate="%{z:.2f}" if len(dims) <= 12 else None,
            textfont={"size": 10},
            colorbar={"title": {"text": "r"}, "thickness": 12},
            hovertemplate="%{y} × %{x}: r = %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(width=None, yaxis_scaleanchor="x")
    return fig
