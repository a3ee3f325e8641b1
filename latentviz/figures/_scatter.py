"""The projection scatter: one point per sample, coloured by a label or factor, with highlights.

The figure always has the same shape, so a caller can recolour it without rebuilding it:

* ``data[0]`` — every shown point (``customdata`` holds the sample ids, ``text`` the colour
  value of each point);
* the legend entries of a categorical colouring (empty traces, ``meta="legend"``);
* last, the highlighted points when any (``meta="highlight"``).

:func:`scatter_colors` returns exactly what changes between two colourings, so the report's
colour-by switch and the dashboard's ``Patch()`` send colours, not coordinates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from latentviz.errors import InputError
from latentviz.figures._style import (
    ACCENT, BAD, MISSING_COLOR, SEQUENTIAL, category_color, compact, figure, text,
)

#: Above this many shown points the scatter uses WebGL (``scattergl``) instead of SVG.
WEBGL_ABOVE = 20_000
#: A categorical colouring lists at most this many categories in the legend.
MAX_LEGEND = 20
METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
STRATUM = "label"


def sample_rows(n: int, *, max_points: int | None, seed: int = 0, strata=None) -> np.ndarray:
    """The rows a scatter shows, in the order it draws them: at most ``max_points`` of ``n``.

    Above the budget the rows are :func:`latentviz.projection.stratified_sample`'s: seeded, and
    with ``strata`` (one value per row) every stratum keeps its share and at least one row, so
    a rare class never vanishes. The drawing order is a seeded shuffle, so no class is painted
    over the others just because its rows come last in the file.

    >>> sorted(sample_rows(5, max_points=None).tolist())
    [0, 1, 2, 3, 4]
    """
    if max_points is not None and max_points < 1:
        raise InputError(f"max_points must be at least 1; got {max_points}")
    rows = np.arange(n)
    if max_points is not None and n > max_points:
        from latentviz.projection import stratified_sample  # scikit-learn comes with it: only when sampling

        rows = stratified_sample(n, max_points, labels=strata, random_state=seed)
    return np.random.default_rng(seed).permutation(rows)


def is_categorical(values) -> bool:
    """Strings, booleans and categories are coloured by category; numbers by a colour scale."""
    series = pd.Series(values)
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def display_name(column: str) -> str:
    """``factor_scale`` -> ``scale``: the name a reader knows a metadata column by."""
    return column[len("factor_"):] if column.startswith("factor_") else column


def scatter_colors(values, *, name: str) -> dict:
    """How the points are coloured by ``values``: ``{"name", "marker", "text", "legend"}``, JSON-ready.

    ``marker`` and ``text`` replace those of ``data[0]``; ``legend`` replaces the legend traces;
    ``name`` (escaped) titles the legend and the hover line.
    """
    series = pd.Series(values).reset_index(drop=True)
    if is_categorical(series):
        return {"name": text(name), **_categorical(series, name)}
    numbers = series.astype(float)
    return {
        "name": text(name),
        "marker": {"color": numbers.round(6).tolist(), "colorscale": SEQUENTIAL, "showscale": True,
                   "colorbar": {"title": {"text": text(name), "side": "right"}, "thickness": 12, "len": 0.8}},
        "text": [text(_short(v)) for v in numbers],
        "legend": [],
    }


def _categorical(series: pd.Series, name: str) -> dict:
    labels = series.astype(str).where(series.notna(), "(missing)")
    categories = sorted(set(labels))
    colors = {c: MISSING_COLOR if c == "(missing)" else category_color(i) for i, c in enumerate(categories)}
    legend = [
        go.Scatter(x=[None], y=[None], mode="markers", name=text(c), marker={"color": colors[c], "size": 9},
                   hoverinfo="skip", meta="legend", legendgroup=name).to_plotly_json()
        for c in categories[:MAX_LEGEND]
    ]
    if len(categories) > MAX_LEGEND:
        legend.append(go.Scatter(x=[None], y=[None], mode="markers", marker={"color": "white"}, hoverinfo="skip",
                                 name=f"… {len(categories) - MAX_LEGEND} more", meta="legend").to_plotly_json())
    return {"marker": {"color": [colors[c] for c in labels], "showscale": False},
            "text": [text(c) for c in labels], "legend": legend}


def _short(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.4g}"


def projection_scatter(projections: pd.DataFrame, metadata: pd.DataFrame | None = None, *, method: str = "pca",
                       color_by: str | None = None, highlight=None, max_points: int | None = None,
                       seed: int = 0, title: str | None = None, height: int = 520) -> go.Figure:
    """A 2-D projection of the latents as a scatter plot.

    Parameters
    ----------
    projections : DataFrame
        ``id`` and the columns ``{method}_0``, ``{method}_1`` (a run's ``projections.parquet``).
    metadata : DataFrame, optional
        One row per projection row, in the same order (a run's metadata columns); ``color_by``
        names one of its columns, and its ``label`` column stratifies the sample.
    method : str
        Column prefix of the projection: ``pca``, ``tsne``, ``umap`` or any other.
    color_by : str, optional
        Column of ``metadata`` to colour by; categories for strings, a colour scale for numbers.
    highlight : iterable of str, optional
        Sample ids drawn ringed on top (shown even when the sample left them out).
    max_points : int, optional
        Show a seeded sample of at most this many points (stratified by label); the subtitle
        says "showing X of N points".
    seed : int
        Seed of that sample.

    Returns
    -------
    plotly.graph_objects.Figure
        Laid out as the module docstring describes.
    """
    columns = [f"{method}_0", f"{method}_1"]
    if any(c not in projections.columns for c in columns):
        have = sorted({c.rsplit("_", 1)[0] for c in projections.columns if c != "id"})
        raise InputError(f"projection_scatter: no {method} projection; this run has: {', '.join(have) or 'none'}")
    n = len(projections)
    if metadata is not None and len(metadata) != n:
        raise InputError(f"projection_scatter: metadata has {len(metadata)} rows but projections have {n}")
    if color_by is not None and (metadata is None or color_by not in metadata.columns):
        options = ", ".join(metadata.columns) if metadata is not None else "none"
        raise InputError(f"projection_scatter: cannot colour by '{color_by}'; choose from {options}")
    strata = metadata[STRATUM] if metadata is not None and STRATUM in metadata.columns else None
    rows = sample_rows(n, max_points=max_points, seed=seed, strata=strata)
    xy = projections[columns].to_numpy(dtype=np.float64)
    ids = projections["id"].astype(str).to_numpy()
    label = METHOD_NAMES.get(method, method)
    subtitle = f"showing {len(rows):,} of {n:,} points" + (" (stratified by label)" if strata is not None else "") \
        if len(rows) < n else None
    fig = figure(title=title if title is not None else f"{label} of the latent codes", subtitle=subtitle,
                 height=height, showlegend=True, hovermode="closest", dragmode="pan",
                 xaxis={"title": {"text": f"{label} 1"}, "showticklabels": False},
                 yaxis={"title": {"text": f"{label} 2"}, "showticklabels": False, "scaleanchor": "x"},
                 legend={"title": {"text": text(display_name(color_by)) if color_by else ""}})
    colors = scatter_colors(metadata[color_by].iloc[rows], name=display_name(color_by)) if color_by else \
        {"name": "", "marker": {"color": ACCENT}, "text": [""] * len(rows), "legend": []}
    trace = go.Scattergl if len(rows) > WEBGL_ABOVE else go.Scatter
    size = 7 if len(rows) <= 2_000 else 5 if len(rows) <= WEBGL_ABOVE else 3
    hover = "<b>%{customdata}</b>" + (f"<br>{colors['name']}: %{{text}}" if color_by else "")
    fig.add_trace(trace(
        x=compact(xy[rows, 0]), y=compact(xy[rows, 1]), mode="markers", customdata=[text(i) for i in ids[rows]],
        text=colors["text"], hovertemplate=hover + "<extra></extra>", showlegend=False, name="points",
        marker={"size": size, "opacity": 0.85, "line": {"width": 0}, **colors["marker"]}))
    for legend_trace in colors["legend"]:
        fig.add_trace(legend_trace)
    if highlight is not None:
        chosen = np.flatnonzero(np.isin(ids, np.asarray(list(highlight), dtype=str)))
        fig.add_trace(go.Scatter(
            x=compact(xy[chosen, 0]), y=compact(xy[chosen, 1]), mode="markers", name="selected", meta="highlight",
            customdata=[text(i) for i in ids[chosen]], hovertemplate="<b>%{customdata}</b><extra>selected</extra>",
            marker={"size": size + 8, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": BAD}}))
    return fig
