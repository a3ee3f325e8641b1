"""Figures only the live dashboard shows: the 3-D projection scatter.

They follow the shared figure shapes (``_scatter``'s trace layout and colourings, ``_style``'s
template), so a recolouring ``Patch()`` works the same on the 2-D and the 3-D scatter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from latentviz.errors import InputError
from latentviz.figures._scatter import display_name, sample_rows, scatter_colors
from latentviz.figures._style import ACCENT, compact, figure, text
from latentviz.run import method_label, projection_columns


def projection_scatter_3d(
    projections: pd.DataFrame,
    metadata: pd.DataFrame | None = None,
    *,
    method: str = "pca",
    color_by: str | None = None,
    max_points: int | None = None,
    seed: int = 0,
    height: int = 560,
) -> go.Figure:
    """A 3-D projection scatter (WebGL), laid out like ``projection_scatter``: ``data[0]`` is every point.

    Parameters
    ----------
    projections : DataFrame
        ``id`` and ``{method}_0``, ``{method}_1``, ``{method}_2``.
    metadata : DataFrame, optional
        One row per projection row; ``color_by`` names a column, ``label`` stratifies the sample.
    max_points, seed
        As in ``projection_scatter``: a seeded stratified sample above ``max_points``.
    """
    columns = projection_columns(method, 3)
    if any(c not in projections.columns for c in columns):
        raise InputError(f"projection_scatter_3d: the {method} projection has fewer than 3 components")
    n = len(projections)
    strata = metadata["label"] if metadata is not None and "label" in metadata.columns else None
    rows = sample_rows(n, max_points=max_points, seed=seed, strata=strata)
    xyz = projections[columns].to_numpy(dtype=np.float64)[rows]
    ids = projections["id"].astype(str).to_numpy()[rows]
    label = method_label(method)
    colors: dict[str, Any] = (
        scatter_colors(metadata[color_by].iloc[rows], name=display_name(color_by))
        if color_by and metadata is not None
        else {"marker": {"color": ACCENT}, "text": [""] * len(rows), "legend": []}
    )
    subtitle = f"showing {len(rows):,} of {n:,} points" if len(rows) < n else None
    axis = {"showticklabels": False, "showbackground": False, "gridcolor": "#e4e7eb"}
    fig = figure(
        title=f"{label} of the latent codes (3-D)",
        subtitle=subtitle,
        height=height,
        showlegend=True,
        scene={
            "xaxis": {**axis, "title": {"text": f"{label} 1"}},
            "yaxis": {**axis, "title": {"text": f"{label} 2"}},
            "zaxis": {**axis, "title": {"text": f"{label} 3"}},
            "aspectmode": "cube",
        },
        legend={"title": {"text": text(display_name(color_by))} if color_by else None},
    )
    fig.add_trace(
        go.Scatter3d(
            x=compact(xyz[:, 0]),
            y=compact(xyz[:, 1]),
            z=compact(xyz[:, 2]),
            mode="markers",
            name="points",
            customdata=[text(i) for i in ids],
            text=colors["text"],
            showlegend=False,
            hovertemplate="<b>%{customdata}</b><extra></extra>",
            marker={"size": 2.5 if len(rows) > 20_000 else 3.5, "opacity": 0.85, **colors["marker"]},
        )
    )
    for legend_trace in colors["legend"]:
        fig.add_trace(legend_3d(legend_trace))
    return fig


def legend_3d(trace: dict) -> dict:
    """A legend-only trace of ``scatter_colors`` made 3-D, so a 3-D figure grows no empty 2-D axes."""
    return {**trace, "type": "scatter3d", "z": [None]}
