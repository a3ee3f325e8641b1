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

import base64
import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from latentviz.errors import InputError
from latentviz.figures._style import (
    ACCENT,
    BAD,
    MISSING_COLOR,
    SEQUENTIAL,
    category_color,
    compact,
    figure,
    text,
)
from latentviz.run import FACTOR_PREFIX, method_label, projection_columns, projection_methods

#: Above this many shown points the scatter uses WebGL (``scattergl``) instead of SVG.
WEBGL_ABOVE = 20_000
#: A categorical colouring lists at most this many categories in the legend.
MAX_LEGEND = 20
#: Whole numbers with at most this many distinct values are class ids, coloured by category.
MAX_INTEGER_CATEGORIES = 30
#: How a column may be coloured: ``auto`` decides by :func:`is_categorical`; the others force it.
COLOR_MODES = ("auto", "categorical", "continuous")
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


def uses_webgl(n_shown: int, above: int = WEBGL_ABOVE) -> bool:
    """Whether a scatter of ``n_shown`` points is drawn with WebGL (``scattergl``) rather than SVG."""
    return n_shown > above


def is_categorical(values, mode: str = "auto") -> bool:
    """Whether ``values`` are coloured by category (a legend) rather than on a colour scale.

    ``auto``: strings, booleans and categories are categorical, and so are whole numbers with at
    most :data:`MAX_INTEGER_CATEGORIES` distinct values (class ids such as 0..9); other numbers
    get a colour scale. ``categorical`` and ``continuous`` force the choice; values that are not
    numbers stay categorical. The report and the dashboard both decide here.

    >>> is_categorical([0, 1, 2, 1]), is_categorical([0.5, 1.5]), is_categorical([0, 1], "continuous")
    (True, False, False)
    """
    if mode not in COLOR_MODES:
        raise InputError(f"colour mode '{mode}': choose one of {', '.join(COLOR_MODES)}")
    series = pd.Series(values)
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return True
    if mode != "auto":
        return mode == "categorical"
    finite = series[np.isfinite(series.to_numpy(dtype=np.float64))]
    whole = pd.api.types.is_integer_dtype(series) or bool((finite == np.round(finite)).all())
    return whole and len(finite) > 0 and finite.nunique() <= MAX_INTEGER_CATEGORIES


def display_name(column: str) -> str:
    """``factor_scale`` -> ``scale``: the name a reader knows a metadata column by."""
    return column.removeprefix(FACTOR_PREFIX)


def scatter_colors(values, *, name: str, rgb: bool = False, mode: str = "auto", categories=None, span=None) -> dict:
    """How the points are coloured by ``values``: ``{"name", "marker", "text", "legend"}``, JSON-ready.

    ``marker`` and ``text`` replace those of ``data[0]``; ``legend`` replaces the legend traces;
    ``name`` (escaped) titles the legend and the hover line.

    ``rgb=True`` is for a WebGL trace that is recoloured often (the dashboard's): each point's
    colour is one row of an RGB byte array, sent as a plotly typed array. plotly.js parses a
    per-point colour string, or maps a colour-scale value, again on every redraw of a WebGL
    scatter (0.6 s of a 0.8 s redraw at 100k points in Chromium), but takes RGB rows as they
    are. The colour scale's bar then comes with a legend trace.

    ``mode`` (one of :data:`COLOR_MODES`) forces categories or a colour scale; ``auto`` asks
    :func:`is_categorical`. ``categories`` (every category of the whole column) and ``span`` (its
    ``(low, high)``) keep colours and legend those of the whole column when ``values`` are a part
    of it (the points in view over a density image, which shows them all).
    """
    series = pd.Series(values).reset_index(drop=True)
    if categories is not None or is_categorical(series, mode):
        return {"name": text(name), **_categorical(series, name, rgb=rgb, categories=categories)}
    numbers = series.astype(float)
    colorbar = {"title": {"text": text(name), "side": "right"}, "thickness": 12, "len": 0.8}
    if rgb:
        scale = get_colorscale(SEQUENTIAL)
        finite = numbers[np.isfinite(numbers)]
        low, high = (
            span if span is not None else (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        )
        marker = {"color": _rgb_rows(_scale_colors(numbers.to_numpy(), low, high, scale)), "showscale": False}
        legend = [
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                hoverinfo="skip",
                showlegend=False,
                meta="legend",
                marker={
                    "color": [low, high],
                    "cmin": low,
                    "cmax": high,
                    "colorscale": scale,
                    "showscale": True,
                    "colorbar": colorbar,
                },
            ).to_plotly_json()
        ]
    else:
        marker = {"color": numbers.round(6).tolist(), "colorscale": SEQUENTIAL, "showscale": True, "colorbar": colorbar}
        legend = []
    return {"name": text(name), "marker": marker, "text": _short_numbers(numbers), "legend": legend}


def _rgb_rows(colors: np.ndarray) -> dict:
    """An (n, 3) array of RGB bytes as a plotly typed-array spec (base64), which plotly.js decodes to rows."""
    rows = np.ascontiguousarray(colors, dtype=np.uint8).reshape(-1, 3)
    return {"dtype": "u1", "bdata": base64.b64encode(rows.tobytes()).decode("ascii"), "shape": f"{len(rows)},3"}


def _scale_colors(values: np.ndarray, low: float, high: float, scale) -> np.ndarray:
    """RGB bytes of ``values`` on a plotly colour scale from ``low`` to ``high`` (NaN: the missing colour)."""
    stops = np.array([stop for stop, _ in scale])
    channels = np.array([_hex_rgb(color) for _, color in scale], dtype=np.float64)
    position = (values - low) / (high - low) if high > low else np.full(len(values), 0.5)
    position = np.clip(np.nan_to_num(position, nan=0.0), 0.0, 1.0)
    out = np.stack([np.interp(position, stops, channels[:, c]) for c in range(3)], axis=1)
    out[~np.isfinite(values)] = _hex_rgb(MISSING_COLOR)
    return np.rint(out).astype(np.uint8)


def _hex_rgb(color: str) -> tuple[int, int, int]:
    if color.startswith("rgb"):
        r, g, b = (int(float(c)) for c in color[color.index("(") + 1 : color.index(")")].split(",")[:3])
    else:
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return r, g, b


def category_colors(values, categories=None) -> tuple[pd.Series, list[str], dict[str, str]]:
    """``values`` as category strings (``"(missing)"`` for missing), the sorted categories, and each one's colour.

    ``categories`` (those of a whole column) fixes the colours when ``values`` are a part of it.
    """
    series = pd.Series(values).reset_index(drop=True)
    labels = series.astype(str).where(series.notna(), "(missing)")
    categories = sorted(set(labels)) if categories is None else list(categories)
    return (
        labels,
        categories,
        {c: MISSING_COLOR if c == "(missing)" else category_color(i) for i, c in enumerate(categories)},
    )


def _categorical(series: pd.Series, name: str, *, rgb: bool = False, categories=None) -> dict:
    labels, categories, colors = category_colors(series, categories)
    legend = [
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=text(c),
            marker={"color": colors[c], "size": 9},
            hoverinfo="skip",
            meta="legend",
            legendgroup=name,
        ).to_plotly_json()
        for c in categories[:MAX_LEGEND]
    ]
    if len(categories) > MAX_LEGEND:
        legend.append(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"color": "white"},
                hoverinfo="skip",
                name=f"… {len(categories) - MAX_LEGEND} more",
                meta="legend",
            ).to_plotly_json()
        )
    point_colors: dict | list[str]
    if rgb:
        codes = pd.Categorical(labels, categories=categories).codes
        point_colors = _rgb_rows(np.array([_hex_rgb(colors[c]) for c in categories], dtype=np.uint8)[codes])
    else:
        point_colors = [colors[c] for c in labels]
    hover_text = labels.map({c: text(c) for c in categories}).tolist()
    return {"marker": {"color": point_colors, "showscale": False}, "text": hover_text, "legend": legend}


def _short_numbers(numbers: pd.Series) -> list[str]:
    """Each number to 4 significant digits, "" when not finite (no escaping: digits need none)."""
    return ["" if not math.isfinite(v) else f"{v:.4g}" for v in numbers.tolist()]


def projection_scatter(
    projections: pd.DataFrame,
    metadata: pd.DataFrame | None = None,
    *,
    method: str = "pca",
    color_by: str | None = None,
    highlight=None,
    max_points: int | None = None,
    seed: int = 0,
    title: str | None = None,
    height: int = 520,
    webgl_above: int = WEBGL_ABOVE,
    color_mode: str = "auto",
) -> go.Figure:
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
        Column of ``metadata`` to colour by: categories or a colour scale as
        :func:`is_categorical` decides with ``color_mode``.
    highlight : iterable of str, optional
        Sample ids drawn ringed on top (shown even when the sample left them out).
    max_points : int, optional
        Show a seeded sample of at most this many points (stratified by label); the subtitle
        says "showing X of N points".
    seed : int
        Seed of that sample.
    webgl_above : int
        Above this many shown points the scatter is drawn with WebGL, below it in SVG (crisper
        when exported, but slower to redraw).
    color_mode : {"auto", "categorical", "continuous"}
        Force categories or a colour scale for ``color_by``.

    Returns
    -------
    plotly.graph_objects.Figure
        Laid out as the module docstring describes.
    """
    columns = projection_columns(method, 2)
    if any(c not in projections.columns for c in columns):
        have = list(projection_methods(projections))
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
    label = method_label(method)
    subtitle = (
        f"showing {len(rows):,} of {n:,} points" + (" (stratified by label)" if strata is not None else "")
        if len(rows) < n
        else None
    )
    fig = figure(
        title=title if title is not None else f"{label} of the latent codes",
        subtitle=subtitle,
        height=height,
        showlegend=True,
        hovermode="closest",
        dragmode="pan",
        xaxis={"title": {"text": f"{label} 1"}, "showticklabels": False},
        yaxis={"title": {"text": f"{label} 2"}, "showticklabels": False, "scaleanchor": "x"},
        legend={"title": {"text": text(display_name(color_by)) if color_by else ""}},
    )
    colors: dict[str, Any] = (
        scatter_colors(metadata[color_by].iloc[rows], name=display_name(color_by), mode=color_mode)
        if color_by and metadata is not None
        else {"name": "", "marker": {"color": ACCENT}, "text": [""] * len(rows), "legend": []}
    )
    trace = go.Scattergl if uses_webgl(len(rows), webgl_above) else go.Scatter
    size = 7 if len(rows) <= 2_000 else 5 if len(rows) <= WEBGL_ABOVE else 3
    hover = "<b>%{customdata}</b>" + (f"<br>{colors['name']}: %{{text}}" if color_by else "")
    fig.add_trace(
        trace(
            x=compact(xy[rows, 0]),
            y=compact(xy[rows, 1]),
            mode="markers",
            customdata=[text(i) for i in ids[rows]],
            text=colors["text"],
            hovertemplate=hover + "<extra></extra>",
            showlegend=False,
            name="points",
            marker={"size": size, "opacity": 0.85, "line": {"width": 0}, **colors["marker"]},
        )
    )
    for legend_trace in colors["legend"]:
        fig.add_trace(legend_trace)
    if highlight is not None:
        chosen = np.flatnonzero(np.isin(ids, np.asarray(list(highlight), dtype=str)))
        fig.add_trace(
            go.Scatter(
                x=compact(xy[chosen, 0]),
                y=compact(xy[chosen, 1]),
                mode="markers",
                name="selected",
                meta="highlight",
                customdata=[text(i) for i in ids[chosen]],
                hovertemplate="<b>%{customdata}</b><extra>selected</extra>",
                marker={"size": size + 8, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": BAD}},
            )
        )
    return fig
