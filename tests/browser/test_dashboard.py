"""The dashboard in a real headless Chromium: click, drag, slide, then assert what changed.

One app (two copies of a small encoded run, with linear maps and the real neighbour graph) is
served on 127.0.0.1 at a free port for the module; every test loads the page afresh and ends by
asserting the browser console holds no errors.
"""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest

from dashboards.testing import (
    box_select,
    choose,
    click_at,
    console_errors,
    css,
    find,
    open_page,
    plot,
    point_position,
    ready,
    wait,
)

pytestmark = pytest.mark.browser

TIMEOUT = 30


@pytest.fixture(scope="module")
def runs(vae_run, add_maps, tmp_path_factory):
    """Two copies of the session's encoded run, with maps, neighbours and (different) metrics; the first clustered."""
    from latentviz.clusters import cluster_run
    from latentviz.run import write_json

    root = tmp_path_factory.mktemp("dash")
    paths = []
    for name, mig in (("alpha", 0.2), ("beta", 0.3)):
        path = root / name
        shutil.copytree(vae_run, path)
        add_maps(path)
        write_json(path / "metrics.json", {"mig": mig, "sap": 0.1, "detail": {}})
        paths.append(path)
    cluster_run(paths[0], min_cluster_size=5, quiet=True)
    return paths


@pytest.fixture(scope="module")
def server(runs):
    import logging

    from werkzeug.serving import make_server

    from dashboards.app import create_app

    app = create_app(runs, device="cpu")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/", app.store
    srv.shutdown()


@pytest.fixture
def browser(chrome):
    """The shared ``chrome`` fixture (tests/browser/conftest.py), wide enough for the side panels."""
    chrome.set_window_size(1500, 1000)
    return chrome


# -- tests -------------------------------------------------------------------------------------------
def _explore(browser, server):
    """Open the Explore page of the first run; return its RunData and scatter id once drawn."""
    from dashboards import ids

    url, store = server
    data = store[store.ids[0]]
    open_page(browser, url)
    graph = ids.graph(data.id)
    wait(browser, lambda d: ready(d, graph), "no scatter")
    return data, graph


def test_dshell001_every_page_renders_without_console_errors(browser, server):
    from selenium.webdriver.common.by import By

    from dashboards import ids

    url, store = server
    run = store.ids[0]
    expected = {
        "Explore": css(ids.graph(run)) + " .js-plotly-plot",
        "Dimensions": css(ids.dimension_figure(run, name="histograms")) + " .js-plotly-plot",
        "Metrics": ".lv-table td",
        "Decode": css(ids.decoded(run)),
        "Compare": css(ids.compare_graph(store.ids[1])) + " .js-plotly-plot",
    }
    open_page(browser, url)
    for tab, selector in expected.items():
        open_page(browser, url, tab)
        wait(
            browser,
            lambda d, selector=selector: d.find_elements(By.CSS_SELECTOR, selector),
            f"{tab} did not render {selector}",
        )
        assert console_errors(browser) == [], tab
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, ".lv-table tbody tr")]
    assert any(r.startswith("mig") and "0.2" in r and "0.3" in r for r in rows), rows


def test_plotly_js_is_fetched_with_the_page_and_evaluated_once(browser, server):
    """plotly.js is asked for with the page, not only after the first figure arrived, and loaded once:
    dcc.Graph waits on the page's promise instead of adding a second copy."""
    data, graph = _explore(browser, server)
    plotly_scripts, real, requested, first_figure = browser.execute_script(
        """
        const entries = performance.getEntriesByType('resource');
        const plotly = entries.filter(e => e.name.endsWith('plotly.min.js'));
        const callbacks = entries.filter(e => e.name.includes('_dash-update-component'));
        return [document.querySelectorAll('script[src$="plotly.min.js"]').length,
                typeof window.Plotly.newPlot === 'function',
                Math.min(...plotly.map(e => e.startTime)),
                Math.min(...callbacks.map(e => e.responseEnd))];
        """
    )
    assert plotly_scripts == 1 and real
    assert requested < first_figure  # before the first callback (the page's figure) has answered
    assert console_errors(browser) == []


def test_dexp001_color_by_changes_the_plot(browser, server):
    from dashboards import ids

    data, graph = _explore(browser, server)
    run = data.id
    before = plot(browser, graph, "[gd.data[0].marker.color.slice(0, 50), gd._fullLayout.legend.title.text]")
    choose(browser, ids.color(run), "latent z0")
    wait(
        browser, lambda d: plot(d, graph, "gd._fullLayout.legend.title.text") == "z0", "the legend title did not change"
    )
    after = plot(
        browser,
        graph,
        "[Array.from(gd.data[0].marker.color).slice(0, 50), gd.data[0].marker.showscale, "
        "gd.data.filter(t => t.meta === 'legend').length]",
    )
    assert after[0] != before[0] and after[1] is True and after[2] == 0  # numbers on a colour scale, no legend traces
    assert console_errors(browser) == []


def test_dexp005_colour_by_cluster_and_clicking_a_cluster_selects_its_points(browser, server):
    from selenium.webdriver.common.by import By

    from dashboards import ids
    from dashboards.images import output_uri

    data, graph = _explore(browser, server)
    run = data.id
    choose(browser, ids.color(run), "cluster")
    wait(browser, lambda d: plot(d, graph, "gd._fullLayout.legend.title.text") == "cluster", "not coloured by cluster")
    names = plot(browser, graph, "gd.data.filter(t => t.meta === 'legend').map(t => t.name)")
    expected = {"outlier" if c < 0 else str(c) for c in data.clusters[data.shown]}
    assert set(names) == expected and len(expected) >= 2, names
    pairs = browser.find_elements(By.CSS_SELECTOR, ".lv-cluster-pair")  # the run has a decoder
    assert len(pairs) == min(len(data.cluster_entries), 12)
    first = data.cluster_entries[0]
    images = pairs[0].find_elements(By.TAG_NAME, "img")
    assert [i.get_attribute("title") for i in images] == [
        f"decoded {w} of cluster {first['cluster']}" for w in ("centroid", "medoid")
    ]
    decoded = data.decode(np.asarray([first["centroid"], data.z[data.row_of[first["medoid"]]]], dtype=np.float32))
    assert [i.get_attribute("src") for i in images] == [output_uri(o) for o in decoded]
    entry = data.cluster_entries[-1]  # the smallest cluster: the list is largest first
    find(browser, ids.cluster_item(run, cluster=entry["cluster"])).click()
    count = wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, css(ids.gallery(run)) + " .lv-count"),
        "clicking a cluster did not fill the gallery",
    )[0]
    assert count.text == f"{entry['size']:,}"
    thumbs = browser.find_elements(By.CSS_SELECTOR, css(ids.gallery(run)) + " .lv-gallery .lv-thumb")
    members = set(data.ids[data.clusters == entry["cluster"]])
    assert thumbs and {t.get_attribute("title") for t in thumbs} <= members
    assert console_errors(browser) == []


def test_dexp002_box_selection_fills_the_gallery_with_the_right_count(browser, server):
    from selenium.webdriver.common.by import By

    from dashboards import ids

    data, graph = _explore(browser, server)
    expected = box_select(browser, graph, data.coords(next(iter(data.methods)), 2))
    assert 0 < len(expected) < data.n
    count = wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, css(ids.gallery(data.id)) + " .lv-count"),
        "the gallery did not fill",
    )[0]
    assert count.text == f"{len(expected):,}"
    thumbs = browser.find_elements(By.CSS_SELECTOR, css(ids.gallery(data.id)) + " .lv-gallery .lv-thumb")
    assert len(thumbs) == min(len(expected), 60)
    assert sorted(t.get_attribute("title") for t in thumbs) == sorted(data.ids[expected][:60])
    assert console_errors(browser) == []


def test_dexp003_clicking_a_point_lists_its_neighbours(browser, server):
    from selenium.webdriver.common.by import By

    from dashboards import ids

    data, graph = _explore(browser, server)
    coords = data.coords(next(iter(data.methods)), 2)
    row = int(np.argmax(np.linalg.norm(coords - coords.mean(axis=0), axis=1)))  # an outlier: nothing overlaps it
    click_at(browser, point_position(browser, graph, *coords[row]))
    panel = css(ids.neighbours(data.id))
    items = wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, panel + " .lv-neighbour .lv-thumb"), "no neighbours"
    )
    shown = data.row_of[browser.find_element(By.CSS_SELECTOR, panel + " .lv-sample-id").text]
    assert np.allclose(coords[shown], coords[row])  # that point (or an exact duplicate drawn on top of it)
    graph_rows = data.neighbours.indices[shown, : len(items)]
    assert [i.get_attribute("title").split(" ")[0] for i in items] == list(data.ids[graph_rows])
    assert console_errors(browser) == []


def _decode_page(browser, url, store):
    from dashboards import ids

    run = store.ids[0]
    open_page(browser, url, "Decode")
    find(browser, ids.decoded(run))
    wait(browser, lambda d: ready(d, ids.decode_picker(run)), "no picker")
    return run


def test_ddec001_moving_a_slider_changes_the_decoded_image(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from dashboards import ids

    url, store = server
    run = _decode_page(browser, url, store)
    image = find(browser, ids.decoded(run))
    before = image.get_attribute("src")
    first = store[run].order[0]
    handle = browser.find_element(By.CSS_SELECTOR, css(ids.slider(run, dim=first)) + " [role='slider']")
    handle.click()
    handle.send_keys(*[Keys.ARROW_RIGHT] * 80)
    wait(
        browser, lambda d: find(d, ids.decoded(run)).get_attribute("src") != before, "the decoded image did not change"
    )
    assert console_errors(browser) == []


def test_ddec002_interpolation_between_two_points_shows_a_strip(browser, server):
    from selenium.webdriver.common.by import By

    from dashboards import ids

    url, store = server
    run = _decode_page(browser, url, store)
    data = store[run]
    coords = data.coords(next(iter(data.methods)), 2)
    far = np.argsort(-np.linalg.norm(coords - coords.mean(axis=0), axis=1))[:2]
    picker = ids.decode_picker(run)
    for row in far:
        before = find(browser, ids.decode_ab(run)).text
        click_at(browser, point_position(browser, picker, *coords[row]))
        wait(
            browser,
            lambda d, before=before: find(d, ids.decode_ab(run)).text != before,
            "the click did not pick a point",
        )
    strip = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, css(ids.strip(run)) + " img"), "no strip")[0]
    assert strip.get_attribute("src").startswith("data:image/png;base64,")
    assert strip.get_attribute("title") == f"slerp from {data.ids[far[0]]} to {data.ids[far[1]]}"
    assert console_errors(browser) == []


def test_dcmp001_selecting_in_one_run_highlights_the_same_ids_in_the_other(browser, server):
    from dashboards import ids

    url, store = server
    first, second = (store[r] for r in store.ids)
    open_page(browser, url, "Compare")
    source, target = ids.compare_graph(first.id), ids.compare_graph(second.id)
    wait(browser, lambda d: ready(d, target), "no panels")
    wait(browser, lambda d: ready(d, source), "no panels")
    expected = box_select(browser, source, store.aligned(first.id, "umap")[["umap_0", "umap_1"]].to_numpy())
    highlighted = wait(browser, lambda d: plot(d, target, "gd.data[gd.data.length - 1].customdata"), "no highlight")
    wait(
        browser,
        lambda d: len(plot(d, target, "gd.data[gd.data.length - 1].customdata") or []) == len(expected),
        f"expected {len(expected)} highlighted, got {len(highlighted)}",
    )
    assert sorted(plot(browser, target, "gd.data[gd.data.length - 1].customdata")) == sorted(first.ids[expected])
    assert console_errors(browser) == []


def test_dexp004_hovering_a_point_shows_its_thumbnail_and_metadata(browser, server):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    from dashboards import ids

    data, graph = _explore(browser, server)
    coords = data.coords(next(iter(data.methods)), 2)
    row = int(np.argmin(coords[:, 1]))
    x, y = point_position(browser, graph, *coords[row])
    hover = ActionBuilder(browser)
    hover.pointer_action.move_to_location(int(x) + 1, int(y))
    hover.pointer_action.move_to_location(int(x), int(y))
    hover.perform()
    card = css(ids.tooltip(data.id)) + " .lv-sample"
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, card + " .lv-sample-id"), "no tooltip")
    shown = data.row_of[browser.find_element(By.CSS_SELECTOR, card + " .lv-sample-id").text]
    assert np.allclose(coords[shown], coords[row])  # that point (or an exact duplicate drawn on top of it)
    assert browser.find_element(By.CSS_SELECTOR, card + " img").get_attribute("src").startswith("data:image/png")
    assert console_errors(browser) == []


def test_dexp005_search_by_label_rings_every_match(browser, server):
    from selenium.webdriver.common.keys import Keys

    from dashboards import ids

    data, graph = _explore(browser, server)
    label = str(data.labels[0])
    find(browser, ids.search(data.id)).send_keys(label, Keys.ENTER)
    expected = int((data.labels.astype(str) == label).sum())
    wait(
        browser,
        lambda d: len(plot(d, graph, "gd.data[gd.data.length - 1].customdata") or []) == expected,
        f"expected {expected} ringed points",
    )
    assert find(browser, ids.search_note(data.id)).text == f"{expected:,} matches"
    assert console_errors(browser) == []


@pytest.fixture(scope="module")
def webgl_server(tmp_path_factory):
    """A run with more points than the dashboard draws in SVG: its Explore scatter is WebGL."""
    import logging

    from conftest import write_maps, write_run
    from werkzeug.serving import make_server

    from dashboards import logic
    from dashboards.app import create_app

    rng = np.random.default_rng(0)
    n = logic.WEBGL_ABOVE + 1000
    labels = rng.integers(0, 4, n)
    path = write_run(
        tmp_path_factory.mktemp("webgl") / "big",
        rng.normal(size=(n, 4)) + 4 * labels[:, None],
        labels=[f"class {c}" for c in labels],
    )
    write_maps(path)
    app = create_app([path], load_model=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/", app.store
    srv.shutdown()


def test_dexp006_webgl_scatter_recolours_point_by_point_and_selects(browser, webgl_server):
    """Above the SVG limit the points get RGB rows (no per-point colour parsing); colours and selection still hold."""
    from selenium.webdriver.common.by import By

    from dashboards import ids
    from dashboards.pages.explore import colors_of

    data, graph = _explore(browser, webgl_server)
    assert plot(browser, graph, "gd._fullData[0].type") == "scattergl"
    choose(browser, ids.color(data.id), "latent z0")
    wait(
        browser, lambda d: plot(d, graph, "gd._fullLayout.legend.title.text") == "z0", "the legend title did not change"
    )
    drawn = plot(browser, graph, "Array.from(gd._fullData[0].marker.color.slice(0, 200), c => Array.from(c))")
    method = next(iter(data.methods))
    expected = _rgb_rows(colors_of(data, "z:0", method)[0]["marker"]["color"])
    assert np.array_equal(np.array(drawn), expected[:200])
    assert len(set(map(tuple, drawn))) > 50  # a colour scale, not one colour
    assert browser.find_elements(By.CSS_SELECTOR, css(graph) + " .colorbar")  # the scale's bar is drawn

    width = plot(browser, graph, "gd._fullLayout.width")
    rows = box_select(browser, graph, data.coords(method, 2))
    count = wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, css(ids.gallery(data.id)) + " .lv-count"),
        "the gallery did not fill",
    )[0]
    assert count.text == f"{len(rows):,}" and 0 < len(rows) < data.n
    time.sleep(1)  # a resize would follow the gallery's layout within a frame or two
    assert plot(browser, graph, "gd._fullLayout.width") == width  # the filled gallery did not resize (redraw) the map
    assert console_errors(browser) == []


def _rgb_rows(spec: dict) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.uint8).reshape(-1, 3)


def test_dexp007_webgl_draws_at_the_screens_pixel_ratio(browser, webgl_server):
    """One WebGL pixel per screen pixel: 1 on a normal screen (not plotly's default 2), 2 on a dense one."""
    canvas_ratio = "(c => c.width / c.clientWidth)(gd.querySelector('canvas.gl-canvas-context'))"
    data, graph = _explore(browser, webgl_server)
    assert plot(browser, graph, "gd._context.plotGlPixelRatio") == 1 and plot(browser, graph, canvas_ratio) == 1
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 1500, "height": 1000, "deviceScaleFactor": 2, "mobile": False}
    )
    data, graph = _explore(browser, webgl_server)
    wait(browser, lambda d: plot(d, graph, "gd._context.plotGlPixelRatio") == 2, "the ratio did not follow the screen")
    wait(browser, lambda d: plot(d, graph, canvas_ratio) == 2, "the canvas was not redrawn at the screen's ratio")
    assert console_errors(browser) == []
