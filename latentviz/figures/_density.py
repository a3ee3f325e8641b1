"""Every point drawn: a datashader image of a 2-D map, aggregated at the figure's pixel size.

Above the display budget a browser cannot draw every point of a scatter; datashader aggregates
all of them on the server into one image (one pixel of the image per pixel of the plot), which a
plotly figure shows under its points as a layout image. The dashboard re-aggregates the visible
range on every zoom; the report embeds one image of the whole map. Both call :func:`density_image`.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import os

import numpy as np

from latentviz.figures._style import SEQUENTIAL

#: Pixels of an image when the figure's own size is not known (the report; a dashboard before its first draw).
DEFAULT_SIZE = (900, 600)
# Largest image side: a relayout event names the plot's size, which must not buy an unbounded aggregation.
_MAX_SIDE = 4096
#: Image layers drawn under the points (``layout.images`` entries) carry this name.
IMAGE_NAME = "density"


def density_image(
    x: np.ndarray,
    y: np.ndarray,
    *,
    x_range,
    y_range,
    size=DEFAULT_SIZE,
    categories=None,
    category_colors=None,
    values=None,
    span=None,
) -> dict:
    """A plotly layout image of every point ``(x, y)`` inside ``x_range`` x ``y_range``.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        The map's coordinates (NaN rows are not drawn).
    x_range, y_range : (low, high)
        The area the image covers (the plot's visible range).
    size : (width, height)
        Pixels; the plot's size, so one image pixel is one screen pixel.
    categories : pandas.Categorical, optional
        One category per point: each pixel blends its points' category colours
        (``category_colors``, category -> hex, from :func:`latentviz.figures._scatter.category_colors`),
        weighted by count, its alpha by the total count on a histogram-equalised scale.
    values : ndarray, optional
        One number per point: each pixel shows the mean of its points on the sequential scale
        from ``span = (low, high)`` (the range of the whole column, so zooming keeps the colours).

    Without ``categories`` or ``values`` the image shows counts, histogram-equalised on a
    perceptually uniform scale (colorcet's ``blues``), so sparse and dense regions both read.

    Returns
    -------
    dict
        A ``layout.images`` entry: ``source`` is a PNG data URI, placed on the data axes.
    """
    import datashader as ds
    import datashader.transfer_functions as tf
    import pandas as pd

    width, height = (int(min(max(side, 1), _MAX_SIDE)) for side in size)
    (x0, x1), (y0, y1) = sorted(map(float, x_range)), sorted(map(float, y_range))
    if x1 <= x0 or y1 <= y0:
        x1, y1 = x0 + 1e-9, y0 + 1e-9
    columns = {"x": np.asarray(x), "y": np.asarray(y)}  # copy=False below: datashader reads the caller's arrays
    if categories is not None:
        columns["c"] = categories
    elif values is not None:
        columns["v"] = np.asarray(values)
    frame = pd.DataFrame(columns, copy=False)
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=(x0, x1), y_range=(y0, y1))
    if categories is not None:
        agg = _aggregate(canvas, frame, lambda: ds.by("c", ds.count()))
        key = {c: category_colors[c] for c in categories.categories}
        image = tf.shade(agg, color_key=key, how="eq_hist", min_alpha=90)
    elif values is not None:
        parts = _aggregate(canvas, frame, lambda: ds.summary(total=ds.sum("v"), count=ds.count("v")))
        agg = (parts.total / parts["count"]).where(parts["count"] > 0)  # datashader's mean, NaN where no point
        low, high = span if span is not None else (np.nanmin(values), np.nanmax(values))
        image = tf.shade(agg, cmap=_sequential(), how="linear", span=(float(low), float(high) or 1.0))
    else:
        import colorcet

        agg = _aggregate(canvas, frame, ds.count)
        image = tf.shade(agg, cmap=colorcet.blues[96:], how="eq_hist", min_alpha=120)
    buffer = io.BytesIO()
    image.to_pil().save(buffer, format="PNG", compress_level=1)  # zlib level 6 took 0.8 s of a 1100x700 zoom step
    return {
        "source": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"),
        "xref": "x",
        "yref": "y",
        "x": x0,
        "y": y1,
        "sizex": x1 - x0,
        "sizey": y1 - y0,
        "sizing": "stretch",
        "xanchor": "left",
        "yanchor": "top",
        "layer": "below",
        "name": IMAGE_NAME,
    }


#: From this many points the aggregation runs on every core, one block of rows per thread (datashader's
#: kernels release the GIL), and the blocks' counts or sums are added: the same image as one pass.
_PARALLEL_FROM = 1_000_000


def _aggregate(canvas, frame, reduction):
    """``canvas.points(frame, "x", "y", reduction())``, over row blocks on every core from ``_PARALLEL_FROM`` rows."""
    threads = min(os.cpu_count() or 1, -(-len(frame) // _PARALLEL_FROM))
    if threads <= 1:
        return canvas.points(frame, "x", "y", reduction())
    bounds = np.linspace(0, len(frame), threads + 1).astype(int)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        parts = list(
            pool.map(
                lambda block: canvas.points(frame.iloc[block[0] : block[1]], "x", "y", reduction()),
                zip(bounds[:-1], bounds[1:], strict=True),
            )
        )
    total = parts[0].fillna(0)  # a sum is NaN where a block has no point
    for part in parts[1:]:
        total = total + part.fillna(0)
    return total


def extent(x: np.ndarray, y: np.ndarray, *, pad: float = 0.03) -> tuple[tuple[float, float], tuple[float, float]]:
    """The ranges that show every finite point, padded by ``pad`` of each side's span."""

    def side(v):
        finite = v[np.isfinite(v)]
        low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        margin = (high - low) * pad or 0.5
        return low - margin, high + margin

    return side(x), side(y)


def in_view(x: np.ndarray, y: np.ndarray, x_range, y_range) -> np.ndarray:
    """Rows whose point lies inside the ranges."""
    (x0, x1), (y0, y1) = sorted(x_range), sorted(y_range)
    return np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))


def _sequential() -> list[str]:
    from plotly.colors import get_colorscale, sample_colorscale

    stops = sample_colorscale(get_colorscale(SEQUENTIAL), list(np.linspace(0, 1, 64)), colortype="tuple")
    return ["#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in stop)) for stop in stops]
