"""Dashboard responsiveness in a real headless Chromium at 10k, 100k and 1M points.

For each size a synthetic run (8-d latents, 10 labels, a 2-D map) is written, the app is served
on 127.0.0.1 once its warm-up is done (as ``latentviz dashboard`` answers only then; the seconds from
the start until then are printed as "server start"), and five timings are taken in the browser, the
median of three fresh browser sessions (the first visit's first render is printed beside it):

* first render: navigation until the Explore scatter has drawn its points;
* hover card: from the pointer's last move onto a point until its thumbnail card is painted,
  on the browser's own clock;
* colour change: from the click on "latent z0" until the recoloured scatter is painted (the
  second animation frame after plotly drew it), on the browser's own clock;
* box drag: pressing, moving the pointer in five steps and releasing (plotly redraws the
  selection on every move), on the WebDriver's clock;
* selection: from releasing the pointer until the gallery showing the selected count (computed
  from every point, not only the drawn ones) is painted, on the browser's own clock.

Above the display budget (100k) the map draws every point as a datashader density image, and a
sixth timing is taken: a zoom step (to the middle half), from the relayout until the re-aggregated
image is painted; the hover card is not timed there (no single points are drawn at full view). The
server's resident memory after the measurements is printed too. The selection covers all points. Run:  .venv/bin/python benchmarks/dashboard.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPEATS = 3


def synthetic_run(path: Path, n: int, *, d: int = 8, seed: int = 0) -> Path:
    """A run folder with latents, labels and a 2-D map (no model, no neighbour graph)."""
    from dashboards.testing import write_run

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    centres = rng.normal(scale=3, size=(10, d))
    z = (centres[labels] + rng.normal(size=(n, d))).astype(np.float32)
    return write_run(path, z=z, labels=labels, xy=z[:, :2])


def serve(path: Path):
    """The app on a free port, answering once its warm-up is done, as ``latentviz dashboard`` does; and the
    seconds from the start until then."""
    import logging

    from werkzeug.serving import make_server

    from dashboards.app import create_app

    started = time.perf_counter()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app([path], load_model=False)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    for thread in app.warming:
        thread.join()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, app.store, time.perf_counter() - started


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1500,1000",
        f"--user-data-dir={tempfile.mkdtemp(prefix='lv-bench-')}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def measure(driver, url: str, store) -> dict:
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    from dashboards import ids
    from dashboards.testing import box_select, choose, css, plot, point_position, ready, wait

    data = next(iter(store))
    graph = ids.graph(data.id)
    started = time.perf_counter()
    driver.get(url)
    dense = data.dense(2)
    drawn = (lambda d: plot(d, graph, "(gd.layout.images || []).length") == 1) if dense else (lambda d: True)
    wait(driver, lambda d: ready(d, graph) and drawn(d), "no scatter", timeout=600, poll=0.02)
    first = time.perf_counter() - started

    driver.execute_script(WATCH, css(ids.gallery(data.id)), css(graph), css(ids.tooltip(data.id)))
    zoom = tooltip = None
    if dense:  # every point as density: a zoom step to the middle half re-aggregates the image
        time.sleep(2)  # the first re-aggregation at the plot's pixel size (after the initial layout) is done
        driver.execute_script(ZOOM, css(graph))
        zoom = (
            wait(
                driver,
                lambda d: d.execute_script("return window.lvZoomed && window.lvZoomed - window.lvZoom"),
                "no re-aggregation",
                timeout=600,
                poll=0.02,
            )
            / 1000
        )
        driver.execute_script(
            "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
            "Plotly.relayout(gd, {'xaxis.range': arguments[1], 'yaxis.range': arguments[2]});",
            css(graph),
            *(list(r) for r in data.extent("umap")),
        )
        time.sleep(2)
    else:
        x, y = point_position(driver, graph, *data.coords("umap", 2)[data.shown[0]])
        hover = ActionBuilder(driver)
        hover.pointer_action.move_to_location(int(x) + 1, int(y))
        hover.pointer_action.move_to_location(int(x), int(y))
        hover.perform()
        tooltip = (
            wait(
                driver,
                lambda d: d.execute_script("return window.lvTip && window.lvTip - window.lvMove"),
                "no tooltip",
                timeout=600,
                poll=0.02,
            )
            / 1000
        )

    choose(driver, ids.color(data.id), "latent z0")
    color = (
        wait(
            driver,
            lambda d: d.execute_script("return window.lvRecoloured && window.lvRecoloured - window.lvClick"),
            "no recolour",
            timeout=600,
            poll=0.02,
        )
        / 1000
    )

    count = css(ids.gallery(data.id)) + " .lv-count"
    drag_started = time.perf_counter()
    expected = box_select(driver, graph, data.coords("umap", 2), quantiles=(0.4, 0.6))
    drag = time.perf_counter() - drag_started
    shown = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, count), "no gallery", timeout=600, poll=0.02)[
        0
    ].text
    assert shown == f"{len(expected):,}", (shown, len(expected))
    selection = (
        wait(
            driver,
            lambda d: d.execute_script("return window.lvFilled && window.lvFilled - window.lvUp"),
            "no timing",
            timeout=60,
        )
        / 1000
    )
    return {
        "first": first,
        "hover": tooltip,
        "zoom": zoom,
        "color": color,
        "drag": drag,
        "selection": selection,
        "selected": len(expected),
        "drawn": "all (density)" if dense else f"{len(data.shown):,}",
    }


# A zoom step to the middle half of the view, timed on the browser's clock until the re-aggregated
# image is painted (two animation frames after plotly drew it).
ZOOM = """
const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');
const before = gd.layout.images[0].source, L = gd._fullLayout;
const half = (r) => [r[0] + (r[1] - r[0]) / 4, r[1] - (r[1] - r[0]) / 4];
window.lvZoomed = null;
gd.on('plotly_afterplot', () => {
  if (!window.lvZoomed && gd.layout.images[0].source !== before)
    requestAnimationFrame(() => requestAnimationFrame(() => { window.lvZoomed = window.lvZoomed || performance.now(); }));
});
window.lvZoom = performance.now();
Plotly.relayout(gd, {'xaxis.range': half(L.xaxis.range), 'yaxis.range': half(L.yaxis.range)});
"""


# Browser-side clock: the last pointer move (onto a point), the last click (the colour option), the
# pointer release, and the moments the hover card, the recoloured scatter and the filled gallery
# are painted (two animation frames after the change).
WATCH = """
window.lvClick = null; window.lvRecoloured = null; window.lvUp = null; window.lvFilled = null;
window.lvMove = null; window.lvTip = null;
const painted = (set) => requestAnimationFrame(() => requestAnimationFrame(() => set(performance.now())));
document.addEventListener('click', () => { window.lvClick = performance.now(); }, true);
document.addEventListener('pointerup', () => { window.lvUp = performance.now(); }, true);
document.addEventListener('pointermove', () => { if (!window.lvTipSeen) window.lvMove = performance.now(); }, true);
new MutationObserver(() => {
  if (!window.lvTipSeen && window.lvMove && document.querySelector(arguments[2] + ' .lv-sample-id')) {
    window.lvTipSeen = true; painted(t => { window.lvTip = t; });
  }
}).observe(document.body, {childList: true, subtree: true});
const gd = document.querySelector(arguments[1] + ' .js-plotly-plot');
gd.on('plotly_afterplot', () => {
  if (!window.lvRecoloured && gd._fullLayout.legend.title.text === 'z0') painted(t => { window.lvRecoloured = t; });
});
const gallery = document.querySelector(arguments[0]);
let seen = false;
new MutationObserver(() => {
  if (!seen && window.lvUp && gallery.querySelector('.lv-count')) { seen = true; painted(t => { window.lvFilled = t; }); }
}).observe(gallery, {childList: true, subtree: true});
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    import psutil

    root = Path(tempfile.mkdtemp(prefix="lv-dash-bench-"))
    rows = []
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            path = synthetic_run(root / f"n{n}", n)
            server, store, start = serve(path)
            url = f"http://127.0.0.1:{server.server_port}/"
            results = []
            for _ in range(REPEATS):
                driver = browser()
                try:
                    results.append(measure(driver, url, store))
                finally:
                    driver.quit()
            server.shutdown()
            memory = psutil.Process().memory_info().rss / 2**30
            median = {
                k: None if results[0][k] is None else statistics.median(r[k] for r in results)
                for k in ("first", "hover", "zoom", "color", "drag", "selection")
            }
            rows.append((n, results[0]["drawn"], results[0]["selected"], median, memory, start, results[0]["first"]))
            print(
                f"n={n:>9,}  drawn={results[0]['drawn']}  server start {start:.2f} s  first render {median['first']:.2f} s "
                f"(first visit {results[0]['first']:.2f} s)  "
                f"hover card {_s(median['hover'])}  zoom step {_s(median['zoom'])}  colour change {median['color']:.2f} s  "
                f"box drag {median['drag']:.2f} s  release -> gallery ({results[0]['selected']:,} points) "
                f"{median['selection']:.2f} s  server RSS {memory:.2f} GB (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            del store, server
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        "\n| points | drawn | server start | first render (first visit) | hover card | zoom step | colour change | "
        "box drag (5 moves) | release → gallery | server RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, drawn, selected, m, memory, start, first_visit in rows:
        print(
            f"| {n:,} | {drawn} | {start:.2f} s | {m['first']:.2f} s ({first_visit:.2f} s) | {_s(m['hover'])} | "
            f"{_s(m['zoom'])} | {m['color']:.2f} s | "
            f"{m['drag']:.2f} s | {m['selection']:.2f} s ({selected:,} selected) | {memory:.2f} GB |"
        )


def _s(seconds) -> str:
    return "–" if seconds is None else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
