"""Small layout pieces the pages share: controls, notes, sample cards, the gallery, the neighbour list.

Dash escapes every string it renders as text, so ids and labels from a run reach the page as
text, never as markup.
"""

from __future__ import annotations

import numpy as np
from dash import dcc, html
from dash.development.base_component import Component

from dashboards import ids, logic
from dashboards.images import output_uri
from dashboards.store import NEIGHBOURS_SHOWN
from latentviz.run import FACTOR_PREFIX, NEIGHBORS

#: dcc.Graph config of the map scatters. plotly.js draws WebGL at twice the CSS resolution by
#: default, four times the pixels a normal screen shows; at 1 a 100k-point redraw in software
#: WebGL takes half the time. A high-density screen gets its own ratio (:func:`sharp_on_dense_screens`).
SCATTER_CONFIG: dcc.Graph.Config = {"displaylogo": False, "scrollZoom": True, "plotGlPixelRatio": 1}

# Clientside: on a high-density screen, draw WebGL at the screen's own pixel ratio, once.
_SCREEN_RATIO = """
function (figure, config) {
    const ratio = window.devicePixelRatio || 1;
    if (ratio <= 1 || (config && config.plotGlPixelRatio === ratio)) { return window.dash_clientside.no_update; }
    return Object.assign({}, config, {plotGlPixelRatio: ratio});
}
"""


def sharp_on_dense_screens(app, graph) -> None:
    """Give the scatters ``graph`` (an id or a pattern) the screen's pixel ratio, by a clientside callback."""
    from dash import Input, Output, State

    app.clientside_callback(_SCREEN_RATIO, Output(graph, "config"), Input(graph, "figure"), State(graph, "config"))


# The visible ranges and plot size of a graph, read from plotly's own layout.
_VIEW = """function(_relayout, gid) {
    const key = JSON.stringify(Object.fromEntries(Object.entries(gid).sort()));
    const gd = document.querySelector("[id='" + key + "'] .js-plotly-plot");
    const L = gd && gd._fullLayout;
    if (!L || !L.xaxis || !L.xaxis.range) { return window.dash_clientside.no_update; }
    return {x: L.xaxis.range.slice(), y: L.yaxis.range.slice(), w: Math.round(L._size.w), h: Math.round(L._size.h)};
}"""


def track_view(app, graph, view) -> None:
    """Write the visible ranges and plot size of ``graph`` (an id pattern) into the store ``view`` after every zoom,
    pan or resize, by a clientside callback: a density map re-aggregates exactly that view."""
    from dash import Input, Output, State

    app.clientside_callback(
        _VIEW, Output(view, "data"), Input(graph, "relayoutData"), State(graph, "id"), prevent_initial_call=True
    )


def control(label: str, component, *, wide: bool = False):
    return html.Label(
        className="lv-control" + (" lv-control--wide" if wide else ""),
        children=[html.Span(label, className="lv-label"), component],
    )


def hint(text: str):
    return html.P(text, className="lv-hint")


def missing(what: str, command: str | None = None):
    """The notice a page shows when the file it needs is absent from the run folder."""
    return html.Div(
        className="lv-card lv-missing",
        children=[
            html.P(what),
            html.Code(command) if command else None,
        ],
    )


def thumb(data, row: int, *, caption: str | None = None, big: bool = False, title: str | None = None):
    uri = data.thumbnail(row)
    picture = (
        html.Img(src=uri, className="lv-img" + (" lv-img--big" if big else ""))
        if uri
        else html.Div(str(data.ids[row]), className="lv-img lv-img--none")
    )
    return html.Figure(
        className="lv-thumb",
        title=title or str(data.ids[row]),
        children=[picture, html.Figcaption(caption) if caption else None],
    )


def sample_card(data, row: int):
    """What the hover tooltip shows: the thumbnail and the sample's metadata."""
    fields = data.metadata_of(row, limit=8)
    return html.Div(
        className="lv-sample",
        children=[
            thumb(data, row, big=True),
            html.Div(
                children=[
                    html.Div(str(data.ids[row]), className="lv-sample-id"),
                    html.Dl(
                        className="lv-meta",
                        children=[
                            x
                            for name, value in fields
                            for x in (html.Dt(name.removeprefix(FACTOR_PREFIX)), html.Dd(_fmt(value)))
                        ],
                    ),
                ]
            ),
        ],
    )


def selection_panel(data, rows, *, limit: int):
    """Count, label mix, mean latent, decoded centroid (with a decoder) and thumbnails of a selection."""
    summary = logic.selection_summary(rows, labels=data.labels, z=data.z)
    count = summary["count"]
    head = html.Div(
        className="lv-stat",
        children=[
            html.Span(f"{count:,}", className="lv-count"),
            html.Span(" selected" if count != 1 else " selected point"),
        ],
    )
    if not count:
        return [head, hint("Nothing inside the selection.")]
    parts: list[Component] = [head]
    if summary["labels"]:
        parts.append(bars([(name, n / count, f"{n:,}") for name, n in summary["labels"]], title="label mix"))
    mean = np.asarray(summary["mean"])
    parts.append(latent_bars(mean, data.order, title="mean latent (most informative first)"))
    if data.model is not None:
        parts.append(
            html.Figure(
                className="lv-thumb lv-centroid",
                children=[
                    html.Img(src=output_uri(data.decode(mean[None, :])[0]), className="lv-img lv-img--big"),
                    html.Figcaption("decoded centroid"),
                ],
            )
        )
    shown = np.asarray(rows[:limit], dtype=int)
    parts.append(html.Div(className="lv-gallery", children=[thumb(data, int(r)) for r in shown]))
    if count > limit:
        parts.append(hint(f"first {limit} of {count:,} shown; export the CSV for all ids"))
    return parts


def neighbour_panel(data, row: int):
    """The clicked sample and its nearest neighbours from the run's graph, with distances."""
    head = html.Div(
        className="lv-focus",
        children=[
            thumb(data, row, big=True),
            html.Div(
                children=[
                    html.Div(str(data.ids[row]), className="lv-sample-id"),
                    html.Div(f"label {data.labels[row]}" if data.labels is not None else "", className="lv-muted"),
                    html.Button(
                        "Decode this point →",
                        id=ids.to_decode(data.id),
                        className="lv-button lv-button--small",
                        n_clicks=0,
                    )
                    if data.model is not None
                    else None,
                ]
            ),
        ],
    )
    graph = data.neighbours
    if graph is None:
        return [head, hint(f"No neighbour graph in this run ({NEIGHBORS}); run 'latentviz project' to add it.")]
    found = logic.nearest(graph.indices, graph.distances, row, NEIGHBOURS_SHOWN)
    return [
        head,
        html.Ol(
            className="lv-neighbours",
            children=[
                html.Li(
                    className="lv-neighbour",
                    children=thumb(data, r, caption=f"{d:.3g}", title=f"{data.ids[r]} · distance {d:.4g}"),
                )
                for r, d in found
            ],
        ),
    ]


def bars(items, *, title: str):
    """Horizontal bars in HTML: ``(name, share in [0, 1], value text)`` each."""
    return html.Div(
        className="lv-bars",
        children=[html.Div(title, className="lv-label")]
        + [
            html.Div(
                className="lv-bar-row",
                children=[
                    html.Span(str(name), className="lv-bar-name"),
                    html.Span(
                        className="lv-bar",
                        children=html.Span(className="lv-bar-fill", style={"width": f"{100 * share:.1f}%"}),
                    ),
                    html.Span(value, className="lv-bar-value"),
                ],
            )
            for name, share, value in items
        ],
    )


def latent_bars(values: np.ndarray, order, *, title: str):
    """Signed bars of a latent vector, in ``order``, scaled to ±3 (the prior's range)."""
    return html.Div(
        className="lv-bars",
        children=[html.Div(title, className="lv-label")]
        + [
            html.Div(
                className="lv-bar-row",
                children=[
                    html.Span(f"z{j}", className="lv-bar-name"),
                    html.Span(
                        className="lv-bar lv-bar--signed",
                        children=html.Span(
                            className="lv-bar-fill" + (" lv-bar-fill--neg" if values[j] < 0 else ""),
                            style={
                                "width": f"{min(50.0, abs(values[j]) / 3 * 50):.1f}%",
                                ("right" if values[j] < 0 else "left"): "50%",
                            },
                        ),
                    ),
                    html.Span(f"{values[j]:+.2f}", className="lv-bar-value"),
                ],
            )
            for j in order
        ],
    )


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)
