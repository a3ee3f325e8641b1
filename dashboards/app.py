"""The Dash application: a shell (run picker, tabs) around the pages, over a :class:`RunStore`.

``create_app`` builds the app without serving it (tests and ``latentviz.show`` use it);
``serve`` runs it with waitress on 127.0.0.1 unless told otherwise. Layout lives in the page modules, the work
behind every callback in :mod:`dashboards.logic` and :mod:`latentviz.figures`.
"""

from __future__ import annotations

from pathlib import Path

from dashboards import ids, logic, security
from dashboards.store import RunStore

ASSETS = Path(__file__).parent / "assets"


def _pages():
    from dashboards.pages import compare, decode, dimensions, explore, metrics

    return {"explore": explore, "dimensions": dimensions, "metrics": metrics, "decode": decode, "compare": compare}


def create_app(
    run_paths,
    *,
    load_model: bool = True,
    device: str = "auto",
    policy=None,
    budget: int = logic.DISPLAY_BUDGET,
    hosts=(),
    trust_checkpoint: bool = False,
):
    """Build the dashboard over ``run_paths`` (one or more run folders).

    Parameters
    ----------
    run_paths : list of path-like
        Run folders; the first is shown first, all of them appear in Compare.
    load_model : bool
        Reload each run's model for live decoding; ``False`` shows the precomputed traversal
        images instead. A model that runs code reloads only with ``trust_checkpoint`` or this
        machine's record that its user made the run (:mod:`latentviz.trust`); otherwise the
        Decode page says why and shows the precomputed images.
    device : str
        Where decoding runs: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``mps``.
    policy : path-like, optional
        An audit policy (YAML); its results appear on the Metrics page.
    budget : int
        Most points drawn in one scatter; above it a seeded stratified sample is drawn.
    hosts : iterable of str
        Host names answered besides the loopback ones (the ``--host`` the server binds);
        requests for any other ``Host`` get 403 (see :mod:`dashboards.security`).
    trust_checkpoint : bool
        Reload the models even where they run code and this machine has no record of them.

    Returns
    -------
    dash.Dash
    """
    from latentviz._optional import require

    dash = require("dash", purpose="the dashboard")
    from dash import Input, Output, State, dcc, html

    store = RunStore(
        run_paths, load_model=load_model, device=device, budget=budget, policy=policy, trust_checkpoint=trust_checkpoint
    )
    pages = _pages()
    app = dash.Dash(
        __name__,
        title="latentviz",
        assets_folder=str(ASSETS),
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    tabs = [
        dcc.Tab(label=name.capitalize(), value=name, className="lv-tab", selected_className="lv-tab--on")
        for name in pages
        if name != "compare" or len(store) > 1
    ]
    first = store.ids[0]
    app.index_string = _index_string(app.config.requests_pathname_prefix)
    app.layout = html.Div(
        className="lv-app",
        children=[
            html.Header(
                className="lv-header",
                children=[
                    html.Div(className="lv-brand", children=[html.Span("latent", className="lv-brand-a"), "viz"]),
                    dcc.Tabs(
                        id=ids.tabs(ids.APP),
                        value="explore",
                        children=tabs,
                        className="lv-tabs",
                        parent_className="lv-tabs-parent",
                    ),
                    html.Div(
                        className="lv-runpick",
                        children=[
                            html.Span("run", className="lv-label"),
                            dcc.Dropdown(
                                id=ids.run_picker(ids.APP),
                                value=first,
                                clearable=False,
                                searchable=False,
                                options=[{"label": r, "value": r} for r in store.ids],
                                className="lv-dropdown",
                            ),
                        ],
                        style=None if len(store) > 1 else {"display": "none"},
                    ),
                ],
            ),
            dcc.Store(id=ids.focus(ids.APP), data=None),
            html.Main(id=ids.page(ids.APP), className="lv-main"),
        ],
    )

    @app.callback(
        Output(ids.page(ids.APP), "children"),
        Input(ids.tabs(ids.APP), "value"),
        Input(ids.run_picker(ids.APP), "value"),
        State(ids.focus(ids.APP), "data"),
    )
    def render(tab, run_id, focus):
        return pages[logic.one_of(tab, pages, name="tab")].layout(store, store[run_id or first].id, focus=focus)

    for page in pages.values():
        page.register(app, store)
    security.protect(app, hosts=hosts, max_bytes=security.request_limit(store))
    app.store = store
    app.warming = pages["explore"].warm(store)  # serve() waits for these; see warm()
    return app


def _index_string(prefix: str) -> str:
    """Dash's page, with plotly.js (4.8 MB: about 0.9 s of evaluation in a software-rendered Chromium) fetched
    at once and evaluated while the renderer waits for its layout and first callbacks, instead of only once the
    first figure has arrived. dcc.Graph takes ``window.Plotly`` when it is set and waits on it when it is a
    promise, so the page never loads plotly.js twice."""
    plotly_js = f"{prefix}_dash-component-suites/plotly/package_data/plotly.min.js"
    return f"""<!DOCTYPE html>
<html>
    <head>
        {{%metas%}}
        <title>{{%title%}}</title>
        {{%favicon%}}
        <link rel="preload" as="script" href="{plotly_js}">
        {{%css%}}
    </head>
    <body>
        {{%app_entry%}}
        <footer>
            {{%config%}}
            {{%scripts%}}
            {{%renderer%}}
            <script>
            window.Plotly = window.Plotly || new Promise(function (resolve, reject) {{
                var script = document.createElement("script");
                script.src = "{plotly_js}";
                script.onload = function () {{ resolve(window.Plotly); }};
                script.onerror = reject;
                document.head.appendChild(script);
            }});
            </script>
        </footer>
    </body>
</html>"""


def serve(
    run_paths,
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    load_model: bool = True,
    device: str = "auto",
    policy=None,
    threads: int = 8,
    trust_checkpoint: bool = False,
) -> None:
    """Serve the dashboard with waitress until interrupted; binds 127.0.0.1 unless ``host`` says otherwise.

    waitress is a production WSGI server: ``threads`` requests run at once, so a team can share
    one dashboard and a slow decode does not hold up the others' callbacks. A run above the display
    budget has its first density map built before the server answers (seconds: datashader compiles),
    so the address printed is ready to draw.
    """
    import waitress

    from latentviz.errors import InputError
    from latentviz.progress import say

    app = create_app(
        run_paths, load_model=load_model, device=device, policy=policy, hosts=(host,), trust_checkpoint=trust_checkpoint
    )
    try:
        server = waitress.create_server(
            app.server,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=app.server.config["MAX_CONTENT_LENGTH"],
        )
    except OSError as exc:
        raise InputError(
            f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
        ) from None
    if app.warming:  # bound, not yet answering: the first visit's map is built before the address is given
        say(f"latentviz dashboard: preparing the density map of {len(app.warming)} run(s)")
        for thread in app.warming:
            thread.join()
    name = security.normal_host(host)
    if not security.is_loopback(name):
        say(f"warning: --host {host} lets other machines on the network browse these runs")
    say(f"latentviz dashboard on http://{name}:{port}/  (Ctrl+C to stop)")
    server.run()
