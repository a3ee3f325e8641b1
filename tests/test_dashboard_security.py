"""The dashboard's server against a hostile web page: foreign Host headers (DNS rebinding), callback
input no control can send, oversized bodies; Compare over runs that share no ids; the waitress server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from dashboards import ids, logic
from latentviz.errors import InputError

FOREIGN = "attacker.example.com"


@pytest.fixture(scope="module")
def small_app(tmp_path_factory):
    """An app over one small run with maps (no model), answering also to ``--host lab-box.lan``."""
    from conftest import write_maps, write_run

    from dashboards.app import create_app

    z = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    path = write_maps(write_run(tmp_path_factory.mktemp("sec") / "r", z, labels=["a", "b"] * 100))
    return create_app([path], load_model=False, hosts=("lab-box.lan",))


def callback(client, output: str, outputs, inputs, state=(), host="127.0.0.1:8050"):
    """POST one callback request the way Dash's renderer does; ``inputs``/``state`` are (id, prop, value)."""

    def spec(items):
        return [{"id": i, "property": p, "value": v} for i, p, v in items]

    body = {
        "output": output,
        "outputs": outputs,
        "inputs": spec(inputs),
        "state": spec(state),
        "changedPropIds": [json.dumps(inputs[0][0], sort_keys=True, separators=(",", ":")) + "." + inputs[0][1]],
    }
    return client.post("/_dash-update-component", json=body, headers={"Host": host})


def search_request(app, query, host="127.0.0.1:8050"):
    r = "r"
    return callback(
        app.server.test_client(),
        '..{"run":["MATCH"],"type":"explore-graph"}.figure@'
        + _hash(app, "explore-search-note")
        + '...{"run":["MATCH"],"type":"explore-search-note"}.children..',
        [{"id": ids.graph(r), "property": "figure"}, {"id": ids.search_note(r), "property": "children"}],
        [(ids.search(r), "value", query)],
        [(ids.projection(r), "value", "umap"), (ids.dims(r), "value", 2), (ids.graph(r), "id", ids.graph(r))],
        host=host,
    )


def _hash(app, second_output: str) -> str:
    """The suffix Dash gives an ``allow_duplicate`` output, read from the app's callback map."""
    key = next(k for k in app.callback_map if second_output in k and "@" in k)
    return key.split("@")[1].split(".")[0]


# -- Host header (DNS rebinding) ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8050", "localhost", "localhost:8050", "[::1]:8050", "127.3.2.1", "lab-box.lan", "LAB-BOX.lan:8050"],
)
def test_loopback_names_and_the_users_host_are_answered(small_app, host):
    client = small_app.server.test_client()
    for url in ("/", "/_dash-layout", "/_dash-dependencies", "/assets/style.css", _script(small_app)):
        assert client.get(url, headers={"Host": host}).status_code == 200, url
    assert search_request(small_app, "a", host=host).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        FOREIGN,
        f"{FOREIGN}:8050",
        "127.0.0.1.attacker.example.com",
        "localhost.evil",
        "lab-box.lan.evil",
        "",
        "[::2]:8050",
        "0x7f000001",
    ],
)
def test_foreign_host_headers_get_403_on_every_route(small_app, host):
    client = small_app.server.test_client()
    for url in (
        "/",
        "/_dash-layout",
        "/_dash-dependencies",
        "/assets/style.css",
        "/_favicon.ico",
        _script(small_app),
        "/x.png",
    ):
        response = client.get(url, headers={"Host": host})
        assert response.status_code == 403, url
        assert b"latentviz: refused" in response.data and b'"props"' not in response.data
    response = search_request(small_app, "a", host=host)
    assert response.status_code == 403 and b"figure" not in response.data


def _script(app) -> str:
    """The first component-suite script the page loads (a route Dash serves from its packages)."""
    import re

    page = app.server.test_client().get("/", headers={"Host": "localhost"}).data.decode()
    return re.search(r'src="(/_dash-component-suites/[^"]+)"', page).group(1)


def test_host_names_are_parsed_like_a_browser_sends_them():
    from dashboards.security import allowed_host, host_name

    assert host_name("[::1]:8050") == "[::1]" and host_name("Example.COM:80") == "example.com"
    assert host_name("a b") is None and host_name(None) is None
    assert allowed_host("[fe80::1]:8050", extra=("fe80::1",))  # an IPv6 --host matches its bracketed form
    assert not allowed_host("[fe80::1]:8050")


# -- bounded callback work --------------------------------------------------------------------------------
def test_interpolation_steps_are_clamped_to_the_sliders_range(vae_run):
    from dashboards.app import create_app
    from dashboards.pages.decode import INTERP_STEPS

    app = create_app([vae_run], device="cpu")
    r = app.store.ids[0]
    assert app.store[r].model is not None
    client = app.server.test_client()

    def strip(steps):
        response = callback(
            client,
            '{"run":["MATCH"],"type":"decode-strip"}.children',
            {"id": ids.strip(r), "property": "children"},
            [
                (ids.decode_sample(r), "data", {"a": 0, "b": 5, "next": "a"}),
                (ids.interp_mode(r), "value", "lerp"),
                (ids.interp_steps(r), "value", steps),
            ],
            [(ids.decode_sample(r), "id", ids.decode_sample(r))],
        )
        assert response.status_code == 200
        return response.data

    most = strip(INTERP_STEPS[1])
    huge = strip(20_000)
    assert huge == most and len(huge) < 200_000  # the 20,000-step request drew the 15-step strip
    assert strip(8) != most
    assert strip(-5) == strip(INTERP_STEPS[0])


def test_a_lasso_of_too_many_vertices_or_crossings_is_refused_in_one_line(small_app):
    client = small_app.server.test_client()
    r = "r"

    def select(lasso):
        return callback(
            client,
            '{"run":["MATCH"],"type":"explore-selection"}.data',
            {"id": ids.selection(r), "property": "data"},
            [(ids.graph(r), "selectedData", lasso)],
            [(ids.projection(r), "value", "umap"), (ids.dims(r), "value", 2), (ids.graph(r), "id", ids.graph(r))],
        )

    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    ring = {"lassoPoints": {"x": (2 * np.cos(t)).tolist(), "y": (2 * np.sin(t)).tolist()}}
    assert select(ring).status_code == 200
    many = np.linspace(0, 2 * np.pi, logic.MAX_LASSO_VERTICES + 1, endpoint=False)
    response = select({"lassoPoints": {"x": np.cos(many).tolist(), "y": np.sin(many).tolist()}})
    assert response.status_code == 400 and response.data.decode().count("\n") == 1
    assert f"at most {logic.MAX_LASSO_VERTICES:,} vertices" in response.data.decode()
    zigzag = {
        "lassoPoints": {"x": np.linspace(-2, 2, 200).tolist(), "y": [-9.0, 9.0] * 100}
    }  # spans every row 200 times
    response = select(zigzag)
    assert response.status_code == 400 and b"draw a simpler lasso" in response.data


def test_lasso_membership_of_a_concave_polygon_follows_its_definition():
    """An L-shaped lasso (the unit square minus its upper-right quarter), against its analytic inside."""
    rng = np.random.default_rng(1)
    xy = rng.uniform(-0.2, 1.2, size=(5_000, 2))
    shape = {"lassoPoints": {"x": [0, 1, 1, 0.5, 0.5, 0], "y": [0, 0, 0.5, 0.5, 1, 1]}}
    x, y = xy[:, 0], xy[:, 1]
    inside = (x > 0) & (x < 1) & (y > 0) & (y < 1) & ~((x > 0.5) & (y > 0.5))
    assert logic.rows_in_selection(xy, shape).tolist() == np.flatnonzero(inside).tolist()


def test_search_text_is_bounded_by_the_boxs_max_length(small_app):
    from dashboards.pages.explore import SEARCH_MAX_CHARS

    assert search_request(small_app, "a" * SEARCH_MAX_CHARS).status_code == 200
    response = search_request(small_app, "a" * 20_000)
    assert response.status_code == 400 and f"at most {SEARCH_MAX_CHARS} characters".encode() in response.data


def test_gallery_refuses_rows_the_run_does_not_have(small_app):
    client = small_app.server.test_client()
    r = "r"

    def gallery(rows):
        return callback(
            client,
            '{"run":["MATCH"],"type":"explore-gallery"}.children',
            {"id": ids.gallery(r), "property": "children"},
            [(ids.selection(r), "data", rows)],
            [(ids.graph(r), "id", ids.graph(r))],
        )

    assert gallery([0, 5, 199]).status_code == 200
    for rows in ([0, 200], [-1], list(range(201)), ["0"], 7):
        assert gallery(rows).status_code == 400, rows


def test_unknown_control_values_are_refused_not_500(small_app):
    client = small_app.server.test_client()
    r = "r"
    redraw = next(
        k
        for k in small_app.callback_map  # figure, legend and the view store (a duplicate output)
        if k.startswith(
            '..{"run":["MATCH"],"type":"explore-graph"}.figure...{"run":["MATCH"],"type":"explore-legend"}.data'
        )
    )
    outputs = [
        {"id": ids.graph(r), "property": "figure"},
        {"id": ids.legend(r), "property": "data"},
        {"id": ids.view(r), "property": "data"},
    ]
    for method, dims, color in (("umap", 2, "label"), ("nope", 2, "label"), ("umap", 7, "label"), ("umap", 2, "z:99")):
        response = callback(
            client,
            redraw,
            outputs,
            [(ids.projection(r), "value", method), (ids.dims(r), "value", dims)],
            [(ids.color(r), "value", color), (ids.graph(r), "id", ids.graph(r))],
        )
        assert response.status_code == (200 if method == "umap" and dims == 2 and color == "label" else 400)
    with pytest.raises(InputError, match="not a number"):
        logic.clamp("3", 0, 1, name="steps")


def test_request_bodies_above_the_limit_get_413(small_app):
    client = small_app.server.test_client()
    limit = small_app.server.config["MAX_CONTENT_LENGTH"]
    assert limit >= 2**20
    response = client.post(
        "/_dash-update-component",
        data=b"[" + b"0," * (limit // 2) + b"0]",
        headers={"Host": "127.0.0.1", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


# -- Compare over runs that share no ids ----------------------------------------------------------------------
def test_compare_of_runs_with_disjoint_ids_says_why_instead_of_500(tmp_path):
    from conftest import write_maps, write_run

    from dashboards.app import create_app

    rng = np.random.default_rng(0)
    paths = [
        write_maps(
            write_run(
                tmp_path / name, rng.normal(size=(40, 3)).astype(np.float32), ids=[f"{name}{i}" for i in range(40)]
            )
        )
        for name in ("a", "b")
    ]
    client = create_app(paths, load_model=False).server.test_client()
    response = callback(
        client,
        '{"run":"app","type":"page"}.children',
        {"id": ids.page(ids.APP), "property": "children"},
        [(ids.tabs(ids.APP), "value", "compare"), (ids.run_picker(ids.APP), "value", "a")],
        [(ids.focus(ids.APP), "data", None)],
    )
    assert response.status_code == 200
    assert "b shares 0 sample ids with a, and at least 12 are needed" in response.data.decode()
    assert "compare-graph" not in response.data.decode()


# -- waitress ---------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, host=None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def test_dashboard_command_serves_with_waitress_not_the_development_server(small_app):
    port = _free_port()
    run = small_app.store["r"].path
    process = subprocess.Popen(
        [sys.executable, "-m", "latentviz", "dashboard", str(run), "--port", str(port), "--no-model"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                status, body, headers = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                time.sleep(0.1)
        assert status == 200 and b"<!DOCTYPE html>" in body
        assert headers["Server"] == "waitress"
        assert _get(f"http://127.0.0.1:{port}/_dash-layout", host=FOREIGN)[0] == 403
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert f"latentviz dashboard on http://127.0.0.1:{port}/" in err
    assert "development server" not in err.lower() and "werkzeug" not in err.lower()


def test_a_port_in_use_is_one_line_not_a_traceback(small_app, cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("dashboard", small_app.store["r"].path, "--port", port, "--no-model")
    assert result.code == 2
    assert result.err.startswith(f"latentviz: error: --port {port}: cannot listen on 127.0.0.1:{port}")
    assert result.err.count("\n") == 1


def test_the_address_is_given_once_the_first_density_map_is_built(small_app, monkeypatch, capsys):
    """Above the display budget the first map (seconds of datashader compiling) is built before the server
    answers: the printed address draws at once. Building it is slowed here, so a server that answered
    while the warm-up ran would be caught with the thread alive."""
    import waitress

    from dashboards import app as app_module
    from dashboards.pages import explore

    built = explore.dense_scatter

    def slow_dense_scatter(*args, **kwargs):
        time.sleep(0.5)
        return built(*args, **kwargs)

    served = {}

    class Server:
        def run(self):
            served["warming"] = [thread.is_alive() for thread in served["app"].warming]
            served["printed"] = capsys.readouterr().err

    create_app = app_module.create_app

    def small_budget_app(*args, **kwargs):
        served["app"] = create_app(*args, budget=50, **kwargs)
        return served["app"]

    monkeypatch.setattr(explore, "dense_scatter", slow_dense_scatter)
    monkeypatch.setattr(app_module, "create_app", small_budget_app)
    monkeypatch.setattr(waitress, "create_server", lambda *args, **kwargs: Server())
    app_module.serve([small_app.store["r"].path], load_model=False)
    assert served["warming"] == [False]  # one run of 200 points above a budget of 50: one warm-up, finished
    assert served["printed"].index("preparing the density map of 1 run(s)") < served["printed"].index(
        "latentviz dashboard on http://127.0.0.1:8050/"
    )
    assert served["app"].store["r"]._cache_whole_map.cache_info().currsize == 1  # kept for the first visit
