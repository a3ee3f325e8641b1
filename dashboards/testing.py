"""Drive the dashboard in a real browser (selenium): the browser tests and ``benchmarks/dashboard.py`` share these.

Every helper takes a selenium WebDriver and the dict ids of :mod:`dashboards.ids`; plotly graphs
are read through their graph div (``gd``) in the page.
"""

from __future__ import annotations

import json

import numpy as np

TIMEOUT = 30


def css(component_id: dict) -> str:
    """CSS selector of a Dash component with a dict id (Dash writes it as sorted, compact JSON)."""
    return "[id='" + json.dumps(component_id, sort_keys=True, separators=(",", ":")) + "']"


def wait(driver, condition, message: str, *, timeout: float = TIMEOUT, poll: float = 0.1):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=poll).until(lambda d: condition(d), message)


def find(driver, component_id: dict):
    from selenium.webdriver.common.by import By

    return wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, css(component_id)), f"no element {component_id}")


def plot(driver, component_id: dict, expression: str):
    """Evaluate ``expression`` on the plotly graph div ``gd`` inside a dcc.Graph."""
    return driver.execute_script(
        f"const gd = document.querySelector(arguments[0] + ' .js-plotly-plot'); return gd ? ({expression}) : null;",
        css(component_id),
    )


def open_page(driver, url: str, tab: str | None = None):
    from selenium.webdriver.common.by import By

    driver.get(url)
    driver.get_log("browser")  # start each test with an empty console
    if tab:
        wait(
            driver,
            lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, ".lv-tab") if t.text.strip() == tab],
            f"no tab {tab}",
        )[0].click()


def console_errors(driver) -> list:
    """SEVERE browser console entries since the last call."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def choose(driver, dropdown_id: dict, label: str):
    """Open a dcc.Dropdown and click the option showing ``label``."""
    from selenium.webdriver.common.by import By

    find(driver, dropdown_id).click()
    option = wait(
        driver,
        lambda d: [o for o in d.find_elements(By.CSS_SELECTOR, "[role='option']") if o.text.strip() == label],
        f"no option {label}",
    )[0]
    option.click()


def point_position(driver, graph_id: dict, x: float, y: float) -> tuple[float, float]:
    """Viewport pixel of data point (x, y) in a 2-D plotly graph."""
    return tuple(
        plot(
            driver,
            graph_id,
            f"""(() => {{
        const L = gd._fullLayout, r = gd.getBoundingClientRect();
        return [r.left + L.xaxis._offset + L.xaxis.l2p({x}), r.top + L.yaxis._offset + L.yaxis.l2p({y})];
    }})()""",
        )
    )


def ready(driver, graph_id: dict) -> bool:
    """True once a plotly graph has drawn its axes and traces."""
    return bool(plot(driver, graph_id, "gd._fullLayout && gd._fullLayout.xaxis && gd.data && gd.data.length"))


def drag(driver, start, end):
    """Press at viewport pixel ``start``, move in steps, release at ``end`` (a box or lasso drag)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    builder = ActionBuilder(driver)
    builder.pointer_action.move_to_location(int(start[0]), int(start[1]))
    builder.pointer_action.pointer_down()
    for t in np.linspace(0, 1, 6)[1:]:
        builder.pointer_action.move_to_location(
            int(start[0] + t * (end[0] - start[0])), int(start[1] + t * (end[1] - start[1]))
        )
    builder.pointer_action.pointer_up()
    builder.perform()


def click_at(driver, where):
    """Hover, then click at a viewport pixel (plotly needs the hover to pick the point)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    builder = ActionBuilder(driver)
    builder.pointer_action.move_to_location(int(where[0]) + 1, int(where[1]))
    builder.pointer_action.move_to_location(int(where[0]), int(where[1]))
    builder.pointer_action.click()
    builder.perform()


def box_select(driver, graph_id, coords, quantiles=(0.3, 0.7)):
    """Drag a box over the points between two quantiles; return the rows of ``coords`` inside the box drawn."""
    lo, hi = np.quantile(coords, list(quantiles), axis=0)
    drag(driver, point_position(driver, graph_id, lo[0], hi[1]), point_position(driver, graph_id, hi[0], lo[1]))
    box = wait(
        driver,
        lambda d: plot(
            d,
            graph_id,
            "gd._fullLayout.selections && gd._fullLayout.selections[0] && "
            "[gd._fullLayout.selections[0].x0, gd._fullLayout.selections[0].x1,"
            " gd._fullLayout.selections[0].y0, gd._fullLayout.selections[0].y1]",
        ),
        "the box selection did not register",
    )
    (x0, x1), (y0, y1) = sorted(box[:2]), sorted(box[2:])
    inside = (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)
    return np.flatnonzero(inside)


def write_run(path, *, z: np.ndarray, labels: np.ndarray, xy: np.ndarray, first_id: int = 0, seed: int = 0):
    """A complete run folder at ``path`` of latents ``z`` (n, d), labels ``class <k>`` from the integers ``labels``
    and a 2-D UMAP map ``xy`` (no model, no neighbour graph; ids ``first_id`` onwards), written with the run
    folder's own writers: the large runs the browser tests and the benchmark serve. Returns the path."""
    from pathlib import Path

    import pandas as pd

    from latentviz.run import LATENTS, MANIFEST, PROJECTIONS, Z_PREFIX, projection_table, write_json, write_table

    path = Path(path)
    path.mkdir(parents=True)
    ids = np.arange(first_id, first_id + len(z)).astype(str)
    table = pd.DataFrame({"id": ids, "label": np.char.add("class ", np.asarray(labels).astype(str))})
    for j in range(z.shape[1]):
        table[f"{Z_PREFIX}{j}"] = z[:, j].astype(np.float32)
    write_table(path / LATENTS, table)
    write_table(path / PROJECTIONS, projection_table(ids, {"umap": np.asarray(xy, dtype=np.float32)}))
    manifest = {"complete": True, "n": len(z), "latent_dim": z.shape[1], "model": None, "seed": seed}
    write_json(path / MANIFEST, manifest)
    return path
