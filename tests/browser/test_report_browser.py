"""The report in a real headless Chromium: it draws, hovers, switches, escapes, and stays offline."""

from __future__ import annotations

import time

import pytest

from latentviz.run import Run
from reports import write_report

pytestmark = pytest.mark.browser
XSS = "<script>alert(1)</script>"


def wait_for(driver, script: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def click(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def test_report_draws_hovers_and_escapes(chrome, console_errors, report_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # factor_size has 4 whole-number levels (categorical by default); forced onto a colour scale here
    out = write_report(Run(report_run), tmp_path / "report.html", color_modes={"factor_size": "continuous"})
    chrome.get(out.as_uri())
    wait_for(chrome, "return document.body.dataset.ready === 'yes'")

    # every plot draws: the visible ones at load, the other projection when its tab is chosen
    click(chrome, chrome.find_element(By.CSS_SELECTOR, "[data-tab='umap']"))
    wait_for(chrome, "return document.getElementById('projection-umap').dataset.drawn === 'yes'")
    click(chrome, chrome.find_element(By.CSS_SELECTOR, "[data-tab='pca']"))
    undrawn = chrome.execute_script(
        "return [...document.querySelectorAll('.plot')].filter(d => !d.querySelector('.main-svg')).map(d => d.id)"
    )
    assert undrawn == []
    assert chrome.execute_script("return document.querySelectorAll('#projection-pca .points path').length") == 120

    # hovering a point shows that point's thumbnail
    point = chrome.find_elements(By.CSS_SELECTOR, "#projection-pca .scatterlayer .trace:first-child .points path")[5]
    chrome.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", point)
    ActionChains(chrome).move_to_element(point).perform()
    wait_for(chrome, "return !document.getElementById('thumb-tip').hidden")
    tip = chrome.find_element(By.ID, "thumb-tip")
    assert tip.is_displayed() and "blob:" in tip.value_of_css_property("background-image")
    assert tip.get_attribute("data-point") == "5"

    # the XSS label is text in the legend, never markup
    legend = chrome.execute_script(
        "return [...document.querySelectorAll('#projection-pca .legendtext')].map(t => t.textContent)"
    )
    assert XSS in legend
    assert chrome.execute_script("return document.querySelectorAll('body script:not([type])').length") == 1

    # colour by a number on a colour scale: a colour bar replaces the legend in every drawn map
    Select(chrome.find_element(By.ID, "color-by")).select_by_value("factor_size")
    wait_for(chrome, "return document.querySelectorAll('#projection-pca .colorbar').length === 1")
    assert chrome.execute_script("return document.querySelectorAll('#projection-pca .legendtext').length") == 0

    # nothing was fetched from a network address, and the console stayed clean
    fetched = chrome.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => /^https?:/.test(n))"
    )
    assert fetched == []
    assert console_errors(chrome) == []
