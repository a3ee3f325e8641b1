"""Compare: the runs' projections side by side (aligned to the first), linked selection, metric deltas,
similarity, and a step slider through a checkpoint series.

The panels are one layout repeated per run; their ids differ only in ``run``, and one ``ALL``
callback links a selection in any panel to the others with ``Patch()`` (no points are resent).
"""

from __future__ import annotations

import numpy as np
from dash import ALL, MATCH, Input, Output, Patch, State, ctx, dcc, html, no_update

from dashboards import ids, logic
from dashboards.pages import _parts
from dashboards.pages.explore import dense_scatter, dense_update, highlight, legend_count, painted
from latentviz.compare import MIN_SHARED, series_order
from latentviz.errors import InputError

SCOPE = "compare"
SERIES_METRICS = 6  # metrics drawn over a checkpoint series (the registry's first ones the runs have)
#: Most points a panel rings for a linked selection (a seeded sample of them above it): each ring is an SVG
#: marker, and a box over a density map of millions selects hundreds of thousands.
RINGS_MAX = 10_000


def common_method(store) -> str | None:
    """The first projection (UMAP, t-SNE, PCA) every run has."""
    from dashboards.store import MAP_ORDER

    for method in MAP_ORDER:
        if all(method in data.methods for data in store):
            return method
    return None


def panel_figure(store, data, method: str, color: str, view=None) -> dict:
    """One run's aligned map, drawn and painted as on the Explore page: above the display budget every point as
    a density image, re-aggregated for ``view`` (a zoom) as Explore's map is."""
    from latentviz.figures import projection_scatter

    layout = {"uirevision": f"compare-{data.id}", "legend": {"orientation": "h", "y": -0.08}}
    if data.dense(2):
        xy = store.aligned_xy(data.id, method)
        return dense_scatter(data, method, color, xy=xy, view=view, height=440, title=data.name, **layout)
    metadata, _ = data.metadata(None, method)
    fig = projection_scatter(
        store.aligned(data.id, method),
        metadata,
        method=method,
        highlight=[],
        max_points=data.budget,
        seed=data.seed,
        height=440,
        title=data.name,
        webgl_above=logic.WEBGL_ABOVE,
    )
    fig.update_layout(dragmode="select", **layout)
    return painted(fig, data, color, method)


def color_options(store) -> list[dict]:
    """The Compare page's colour-by choices."""
    return [
        {"label": f"agreement with {next(iter(store)).name} (k-NN Jaccard)", "value": "run_agreement"},
        {"label": "map faithfulness (latent neighbours kept)", "value": "agreement"},
        {"label": "label", "value": "label"},
        {"label": "nothing", "value": "none"},
    ]


def unmatched(store) -> str | None:
    """Why the runs cannot be compared (a run shares too few sample ids with the first), or None."""
    runs = list(store)
    for data in runs[1:]:
        shared = store.shared_ids[data.id]
        if shared < MIN_SHARED:
            return (
                f"Compare needs encodings of the same samples: {data.name} shares {shared:,} sample ids with "
                f"{runs[0].name}, and at least {MIN_SHARED} are needed (rows are matched by id)."
            )
    return None


def layout(store, run_id: str, *, focus=None):
    method = common_method(store)
    if method is None:
        return _parts.missing("Compare needs a projection that every run has.", "latentviz project RUN")
    reason = unmatched(store)
    if reason:
        return _parts.missing(reason)
    try:
        store.comparison()
    except InputError as exc:  # each run shares enough ids with the first, but all of them together too few
        return _parts.missing(str(exc))
    runs = list(store)
    color = "run_agreement"
    aligned = f"maps aligned to {runs[0].name} (Procrustes on shared ids)"
    return html.Div(
        className="lv-stack",
        children=[
            html.Div(
                className="lv-controls",
                children=[
                    _parts.control(
                        "colour by",
                        dcc.Dropdown(
                            id=ids.compare_color(SCOPE), value=color, clearable=False, options=color_options(store)
                        ),
                        wide=True,
                    ),
                    html.Div(aligned, className="lv-note"),
                    html.Div(id=ids.compare_note(SCOPE), className="lv-note lv-note--strong"),
                ],
            ),
            html.Div(
                className="lv-compare-panels",
                style={"--lv-cols": str(min(3, len(runs)))},
                children=[panel(store, d, method, color) for d in runs],
            ),
            html.Div(
                className="lv-grid-2",
                children=[
                    html.Div(className="lv-card", children=[html.H3("Metrics"), delta_table(store)]),
                    similarity_card(store),
                ],
            ),
            series_card(store, method),
        ],
    )


def panel(store, data, method: str, color: str):
    """One run's card: its map, and the stores of its view (a density map's zoom) and legend count."""
    figure = panel_figure(store, data, method, color)
    return html.Div(
        className="lv-card",
        children=[
            dcc.Graph(id=ids.compare_graph(data.id), figure=figure, config=_parts.SCATTER_CONFIG),
            dcc.Store(id=ids.compare_view(data.id), data=None),
            dcc.Store(id=ids.compare_legend(data.id), data=legend_count(figure)),
        ],
    )


def delta_table(store):
    """The runs' metrics side by side (in series order for a checkpoint series) with the change first → last."""
    from dashboards.pages.metrics import metric_facts, num
    from latentviz.figures import metric_values

    runs = list(store)
    runs = [runs[i] for i in series_order([d.run for d in runs]) or range(len(runs))]
    items = logic.metric_deltas({d.id: metric_values(d.run.metrics) for d in runs}, metric_facts())
    if not items:
        return _parts.hint("No run has metrics yet (latentviz metrics RUN).")
    head = html.Tr(
        [html.Th("metric")]
        + [html.Th(d.name, className="lv-num") for d in runs]
        + [html.Th("change", className="lv-num", title=f"{runs[-1].name} minus {runs[0].name}")]
    )
    body, group = [], None
    for row in items:
        if row["group"] and row["group"] != group:
            group = row["group"]
            body.append(html.Tr(html.Td(group, colSpan=len(runs) + 2, className="lv-group")))
        better = {True: " lv-good", False: " lv-bad"}.get(row["better"], "")
        body.append(
            html.Tr(
                [html.Td(row["metric"], className="lv-mono")]
                + [html.Td(num(row[d.id]), className="lv-num") for d in runs]
                + [html.Td(num(row["delta"]), className="lv-num" + better)]
            )
        )
    return html.Div(
        className="lv-scroll", children=html.Table(className="lv-table", children=[html.Thead(head), html.Tbody(body)])
    )


def similarity_card(store):
    from latentviz import figures as lvf

    score = store.comparison().scores["linear_cka"]
    figure = lvf.similarity_heatmap(
        score.values,
        names=[d.name for d in store],
        baseline=score.chance,
        title=f"Similarity of the runs ({score.similarity.label})",
    )
    return html.Div(className="lv-card", children=dcc.Graph(figure=figure, config={"displaylogo": False}))


def series_card(store, method: str):
    """A step slider through the runs of a checkpoint series (runs whose manifests carry a step), or None."""
    runs = list(store)
    order = series_order([d.run for d in runs])
    if order is None:
        return None
    steps = [runs[i].run.manifest.get("step", runs[i].run.manifest.get("epoch")) for i in order]
    return html.Div(
        className="lv-card",
        children=[
            html.H3("Checkpoint series"),
            html.Div(
                className="lv-step-slider",
                children=dcc.Slider(
                    id=ids.step_slider(SCOPE),
                    min=0,
                    max=len(order) - 1,
                    step=1,
                    value=0,
                    allow_direct_input=False,
                    marks={k: f"step {steps[k]}" for k in range(len(order))},
                ),
            ),
            html.Div(
                className="lv-grid-2 lv-top",
                children=[
                    dcc.Graph(
                        id=ids.step_graph(SCOPE),
                        figure=panel_figure(store, runs[order[0]], method, "label"),
                        config={"displaylogo": False},
                    ),
                    dcc.Graph(
                        figure=metric_series_figure([runs[i] for i in order], steps), config={"displaylogo": False}
                    ),
                ],
            ),
        ],
    )


def metric_series_figure(runs, steps):
    from dashboards.pages.metrics import metric_facts
    from latentviz.figures import metric_series, metric_values

    values = [metric_values(r.run.metrics) for r in runs]
    present = {name for v in values for name in v}
    names = [name for name in metric_facts() if name in present][:SERIES_METRICS] or sorted(present)[:SERIES_METRICS]
    series = {name: [np.nan if v.get(name) is None else v[name] for v in values] for name in names}
    return metric_series(steps, series, names=[r.name for r in runs])


def register(app, store) -> None:
    _parts.sharp_on_dense_screens(app, ids.compare_graph(MATCH))

    @app.callback(
        Output(ids.compare_graph(ALL), "figure"),
        Output(ids.compare_note(SCOPE), "children"),
        Input(ids.compare_graph(ALL), "selectedData"),
        State(ids.compare_graph(ALL), "id"),
        prevent_initial_call=True,
    )
    def link(selections, graph_ids):
        source = ctx.triggered_id
        if not isinstance(source, dict):
            return [no_update] * len(graph_ids), no_update
        method = common_method(store)
        panels = checked_panels(store, graph_ids)
        data = store[logic.one_of(source.get("run"), panels, name="panel")]
        selected = selections[panels.index(data.id)] if len(selections) == len(panels) else None
        selected = selected if isinstance(selected, dict) else None
        rows = logic.rows_in_selection(store.aligned_xy(data.id, method), selected)
        rows = np.array([], dtype=int) if rows is None else rows
        patches, sampled = [], False
        for run in panels:
            other = store[run]
            hits = rows if other is data else logic.shared_rows(data.ids, rows, other.ids)
            if len(hits) > RINGS_MAX:
                hits, sampled = np.sort(np.random.default_rng(other.seed).choice(hits, RINGS_MAX, replace=False)), True
            x, y = store.aligned_xy(other.id, method)
            patches.append(highlight(np.column_stack((x[hits], y[hits])), other.ids[hits]))
        note = "" if selected is None else f"{len(rows):,} selected in {data.name}, highlighted in every run"
        if sampled:
            note += f" ({RINGS_MAX:,} of them ringed in a panel where more are selected)"
        return patches, note

    @app.callback(
        Output(ids.compare_graph(ALL), "figure", allow_duplicate=True),
        Output(ids.compare_legend(ALL), "data"),
        Input(ids.compare_color(SCOPE), "value"),
        State(ids.compare_view(ALL), "data"),
        State(ids.compare_graph(ALL), "id"),
        prevent_initial_call=True,
    )
    def recolor(color, views, graph_ids):
        color = logic.one_of(color, [o["value"] for o in color_options(store)], name="colour by")
        method = common_method(store)
        panels = checked_panels(store, graph_ids)
        views = views if isinstance(views, list) and len(views) == len(panels) else [None] * len(panels)
        figures = [
            panel_figure(store, store[run], method, color, logic.check_view(view))
            for run, view in zip(panels, views, strict=True)
        ]
        return figures, [legend_count(figure) for figure in figures]

    _parts.track_view(app, ids.compare_graph(MATCH), ids.compare_view(MATCH))

    @app.callback(
        Output(ids.compare_graph(MATCH), "figure", allow_duplicate=True),
        Output(ids.compare_legend(MATCH), "data", allow_duplicate=True),
        Input(ids.compare_view(MATCH), "data"),
        State(ids.compare_color(SCOPE), "value"),
        State(ids.compare_legend(MATCH), "data"),
        State(ids.compare_graph(MATCH), "id"),
        prevent_initial_call=True,
    )
    def refocus(view, color, n_legend, gid):
        """A zoom or pan on a density panel re-aggregates the view, as on Explore."""
        color = logic.one_of(color, [o["value"] for o in color_options(store)], name="colour by")
        data = store[logic.one_of(gid.get("run") if isinstance(gid, dict) else None, store.ids, name="panel")]
        if not data.dense(2) or view is None:
            return no_update, no_update
        patch = Patch()
        xy = store.aligned_xy(data.id, common_method(store))
        return patch, dense_update(
            patch, data, common_method(store), color, logic.check_view(view), n_legend or 0, xy=xy
        )

    @app.callback(
        Output(ids.step_graph(SCOPE), "figure"), Input(ids.step_slider(SCOPE), "value"), prevent_initial_call=True
    )
    def step(position):
        order = series_order([d.run for d in store])
        position = int(logic.clamp(position, 0, len(order) - 1, name="step"))
        return panel_figure(store, list(store)[order[position]], common_method(store), "label")


def checked_panels(store, graph_ids) -> list[str]:
    """The runs of the Compare panels a callback names: each a run of the store, once."""
    runs = [g.get("run") if isinstance(g, dict) else None for g in graph_ids or []]
    if len(runs) > len(store) or len(set(map(str, runs))) != len(runs):
        raise InputError(f"compare: {len(runs)} panels named; this dashboard has {len(store)} runs, one panel each")
    return [store[r].id for r in runs]
