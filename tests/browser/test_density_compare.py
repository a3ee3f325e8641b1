"""Compare above the display budget, in a real headless Chromium: each run's aligned map shows every point as
a density image, a selection in one is highlighted in the other, and a zoom re-aggregates a panel.

Two synthetic runs of 300,000 points each share 20,000 sample ids (the comparison's neighbour graphs are
computed over the shared rows only, so the pair is quick to compare); the second run's map is the first's
turned a quarter, doubled and moved, which the alignment undoes.
"""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest

from dashboards.testing import box_select, choose, console_errors, css, open_page, plot, ready, wait

pytestmark = pytest.mark.browser

N = 300_000
SHARED = 20_000


@pytest.fixture(scope="module")
def dense_pair(tmp_path_factory):
    import logging

    from werkzeug.serving import make_server

    from dashboards.app import create_app
    from dashboards.testing import write_run

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, N + N - SHARED)
    xy = rng.normal(scale=4, size=(6, 2))[labels] + rng.normal(size=(len(labels), 2))
    z = np.column_stack([xy, rng.normal(size=(len(labels), 2))])
    root = tmp_path_factory.mktemp("dense-pair")
    first = write_run(root / "first", z=z[:N], labels=labels[:N], xy=xy[:N])
    turned = xy[N - SHARED :] @ np.array([[0.0, -2.0], [2.0, 0.0]]) + 5
    second = write_run(root / "second", z=z[N - SHARED :], labels=labels[N - SHARED :], xy=turned, first_id=N - SHARED)
    app = create_app([first, second], device="cpu", load_model=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/", app.store
    srv.shutdown()


def _opaque(browser, graph) -> np.ndarray:
    """Which pixels of a panel's density image hold points."""
    from PIL import Image

    source = plot(browser, graph, "gd.layout.images[0].source")
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGBA"))
    return image[..., 3] > 0


def test_ddcmp001_both_maps_are_density_selection_links_zoom_reaggregates(chrome, dense_pair):
    from selenium.webdriver.common.by import By

    from dashboards import ids
    from dashboards.logic import shared_rows
    from dashboards.pages.compare import RINGS_MAX

    browser = chrome
    browser.set_window_size(1500, 1000)
    url, store = dense_pair
    first, second = (store[r] for r in store.ids)
    graphs = [ids.compare_graph(first.id), ids.compare_graph(second.id)]
    open_page(browser, url, "Compare")
    for graph in graphs:
        wait(
            browser,
            lambda d, g=graph: ready(d, g) and plot(d, g, "(gd.layout.images || []).length") == 1,
            "a panel has no density image",
            timeout=120,
        )
    choose(browser, ids.compare_color("compare"), "label")
    for graph in graphs:
        wait(browser, lambda d, g=graph: plot(d, g, "gd._fullLayout.legend.title.text") == "label", "not recoloured")
        assert plot(browser, graph, "gd.data[0].x.length") == 0  # 300k points in view: none sent, all in the image
        subtitle = plot(browser, graph, "gd.layout.title.subtitle.text")
        assert subtitle.startswith(f"all {N:,} points as density, {N:,} in view"), subtitle

    # Aligned onto the first run's map, the second run's points cover the same place: the density images agree
    # (each panel shows its own 300k points, 20k of them shared).
    a, b = (_opaque(browser, graph) for graph in graphs)
    assert a.shape == b.shape and a.sum() > 10_000
    assert (a & b).sum() / (a | b).sum() > 0.5

    # A box in the first panel's density layer selects among all its points; the second highlights the shared ones,
    # the first rings a sample of its own (a ring per point is an SVG marker).
    xy = np.column_stack(store.aligned_xy(first.id, "umap"))
    expected = box_select(browser, graphs[0], xy, quantiles=(0.2, 0.8))
    hits = shared_rows(first.ids, expected, second.ids)
    assert len(expected) > RINGS_MAX and 0 < len(hits) < RINGS_MAX
    note = css(ids.compare_note("compare"))
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, note).text.startswith(f"{len(expected):,} selected"), "")
    assert plot(browser, graphs[0], "gd.data[gd.data.length - 1].customdata.length") == RINGS_MAX
    wait(
        browser,
        lambda d: len(plot(d, graphs[1], "gd.data[gd.data.length - 1].customdata") or []) == len(hits),
        f"expected {len(hits)} highlighted in the second panel",
    )
    highlighted = plot(browser, graphs[1], "Array.from(gd.data[gd.data.length - 1].customdata)")
    assert sorted(highlighted) == sorted(second.ids[hits])

    # Zoomed far into the second panel: re-aggregated for the view, and its few points drawn one by one.
    before = plot(browser, graphs[1], "gd.layout.images[0].source")
    other = np.column_stack(store.aligned_xy(second.id, "umap"))
    centre = np.median(other, axis=0).astype(float)
    browser.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "Plotly.relayout(gd, {'xaxis.range': arguments[1], 'yaxis.range': arguments[2]});",
        css(graphs[1]),
        [float(centre[0] - 0.3), float(centre[0] + 0.3)],
        [float(centre[1] - 0.3), float(centre[1] + 0.3)],
    )
    x0, x1 = plot(browser, graphs[1], "gd._fullLayout.xaxis.range")
    y0, y1 = plot(browser, graphs[1], "gd._fullLayout.yaxis.range")
    inside = (other[:, 0] >= x0) & (other[:, 0] <= x1) & (other[:, 1] >= y0) & (other[:, 1] <= y1)
    assert 0 < inside.sum() <= second.budget
    wait(
        browser,
        lambda d: plot(d, graphs[1], "gd.data[0].x.length") == inside.sum(),
        "the points in view were not drawn",
    )
    assert plot(browser, graphs[1], "gd.layout.images[0].source") != before
    assert plot(browser, graphs[0], "gd.data[0].x.length") == 0  # the other panel keeps its own view
    assert console_errors(browser) == []
