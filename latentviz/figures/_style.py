"""The look every figure shares: a small template, the palettes, and safe text for plotly.

The template is deliberately tiny (plotly's own templates add about 8 kB of JSON to every
figure), so a report with a dozen figures stays light and every figure looks the same in the
dashboard and in the report.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
ACCENT = "#2f6fdf"
BAD = "#d64545"
NEUTRAL = "#b8c1cc"
#: Ten distinguishable categorical colours (Tableau 10), cycled beyond ten categories.
CATEGORICAL = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
MISSING_COLOR = "#cbd2d9"
SEQUENTIAL = "Viridis"
DIVERGING = "RdBu_r"

_AXIS = dict(
    showgrid=True,
    gridcolor=GRID,
    zeroline=False,
    linecolor=GRID,
    ticks="",
    automargin=True,
    title=dict(font=dict(size=12, color=MUTED)),
)

TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(family=FONT, size=12, color=INK),
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(CATEGORICAL),
        margin=dict(l=48, r=16, t=48, b=40),
        title=dict(font=dict(size=14), x=0, xanchor="left", xref="paper"),
        xaxis=_AXIS,
        yaxis=_AXIS,
        legend=dict(font=dict(size=11), itemsizing="constant"),
        hoverlabel=dict(font=dict(family=FONT, size=12)),
    )
)


def figure(*, title: str | None = None, subtitle: str | None = None, height: int = 420, **layout) -> go.Figure:
    """An empty figure in the house style; ``title`` and ``subtitle`` are escaped here."""
    title_spec: dict[str, object] = {"text": text(title) if title else None}
    if subtitle:
        title_spec["subtitle"] = {"text": text(subtitle), "font": {"size": 11, "color": MUTED}}
    return go.Figure(layout=dict(template=TEMPLATE, title=title_spec, height=height, **layout))


def text(value) -> str:
    """A user string made safe for plotly, which reads a subset of HTML in every text field.

    Entities are shown literally by plotly, so ``<script>`` appears as text, never as markup.
    """
    return html.escape(str(value), quote=False)


def compact(values) -> np.ndarray:
    """Values as float32: plotly embeds arrays as base64 typed arrays, half the bytes of float64."""
    return np.asarray(values, dtype=np.float32)


def category_color(index: int) -> str:
    return CATEGORICAL[index % len(CATEGORICAL)]
