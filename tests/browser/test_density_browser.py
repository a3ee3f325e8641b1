"""Above the display budget, in a real headless Chromium: every point as a density image, points on zoom.

One synthetic run of 300,000 points (4-d latents, 10 labels, a 2-D map), written directly with
the run folder's writers, is served for the module.
"""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest

from dashboards.testing import box_select, console_errors, css, open_page, plot, point_position, ready, wait

pytestmark = pytest.mark.browser

N = 300_000


@pytest.fixture(scope="module")
def dense_server(tmp_path_factory):
    import logging

    from werkzeug.serving import make_server

    from dashboards.app import create_app
    from dashboards.testing import write_run

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, N)
    xy = rng.normal(scale=4, size=(10, 2))[labels] + rng.normal(size=(N, 2))
    z = np.column_stack([xy[:, j % 2] * (j + 1) for j in range(4)])
    path = write_run(tmp_path_factory.mktemp("dense") / "run", z=z, labels=labels, xy=xy)
    app = create_app([path], device="cpu", load_model=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/", app.store
    srv.shutdown()


def _image(browser, graph) -> np.ndarray:
    from PIL import Image

    source = plot(browser, graph, "gd.layout.images[0].source")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGBA"))


def test_ddense001_density_then_points_on_zoom_selection_of_all_points_blended_categories(browser_wide, dense_server):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    from dashboards import ids
    from latentviz.figures._scatter import category_colors

    url, store = dense_server
    data = store[store.ids[0]]
    graph = ids.graph(data.id)
    open_page(browser_wide, url)
    wait(
        browser_wide,
        lambda d: ready(d, graph) and plot(d, graph, "(gd.layout.images || []).length") == 1,
        "no density image",
    )
    # re-aggregated at the plot's own pixel size once it is laid out (one image pixel per screen pixel)
    wait(
        browser_wide,
        lambda d: (
            _image(d, graph).shape[:2]
            == tuple(plot(d, graph, "[gd._fullLayout._size.h, gd._fullLayout._size.w].map(Math.round)"))
        ),
        "the density image does not have the plot's size",
    )
    assert plot(browser_wide, graph, "gd.data[0].x.length") == 0  # 300k points in view: none sent, all in the image
    xy = data.coords("umap", 2)

    # Coloured by label (the default): the image blends the ten category colours, each drawn where it is alone.
    _, categories, colors = category_colors(data.labels)
    image = _image(browser_wide, graph)
    opaque = {tuple(p) for p in image[image[..., 3] > 0][:, :3].tolist()}
    pure = [c for c in categories if tuple(int(colors[c][i : i + 2], 16) for i in (1, 3, 5)) in opaque]
    assert len(pure) == len(categories) == 10
    assert len(opaque) > 50  # blends, not ten flat colours

    # A box in the density layer selects among all 300k points on the server.
    expected = box_select(browser_wide, graph, xy)
    assert len(expected) > 5_000
    count = wait(
        browser_wide,
        lambda d: d.find_elements(By.CSS_SELECTOR, css(ids.gallery(data.id)) + " .lv-count"),
        "the gallery did not fill",
    )[0]
    assert count.text == f"{len(expected):,}"

    # Zoomed in to a few thousand points (the box let go): they are drawn one by one, exactly those in view,
    # with hover cards.
    centre = np.median(xy, axis=0).astype(float)
    x_range, y_range = (
        [float(centre[0] - 0.3), float(centre[0] + 0.3)],
        [float(centre[1] - 0.3), float(centre[1] + 0.3)],
    )
    browser_wide.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "Plotly.relayout(gd, {'xaxis.range': arguments[1], 'yaxis.range': arguments[2], selections: []});",
        css(graph),
        x_range,
        y_range,
    )
    x0, x1 = plot(browser_wide, graph, "gd._fullLayout.xaxis.range")
    y0, y1 = plot(browser_wide, graph, "gd._fullLayout.yaxis.range")
    in_view = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
    assert 0 < len(in_view) <= data.budget
    wait(
        browser_wide,
        lambda d: plot(d, graph, "gd.data[0].x.length") == len(in_view),
        "the points in view were not drawn",
    )
    assert sorted(plot(browser_wide, graph, "Array.from(gd.data[0].customdata)")) == sorted(data.ids[in_view])
    row = in_view[np.argmin(np.abs(xy[in_view] - centre).sum(axis=1))]
    x, y = point_position(browser_wide, graph, *xy[row])
    hover = ActionBuilder(browser_wide)
    hover.pointer_action.move_to_location(int(x) + 1, int(y))
    hover.pointer_action.move_to_location(int(x), int(y))
    hover.perform()
    card = css(ids.tooltip(data.id)) + " .lv-sample .lv-sample-id"
    shown = wait(browser_wide, lambda d: d.find_elements(By.CSS_SELECTOR, card), "no hover card")[0].text
    assert np.abs(xy[data.row_of[shown]] - xy[row]).max() < 0.05  # that point or one drawn on top of it
    assert console_errors(browser_wide) == []


@pytest.fixture
def browser_wide(chrome):
    chrome.set_window_size(1500, 1000)
    return chrome
