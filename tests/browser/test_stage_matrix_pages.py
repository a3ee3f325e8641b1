"""The dashboard's pages for entry paths of the stage matrix (tests/test_stage_matrix.py) in headless Chromium.

The browser suite's other tests use an encoded VAE; here an imported table (string ids, text labels,
no model), a text model's embeddings (a model without a decoder) and a generator's samples (a
decoder, no encoder) each get their own app, and every page must render without a console error.
"""

from __future__ import annotations

import threading

import pytest

from dashboards.testing import console_errors, open_page, wait

pytestmark = pytest.mark.browser

ENTRIES = ("import-parquet", "encode-text", "sample-generator")
PAGES = ("Explore", "Dimensions", "Metrics", "Decode")


def _serve(run):
    import logging

    from werkzeug.serving import make_server

    from dashboards.app import create_app

    app = create_app([run], device="cpu")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _drawn(driver) -> bool:
    """The page has content and every plotly graph on it has drawn."""
    return driver.execute_script("""
        const main = document.querySelector('main.lv-main');
        if (!main || !main.children.length || document.querySelector('[data-dash-is-loading="true"]')) return false;
        return [...main.querySelectorAll('.js-plotly-plot')].every(gd => gd._fullLayout && gd.data);""")


def test_every_page_of_each_entry_kind_renders_without_errors(chrome, tmp_path_factory):
    from selenium.webdriver.common.by import By

    from tests.test_stage_matrix import Built

    chrome.set_window_size(1500, 1000)
    for entry in ENTRIES:
        built = Built(entry, tmp_path_factory.mktemp(entry))
        assert all(r.code == 0 for r in built.results.values()), {k: r.err for k, r in built.results.items()}
        server = _serve(built.run)
        try:
            url = f"http://127.0.0.1:{server.server_port}/"
            open_page(chrome, url)
            tabs = wait(
                chrome,
                lambda d: [t.text.strip() for t in d.find_elements(By.CSS_SELECTOR, ".lv-tab")],
                f"{entry}: no tabs",
            )
            assert tabs == list(PAGES), (entry, tabs)
            for page in PAGES:
                open_page(chrome, url, page)
                wait(chrome, _drawn, f"{entry}: {page} did not render")
                text = chrome.find_element(By.CSS_SELECTOR, "main.lv-main").text
                assert console_errors(chrome) == [], (entry, page)
                assert "Traceback" not in text and "unexpected" not in text.lower(), (entry, page, text[:300])
        finally:
            server.shutdown()
