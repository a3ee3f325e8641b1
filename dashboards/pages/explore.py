"""Explore: the projection scatter, colour-by, hover thumbnails, selection gallery, neighbours, clusters, search, export.

The scatter comes from the same builder as the report (:func:`latentviz.figures.projection_scatter`);
recolouring and highlighting are ``Patch()`` updates, so the coordinates are sent once.
"""

from __future__ import annotations

import contextlib
import html as _html

import numpy as np
from dash import ALL, MATCH, Input, Output, Patch, State, ctx, dcc, html, no_update

from dashboards import ids, logic
from dashboards.pages import _parts
from latentviz import figures
from latentviz.figures import ACCENT, legend_3d
from latentviz.run import method_label, projection_table

GALLERY_MAX = 60
#: Longest search text: the search box's ``maxLength``, and what the server accepts.
SEARCH_MAX_CHARS = 200


def layout(store, run_id: str, *, focus=None):
    data = store[run_id]
    if not data.methods:
        return _parts.missing("This run has no projections yet.", f"latentviz project {data.path}")
    method = next(iter(data.methods))
    color = "label" if data.labels is not None else "none"
    r = data.id
    figure = scatter(data, method, 2, color)
    return html.Div(
        className="lv-explore",
        children=[
            html.Div(
                className="lv-controls",
                children=[
                    _parts.control(
                        "projection",
                        dcc.Dropdown(
                            id=ids.projection(r),
                            value=method,
                            clearable=False,
                            searchable=False,
                            options=[{"label": method_label(m), "value": m} for m in data.methods],
                        ),
                    ),
                    _parts.control(
                        "view",
                        dcc.RadioItems(
                            id=ids.dims(r),
                            value=2,
                            inline=True,
                            className="lv-radio",
                            options=[
                                {"label": "2-D", "value": 2},
                                {"label": "3-D", "value": 3, "disabled": max(data.methods.values()) < 3},
                            ],
                        ),
                    ),
                    _parts.control(
                        "colour by",
                        dcc.Dropdown(id=ids.color(r), value=color, clearable=False, options=data.color_options()),
                        wide=True,
                    ),
                    _parts.control(
                        "find id or label",
                        dcc.Input(
                            id=ids.search(r),
                            type="search",
                            debounce=True,
                            maxLength=SEARCH_MAX_CHARS,
                            placeholder="e.g. 17 or circle",
                            className="lv-input",
                        ),
                    ),
                    html.Div(id=ids.search_note(r), className="lv-note"),
                    html.Div(className="lv-spacer"),
                    html.Button("Export selection (CSV)", id=ids.export(r), className="lv-button", n_clicks=0),
                    dcc.Download(id=ids.download(r)),
                ],
            ),
            html.Div(
                className="lv-explore-body",
                children=[
                    html.Div(
                        className="lv-card lv-graph-card",
                        children=[
                            dcc.Graph(
                                id=ids.graph(r),
                                figure=figure,
                                className="lv-graph",
                                config={**_parts.SCATTER_CONFIG, "modeBarButtonsToRemove": ["autoScale2d", "toImage"]},
                            ),
                            dcc.Tooltip(id=ids.tooltip(r), direction="right", className="lv-tooltip"),
                        ],
                    ),
                    html.Aside(
                        className="lv-side",
                        children=[
                            html.Section(
                                className="lv-card",
                                children=[
                                    html.H3("Nearest neighbours"),
                                    html.Div(
                                        id=ids.neighbours(r),
                                        children=_parts.hint(
                                            "Click a point to list its nearest neighbours in the latent space."
                                        ),
                                    ),
                                ],
                            ),
                            html.Section(
                                className="lv-card",
                                children=[
                                    html.H3("Selection"),
                                    html.Div(
                                        id=ids.gallery(r),
                                        children=_parts.hint("Drag a box or lasso on the map to select points."),
                                    ),
                                ],
                            ),
                            cluster_card(data),
                        ],
                    ),
                ],
            ),
            dcc.Store(id=ids.selection(r), data=None),
            dcc.Store(id=ids.legend(r), data=legend_count(figure)),
            dcc.Store(id=ids.view(r), data=None),
        ],
    )


#: Entries of the cluster list, at most (the largest clusters).
CLUSTERS_LISTED = 100
#: Clusters whose decoded centroid and medoid are shown (one batch of decodes when the page opens).
CLUSTERS_DECODED = 12


def cluster_card(data):
    """The cluster list (size, purity, top labels), largest first; clicking one selects its points. None without clusters.

    With a decoder, the largest clusters also show their decoded centroid and decoded medoid side by side.
    """
    entries = data.cluster_entries
    if not entries:
        return None
    pictures = decoded_pairs(data, entries[:CLUSTERS_DECODED])
    items = []
    for k, entry in enumerate(entries[:CLUSTERS_LISTED]):
        purity = "" if entry["purity"] is None else f" · purity {entry['purity']:.0%}"
        pair = None
        if k < len(pictures):
            pair = html.Span(
                className="lv-cluster-pair",
                children=[
                    html.Img(src=uri, className="lv-img", title=f"decoded {what} of cluster {entry['cluster']}")
                    for uri, what in zip(pictures[k], ("centroid", "medoid"), strict=True)
                ],
            )
        items.append(
            html.Li(
                html.Button(
                    id=ids.cluster_item(data.id, cluster=entry["cluster"]),
                    n_clicks=0,
                    className="lv-cluster",
                    children=[
                        pair,
                        html.Strong(f"cluster {entry['cluster']}"),
                        f" · {entry['size']:,} points{purity}",
                        html.Span(f" {entry['top_labels']}" if entry["top_labels"] else "", className="lv-muted"),
                    ],
                )
            )
        )
    note = (
        _parts.hint(f"the {CLUSTERS_LISTED} largest of {len(entries):,} clusters")
        if len(entries) > CLUSTERS_LISTED
        else None
    )
    return html.Section(
        className="lv-card",
        children=[
            html.H3("Clusters"),
            html.Ol(className="lv-clusters", children=items),
            note,
            _parts.hint("Click a cluster to select its points."),
        ],
    )


def decoded_pairs(data, entries) -> list[tuple[str, str]]:
    """(decoded centroid, decoded medoid) image URIs of each entry, in one batch; empty without a decoder."""
    if data.model is None or not entries:
        return []
    from dashboards.images import output_uri

    codes = [e["centroid"] for e in entries] + [data.z[data.row_of[e["medoid"]]] for e in entries]
    outputs = data.decode(np.asarray(codes, dtype=np.float32))
    return [(output_uri(outputs[k]), output_uri(outputs[len(entries) + k])) for k in range(len(entries))]


def scatter(data, method: str, dims: int, color: str | None) -> dict:
    """The Explore scatter as a figure dict: the shared builder's layout, painted with the shared colours.

    The builder draws the points uncoloured and :func:`paint` applies ``scatter_colors``, the
    same two steps a recolouring ``Patch`` takes; as a dict the 100k per-point colours skip
    plotly's per-element validation (seconds at 100k points), and the figure is otherwise the
    one the report draws.
    """
    from latentviz.figures import projection_scatter_3d

    if data.dense(dims):
        return dense_scatter(data, method, color)
    metadata, _ = data.metadata(None, method)
    frame = data.projections
    three_d = dims == 3 and data.methods.get(method, 2) >= 3
    if three_d:
        fig = projection_scatter_3d(frame, metadata, method=method, max_points=data.budget, seed=data.seed)
    else:
        fig = figures.projection_scatter(
            frame,
            metadata,
            method=method,
            highlight=[],
            max_points=data.budget,
            seed=data.seed,
            height=600,
            webgl_above=logic.WEBGL_ABOVE,
        )
        fig.update_layout(dragmode="select")
    fig.update_traces(hoverinfo="none", hovertemplate=None, selector={"name": "points"})
    fig.update_layout(uirevision=f"{data.id}-{method}-{dims}", margin={"t": 56, "r": 8}, height=None, autosize=True)
    return painted(fig, data, color, method, three_d=three_d)


def painted(fig, data, color: str | None, method: str, *, three_d: bool = False) -> dict:
    """An uncoloured builder figure as a dict, painted with the colour-by choice (see :func:`scatter`)."""
    fig.update_layout(legend={"title": {"text": ""}})
    figure = fig.to_plotly_json()
    colors, title = colors_of(data, color, method, three_d=three_d)
    if colors is not None:
        paint(figure, colors, 0, title=title)
    return figure


def colors_of(
    data, color: str | None, method: str, *, three_d: bool = False, rows=None
) -> tuple[dict | None, str | None]:
    """``scatter_colors`` of a colour-by choice for the drawn rows, and its legend title; (None, None) for none.

    ``rows`` are the points drawn over a density image (default: the display sample); they take
    the whole column's categories or span, which the image shows.
    """
    values, column = data.color_values(color, method)
    if values is None:
        return None, None
    whole: dict = {}
    if rows is not None:
        coloring = data.density_coloring(color, method)
        whole = (
            {"categories": list(coloring["categories"].categories)}
            if "categories" in coloring
            else {"span": coloring["span"]}
        )
    rows = data.shown if rows is None else rows
    rgb = figures.uses_webgl(min(data.n, data.budget), logic.WEBGL_ABOVE) and not three_d
    colors = figures.scatter_colors(
        np.asarray(values)[rows], name=figures.display_name(column), rgb=rgb, mode=logic.color_mode(color)[1], **whole
    )
    if three_d:
        colors["legend"] = [legend_3d(trace) for trace in colors["legend"]]
    return colors, figures.display_name(column)


def warm(store) -> list:
    """Build the first page of each run above the display budget on a thread, and return the threads:
    datashader's kernels compile (seconds, once per process) and the map's columns, its colour key and its
    whole-map image are read and kept, so the first page view does not wait for them; then the ids and
    the latents a selection's gallery and a colouring read. :func:`dashboards.app.serve` waits for them
    before it listens; a notebook's app answers at once."""
    import threading

    def build(data):
        with contextlib.suppress(Exception):  # the page reports any error itself when it is opened
            layout(store, data.id)  # the first page view's own work, its density map included
            data.ids, data.z  # noqa: B018 - read once here, not in the first selection's callback

    threads = [
        threading.Thread(target=build, args=(data,), name=f"latentviz-warm-{data.id}", daemon=True)
        for data in store
        if data.dense(2) and data.methods
    ]
    for thread in threads:
        thread.start()
    return threads


def dense_scatter(
    data, method: str, color: str | None, *, xy=None, view=None, height=600, title=None, **layout
) -> dict:
    """The map of a run above the display budget: every point in a density image, the points in view over it
    once they fit the budget (see :func:`dense_update`); the builder's layout, as :func:`scatter` has it.

    Explore draws the run's own map; Compare passes ``xy``, the run's map aligned to the first run's, its
    ``view`` after a zoom, and its panel's ``height``, ``title`` and ``layout`` (``uirevision``, legend).
    """
    empty = projection_table(np.array([], dtype=str), {method: np.empty((0, 2), dtype=np.float32)})
    fig = figures.projection_scatter(
        empty, None, method=method, highlight=[], height=height, title=title, webgl_above=-1
    )
    fig.update_layout(
        dragmode="select",
        uirevision=f"{data.id}-{method}-2",
        margin={"t": 56, "r": 8},
        height=None,
        autosize=True,
        legend={"title": {"text": ""}},
        title={"subtitle": {"text": ""}},
    )
    fig.update_layout(**layout)
    fig.update_traces(hoverinfo="none", hovertemplate=None, selector={"name": "points"})
    figure = fig.to_plotly_json()
    dense_update(figure, data, method, color, view, 0, xy=xy)
    if view is not None:  # a new figure keeps the zoomed-in view it is drawn for
        figure["layout"]["xaxis"]["range"], figure["layout"]["yaxis"]["range"] = list(view[0]), list(view[1])
    return figure


def dense_update(target, data, method: str, color: str | None, view, n_legend: int, *, xy=None) -> int:
    """Draw the view ``(x range, y range, pixel size)`` (None: the whole map) into a figure dict or ``Patch``.

    The density image of every point is aggregated for exactly the view, at the plot's pixel size;
    the points in view are drawn over it as the usual WebGL scatter (hover cards, clicks) once they
    are at most the display budget, and none are sent before. ``xy`` is another placement of the
    run's points (Compare's aligned map; default: the run's own map, whose whole-map image is kept).
    Returns the legend's trace count.
    """
    from latentviz.figures import DENSITY_SIZE, compact, density_image, extent, in_view, text

    x, y = data.xy(method) if xy is None else xy
    x_range, y_range, size = view or (*(data.extent(method) if xy is None else extent(x, y)), DENSITY_SIZE)
    visible = in_view(x, y, x_range, y_range)
    # drawn in a seeded shuffle, as the display sample is: no class painted over the others by its row order
    drawn = np.random.default_rng(data.seed).permutation(visible) if len(visible) <= data.budget else visible[:0]
    if view is None and xy is None:
        image = data.whole_map(color, method)
    else:
        image = density_image(x, y, x_range=x_range, y_range=y_range, size=size, **data.density_coloring(color, method))
    colors, title = colors_of(data, color, method, rows=drawn)
    paint(target, colors, n_legend, title=title)
    points = target["data"][0]
    points["x"], points["y"] = compact(x[drawn]), compact(y[drawn])
    points["customdata"] = [text(i) for i in data.ids[drawn]] if len(drawn) else []
    points["marker"]["size"] = 3 if len(drawn) > 20_000 else 5
    target["layout"]["images"] = [image]
    if view is None:  # the whole map, by explicit ranges: plotly's autorange would fit the (few or no) points drawn
        target["layout"]["xaxis"]["range"], target["layout"]["yaxis"]["range"] = list(x_range), list(y_range)
    shown = (
        f"{len(drawn):,} points drawn" if len(drawn) else f"zoom in to {data.budget:,} points to see them one by one"
    )
    target["layout"]["title"]["subtitle"]["text"] = (
        f"all {data.n:,} points as density, {len(visible):,} in view; " + shown
    )
    return len(colors["legend"]) if colors else 0


def checked_view(data, method, dims, color=None) -> None:
    """Refuse Explore control values the controls do not offer (callback input is untrusted)."""
    logic.one_of(method, data.methods, name="projection")
    logic.one_of(dims, (2, 3), name="view")
    if color is not None:
        logic.one_of(color, [o["value"] for o in data.color_options()], name="colour by")


def first_point(event) -> dict:
    """The first point of a plotly click or hover event; an empty dict when there is none."""
    points = event.get("points") if isinstance(event, dict) else None
    return points[0] if isinstance(points, list) and points and isinstance(points[0], dict) else {}


def row_of_point(data, point: dict) -> int | None:
    """The data row of a plotly point: its id is the point's ``customdata`` (escaped by the builder)."""
    ident = point.get("customdata")
    if isinstance(ident, list):
        ident = ident[0] if ident else None
    return None if ident is None else data.row_of.get(_html.unescape(str(ident)))


def register(app, store) -> None:
    _parts.sharp_on_dense_screens(app, ids.graph(MATCH))

    @app.callback(
        Output(ids.graph(MATCH), "figure"),
        Output(ids.legend(MATCH), "data"),
        Output(ids.view(MATCH), "data", allow_duplicate=True),
        Input(ids.projection(MATCH), "value"),
        Input(ids.dims(MATCH), "value"),
        State(ids.color(MATCH), "value"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def redraw(method, dims, color, gid):
        data = store[gid["run"]]
        checked_view(data, method, dims, color)
        fig = scatter(data, method, dims, color)
        return fig, legend_count(fig), None

    _parts.track_view(app, ids.graph(MATCH), ids.view(MATCH))

    @app.callback(
        Output(ids.graph(MATCH), "figure", allow_duplicate=True),
        Output(ids.legend(MATCH), "data", allow_duplicate=True),
        Input(ids.view(MATCH), "data"),
        State(ids.color(MATCH), "value"),
        State(ids.projection(MATCH), "value"),
        State(ids.dims(MATCH), "value"),
        State(ids.legend(MATCH), "data"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def refocus(view, color, method, dims, n_legend, gid):
        data = store[gid["run"]]
        checked_view(data, method, dims, color)
        if not data.dense(dims) or view is None:
            return no_update, no_update
        patch = Patch()
        return patch, dense_update(patch, data, method, color, logic.check_view(view), n_legend or 0)

    @app.callback(
        Output(ids.graph(MATCH), "figure", allow_duplicate=True),
        Output(ids.legend(MATCH), "data", allow_duplicate=True),
        Input(ids.color(MATCH), "value"),
        State(ids.projection(MATCH), "value"),
        State(ids.dims(MATCH), "value"),
        State(ids.legend(MATCH), "data"),
        State(ids.view(MATCH), "data"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def recolor(color, method, dims, n_legend, view, gid):
        data = store[gid["run"]]
        checked_view(data, method, dims, color)
        if data.dense(dims):
            patch = Patch()
            return patch, dense_update(patch, data, method, color, logic.check_view(view), n_legend or 0)
        colors, title = colors_of(data, color, method, three_d=dims == 3 and data.methods.get(method, 2) >= 3)
        return paint(Patch(), colors, n_legend or 0, title=title), len(colors["legend"]) if colors else 0

    @app.callback(
        Output(ids.selection(MATCH), "data"),
        Input(ids.graph(MATCH), "selectedData"),
        State(ids.projection(MATCH), "value"),
        State(ids.dims(MATCH), "value"),
        State(ids.graph(MATCH), "id"),
    )
    def select(selected, method, dims, gid):
        data = store[gid["run"]]
        checked_view(data, method, dims)
        selected = selected if isinstance(selected, dict) else None
        rows = logic.rows_in_selection(data.xy(method), selected) if dims == 2 else None
        if rows is None and selected and isinstance(selected.get("points"), list):
            rows = [
                r
                for r in (row_of_point(data, p) for p in selected["points"][: data.n] if isinstance(p, dict))
                if r is not None
            ]
        return None if rows is None else [int(r) for r in rows]

    @app.callback(
        Output(ids.selection(MATCH), "data", allow_duplicate=True),
        Input(ids.cluster_item(MATCH, cluster=ALL), "n_clicks"),
        prevent_initial_call=True,
    )
    def select_cluster(clicks):
        picked = ctx.triggered_id
        if not isinstance(picked, dict) or not any(clicks or []):
            return no_update
        return store[picked["run"]].cluster_rows(picked["cluster"])

    @app.callback(
        Output(ids.gallery(MATCH), "children"),
        Input(ids.selection(MATCH), "data"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def gallery(rows, gid):
        data = store[gid["run"]]
        if rows is None:
            return _parts.hint("Drag a box or lasso on the map to select points.")
        return _parts.selection_panel(data, logic.check_rows(rows, data.n), limit=GALLERY_MAX)

    @app.callback(
        Output(ids.neighbours(MATCH), "children"),
        Output(ids.focus(ids.APP), "data"),
        Input(ids.graph(MATCH), "clickData"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def clicked(click, gid):
        data = store[gid["run"]]
        row = row_of_point(data, first_point(click))
        if row is None:
            return no_update, no_update
        return _parts.neighbour_panel(data, row), {"run": data.id, "index": row}

    @app.callback(Output(ids.tabs(ids.APP), "value"), Input(ids.to_decode(ALL), "n_clicks"), prevent_initial_call=True)
    def to_decode(clicks):
        return "decode" if any(clicks) else no_update

    @app.callback(
        Output(ids.tooltip(MATCH), "show"),
        Output(ids.tooltip(MATCH), "bbox"),
        Output(ids.tooltip(MATCH), "children"),
        Input(ids.graph(MATCH), "hoverData"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def hover(hovered, gid):
        data = store[gid["run"]]
        point = first_point(hovered)
        row = row_of_point(data, point)
        if row is None or "bbox" not in point:
            return False, no_update, no_update
        return True, point["bbox"], _parts.sample_card(data, row)

    @app.callback(
        Output(ids.graph(MATCH), "figure", allow_duplicate=True),
        Output(ids.search_note(MATCH), "children"),
        Input(ids.search(MATCH), "value"),
        State(ids.projection(MATCH), "value"),
        State(ids.dims(MATCH), "value"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def search(query, method, dims, gid):
        data = store[gid["run"]]
        checked_view(data, method, dims)
        query = logic.check_text(query, SEARCH_MAX_CHARS, name="search")
        rows = logic.search_rows(query, data.ids, data.labels)
        if dims != 2:
            return no_update, "search highlights in 2-D"
        x, y = data.xy(method)
        patch = highlight(np.column_stack((x[rows], y[rows])), data.ids[rows])
        note = "" if not (query or "").strip() else f"{len(rows):,} match" + ("" if len(rows) == 1 else "es")
        return patch, note

    @app.callback(
        Output(ids.download(MATCH), "data"),
        Input(ids.export(MATCH), "n_clicks"),
        State(ids.selection(MATCH), "data"),
        State(ids.graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def export(_clicks, rows, gid):
        data = store[gid["run"]]
        if not rows:
            return no_update
        return {
            "content": logic.selection_csv(data.ids[logic.check_rows(rows, data.n)]),
            "filename": f"{data.id}-selection.csv",
            "type": "text/csv",
        }


def highlight(xy: np.ndarray, point_ids) -> Patch:
    """A ``Patch`` that rings the points ``xy`` (ids ``point_ids``) in the last trace; nothing else is resent."""
    patch = Patch()
    patch["data"][-1]["x"] = xy[:, 0].tolist()
    patch["data"][-1]["y"] = xy[:, 1].tolist()
    patch["data"][-1]["customdata"] = [_html.escape(str(i), quote=False) for i in point_ids]
    patch["data"][-1]["marker"]["size"] = logic.highlight_size(len(xy))
    return patch


def legend_count(figure: dict) -> int:
    """How many legend-only traces follow ``data[0]`` in a figure dict."""
    return sum(1 for trace in figure["data"] if trace.get("meta") == "legend")


def paint(target, colors: dict | None, n_legend: int, *, title: str | None):
    """Recolour ``data[0]`` and swap its ``n_legend`` legend traces for new ones, coordinates untouched.

    ``target`` is a figure dict or a ``Patch`` (both take the same item, ``del`` and ``insert``
    operations); ``colors`` is what :func:`latentviz.figures.scatter_colors` returns, or None for
    the plain colour.
    """
    marker = colors["marker"] if colors else {"color": ACCENT, "showscale": False}
    for key, value in marker.items():
        target["data"][0]["marker"][key] = value
    target["data"][0]["text"] = colors["text"] if colors else []
    for _ in range(n_legend):
        del target["data"][1]
    for k, trace in enumerate(colors["legend"] if colors else []):
        target["data"].insert(1 + k, trace)
    target["layout"]["legend"]["title"]["text"] = title or ""
    return target
