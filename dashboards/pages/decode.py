"""Decode: slide each latent and watch the decoder's output, traverse, interpolate, follow a direction.

Needs the run's model (code it names reloads only with ``--trust-checkpoint`` or this machine's
record, see :mod:`latentviz.trust`). Without one the page says why and shows the traversal images
the traversal stage saved in the run folder.
"""

from __future__ import annotations

import numpy as np
from dash import ALL, MATCH, Input, Output, State, dcc, html, no_update

from dashboards import ids, logic
from dashboards.images import file_uri, output_uri, strip_uri
from dashboards.pages import _parts
from latentviz.errors import InputError

GRID_DIMS = 8
GRID_STEPS = 9
DIRECTION_SPAN = 3.0
#: The interpolation slider's (fewest, most) steps; the callback clamps to the same range.
INTERP_STEPS = (3, 15)
INTERP_MODES = ("slerp", "lerp")


def layout(store, run_id: str, *, focus=None):
    data = store[run_id]
    if data.model is None:
        return saved_traversals(data)
    r = data.id
    came_from_explore = isinstance(focus, dict) and focus.get("run") == r
    start = logic.check_row(focus.get("index"), data.n, name="focus") if came_from_explore else 0
    state = {"a": start, "b": None, "next": "b" if came_from_explore else "a"}
    lo, hi = data.slider_bounds
    kl = data.kl_per_dim
    sliders = [
        html.Div(
            className="lv-slider-row",
            children=[
                html.Span(f"z{j}", className="lv-slider-name", title=f"KL {kl[j]:.3g} nats" if kl else None),
                dcc.Slider(
                    id=ids.slider(r, dim=j),
                    min=float(lo[j]),
                    max=float(hi[j]),
                    step=0.01,
                    value=float(data.z[start, j]),
                    marks=None,
                    updatemode="drag",
                    allow_direct_input=False,
                    tooltip={"placement": "top", "always_visible": False},
                    className="lv-slider",
                ),
                html.Span(f"{kl[j]:.2f}" if kl else "", className="lv-muted lv-slider-kl"),
            ],
        )
        for j in data.order
    ]
    picker = _picker_figure(data)
    return html.Div(
        className="lv-decode",
        children=[
            dcc.Store(id=ids.decode_sample(r), data=state),
            html.Section(
                className="lv-card",
                children=[
                    html.H3("Pick points"),
                    _parts.hint(
                        "Click a point to make it A (the sliders start from it), then another for B. "
                        "A point clicked in Explore arrives here as A."
                    ),
                    dcc.Graph(
                        id=ids.decode_picker(r), figure=picker, config={"displaylogo": False}, className="lv-picker"
                    )
                    if picker is not None
                    else _parts.hint("No projection in this run; pick by id in Explore."),
                    html.Div(id=ids.decode_ab(r), className="lv-ab", children=ab_panel(data, state)),
                ],
            ),
            html.Section(
                className="lv-card",
                children=[
                    html.H3("Decode"),
                    html.Div(
                        className="lv-decoded-row",
                        children=[
                            html.Img(
                                id=ids.decoded(r),
                                className="lv-img lv-img--decoded",
                                src=output_uri(data.decode(data.z[start])[0]),
                            ),
                            html.Div(
                                className="lv-slider-head",
                                children=[
                                    html.Span("latent (most informative first)", className="lv-label"),
                                    html.Span("KL", className="lv-label") if kl else None,
                                ],
                            ),
                        ],
                    ),
                    html.Div(className="lv-sliders", children=sliders),
                    html.Div(
                        className="lv-buttons",
                        children=[
                            html.Button("Reset to A", id=ids.decode_reset(r), className="lv-button", n_clicks=0),
                            html.Button(
                                "Traversal grid",
                                id=ids.grid_button(r),
                                className="lv-button lv-button--primary",
                                n_clicks=0,
                            ),
                        ],
                    ),
                    html.Div(id=ids.grid(r), className="lv-strip"),
                ],
            ),
            html.Section(
                className="lv-card",
                children=[
                    html.H3("Interpolate A → B"),
                    html.Div(
                        className="lv-controls lv-controls--tight",
                        children=[
                            _parts.control(
                                "path",
                                dcc.RadioItems(
                                    id=ids.interp_mode(r),
                                    value="slerp",
                                    inline=True,
                                    className="lv-radio",
                                    options=[{"label": m, "value": m} for m in INTERP_MODES],
                                ),
                            ),
                            _parts.control(
                                "steps",
                                dcc.Slider(
                                    id=ids.interp_steps(r),
                                    min=INTERP_STEPS[0],
                                    max=INTERP_STEPS[1],
                                    step=1,
                                    value=8,
                                    allow_direct_input=False,
                                    marks={k: str(k) for k in (INTERP_STEPS[0], 8, INTERP_STEPS[1])},
                                ),
                                wide=True,
                            ),
                        ],
                    ),
                    html.Div(id=ids.strip(r), className="lv-strip", children=_parts.hint("Pick B to see the path.")),
                    html.H3("Move A along a direction"),
                    dcc.Dropdown(
                        id=ids.direction(r),
                        options=data.direction_options(),
                        value=None,
                        placeholder="choose a direction…",
                    ),
                    html.Div(id=ids.direction_strip(r), className="lv-strip"),
                ],
            ),
        ],
    )


def _picker_figure(data):
    if not data.methods:
        return None
    from latentviz.figures import projection_scatter

    method = next(iter(data.methods))
    metadata, column = data.metadata("label" if data.labels is not None else None, method)
    fig = projection_scatter(
        data.projections,
        metadata,
        method=method,
        color_by=column,
        highlight=[],
        max_points=min(data.budget, 20_000),
        seed=data.seed,
        height=360,
        title="",
    )
    fig.update_layout(
        showlegend=False,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        dragmode="pan",
        xaxis={"title": None},
        yaxis={"title": None},
    )
    return fig


def ab_panel(data, state: dict):
    """Thumbnails of the picked points A and B."""

    def slot(name):
        row = state.get(name)
        return html.Div(
            className="lv-slot",
            children=[
                html.Span(name.upper(), className="lv-slot-name"),
                _parts.thumb(data, row, caption=str(data.ids[row]))
                if row is not None
                else html.Div("—", className="lv-img lv-img--none"),
            ],
        )

    return [slot("a"), slot("b")]


def saved_traversals(data):
    """The fallback without a model: every PNG the traversal stage wrote into the run folder."""
    note = html.Div(
        className="lv-card lv-missing",
        children=[
            html.P(f"Live decoding is unavailable: {data.model_note}."),
            html.P(
                "Showing the traversal images saved in the run folder."
                if data.run.traversal_dir.is_dir()
                else f"No saved traversals either; run 'latentviz traverse {data.path}'."
            ),
        ],
    )
    pictures = []
    if data.run.traversal_dir.is_dir():
        for path in sorted(data.run.traversal_dir.glob("*.png")):
            try:
                checked = logic.file_in_run(data.path, path.relative_to(data.path))
            except InputError:  # a link that leads out of the run folder is not shown
                continue
            pictures.append(
                html.Figure(
                    className="lv-card lv-saved",
                    children=[
                        html.Img(src=file_uri(checked), className="lv-img lv-img--grid"),
                        html.Figcaption(path.stem),
                    ],
                )
            )
    return html.Div(className="lv-stack", children=[note, *pictures])


def slider_code(data, values, slider_ids, state) -> np.ndarray:
    """The code the sliders describe (point A with each slider's value), checked and clamped to the sliders' range."""
    dims = [s.get("dim") if isinstance(s, dict) else None for s in slider_ids or []]
    return logic.slider_code(values, dims, data.z[logic.ab_state(state, data.n)["a"]], bounds=data.slider_bounds)


def register(app, store) -> None:
    @app.callback(
        Output(ids.decode_sample(MATCH), "data"),
        Input(ids.decode_picker(MATCH), "clickData"),
        State(ids.decode_sample(MATCH), "data"),
        State(ids.decode_picker(MATCH), "id"),
        prevent_initial_call=True,
    )
    def pick(click, state, gid):
        from dashboards.pages.explore import first_point, row_of_point

        data = store[gid["run"]]
        row = row_of_point(data, first_point(click))
        return no_update if row is None else logic.next_ab(logic.ab_state(state, data.n), row)

    @app.callback(
        Output(ids.slider(MATCH, dim=ALL), "value"),
        Output(ids.decode_ab(MATCH), "children"),
        Input(ids.decode_sample(MATCH), "data"),
        Input(ids.decode_reset(MATCH), "n_clicks"),
        State(ids.slider(MATCH, dim=ALL), "id"),
        State(ids.decode_sample(MATCH), "id"),
        prevent_initial_call=True,
    )
    def to_a(state, _reset, slider_ids, sid):
        data = store[sid["run"]]
        state = logic.ab_state(state, data.n)
        code = slider_code(data, [None] * len(slider_ids or []), slider_ids, state)  # A's code; the ids checked
        return [float(code[s["dim"]]) for s in slider_ids], ab_panel(data, state)

    @app.callback(
        Output(ids.decoded(MATCH), "src"),
        Input(ids.slider(MATCH, dim=ALL), "value"),
        State(ids.slider(MATCH, dim=ALL), "id"),
        State(ids.decode_sample(MATCH), "data"),
        State(ids.decode_sample(MATCH), "id"),
        prevent_initial_call=True,
    )
    def decode(values, slider_ids, state, sid):
        data = store[sid["run"]]
        return output_uri(data.decode(slider_code(data, values, slider_ids, state))[0])

    @app.callback(
        Output(ids.grid(MATCH), "children"),
        Input(ids.grid_button(MATCH), "n_clicks"),
        State(ids.slider(MATCH, dim=ALL), "value"),
        State(ids.slider(MATCH, dim=ALL), "id"),
        State(ids.decode_sample(MATCH), "data"),
        State(ids.decode_sample(MATCH), "id"),
        prevent_initial_call=True,
    )
    def grid(_clicks, values, slider_ids, state, sid):
        data = store[sid["run"]]
        code = slider_code(data, values, slider_ids, state)
        dims = data.order[:GRID_DIMS]
        steps = np.linspace(-3, 3, GRID_STEPS)
        outputs = data.grid(code, dims, steps)
        return html.Img(
            src=strip_uri(outputs, [f"{v:+.1f}" for v in steps], row_labels=[f"z{j}" for j in dims]),
            className="lv-img lv-img--grid",
        )

    @app.callback(
        Output(ids.strip(MATCH), "children"),
        Input(ids.decode_sample(MATCH), "data"),
        Input(ids.interp_mode(MATCH), "value"),
        Input(ids.interp_steps(MATCH), "value"),
        State(ids.decode_sample(MATCH), "id"),
    )
    def interpolate(state, mode, steps, sid):
        from latentviz.traversal import interpolate as path

        data = store[sid["run"]]
        state = logic.ab_state(state, data.n)
        steps = int(logic.clamp(steps, *INTERP_STEPS, name="steps"))
        mode = logic.one_of(mode, INTERP_MODES, name="path")
        if state["b"] is None:
            return _parts.hint("Pick B to see the path.")
        codes = path(data.z[state["a"]], data.z[state["b"]], steps, mode)
        labels = ["A"] + [""] * (steps - 2) + ["B"]
        return html.Img(
            src=strip_uri(data.decode(codes)[None], labels, row_labels=[mode]),
            className="lv-img lv-img--grid",
            title=f"{mode} from {data.ids[state['a']]} to {data.ids[state['b']]}",
        )

    @app.callback(
        Output(ids.direction_strip(MATCH), "children"),
        Input(ids.direction(MATCH), "value"),
        Input(ids.decode_sample(MATCH), "data"),
        State(ids.decode_sample(MATCH), "id"),
        prevent_initial_call=True,
    )
    def along(choice, state, sid):
        if not choice:
            return None
        data = store[sid["run"]]
        state = logic.ab_state(state, data.n)
        options = {o["value"]: o["label"] for o in data.direction_options()}
        label = options[logic.one_of(choice, options, name="direction")]
        offsets = np.linspace(-DIRECTION_SPAN, DIRECTION_SPAN, GRID_STEPS)
        codes = data.z[state["a"]][None, :] + offsets[:, None] * data.direction(choice)[None, :]
        return html.Img(
            src=strip_uri(data.decode(codes)[None], [f"{v:+.1f}" for v in offsets], row_labels=[label]),
            className="lv-img lv-img--grid",
        )
