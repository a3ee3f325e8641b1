"""Cross-surface consistency (issue #13): a number in metrics.json is the same number in the report,
on the dashboard's Metrics page and in the audit's JSON.

One labelled run is made through the CLI (import, project, ``metrics --repeats 3`` so the
stochastic metrics carry a mean and a spread), then each surface is read the way a user reads it:
the report's HTML tables parsed, the dashboard's Metrics page built from its store and walked, the
audit's JSON loaded. Shown numbers are rounded for reading, so each is compared with metrics.json
to the digits it shows.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from tests.conftest import invoke

N = 90
POLICY = """\
checks:
  - metric: linear_probe_accuracy
    gte: 0.5
  - metric: effective_rank
    gte: 100
  - metric: mutual_info_score
    lte: 10
  - metric: projection_trustworthiness
    gte: 0.5
"""


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory):
    from dashboards.pages import metrics as page
    from dashboards.store import RunStore

    root = tmp_path_factory.mktemp("surfaces")
    rng = np.random.default_rng(0)
    labels = np.arange(N) % 3
    table = pd.DataFrame({"id": [f"doc-{i}" for i in range(N)], "label": np.array(["a", "b", "c"])[labels]})
    for j in range(4):
        table[f"e{j}"] = rng.normal(size=N) + (labels == j % 3) * 1.5
    table.to_parquet(root / "table.parquet")
    run, policy = root / "run", root / "policy.yaml"
    policy.write_text(POLICY)
    for args in (
        ["import", root / "table.parquet", "--out", run, "--quiet"],
        ["project", run, "--methods", "pca", "--k", "10", "--quiet", "--device", "cpu"],
        ["metrics", run, "--repeats", "3", "--quiet", "--device", "cpu"],
        ["report", run, "--out", root / "report.html", "--policy", policy, "--quiet"],
    ):
        result = invoke(*args)
        assert result.code == 0, result.err
    audit = invoke("audit", run, "--policy", policy, "--json", root / "audit.json")
    assert audit.code == 1 and "1 failing check" in audit.err  # effective_rank >= 100 fails on purpose

    from bs4 import BeautifulSoup

    soup = BeautifulSoup((root / "report.html").read_text(), "html.parser")
    store = RunStore([run], load_model=False, policy=policy)
    return {
        "metrics": json.loads((run / "metrics.json").read_text()),
        "manifest": json.loads((run / "manifest.json").read_text()),
        "audit": json.loads((root / "audit.json").read_text()),
        "report": _rows(soup.select("table.metrics tbody tr")),
        "report_audit": _rows(soup.select("table.audit tbody tr")),
        "dashboard": _dash_rows(page.layout(store, store.ids[0])),
        "dashboard_audit": [
            _text(item)
            for item in _walk(page.layout(store, store.ids[0]))
            if "lv-audit-" in str(getattr(item, "className", ""))
        ],
    }


def _rows(trs) -> list[list[str]]:
    return [
        [" ".join(td.get_text(" ").split()) for td in tr.find_all("td")] for tr in trs if len(tr.find_all("td")) > 1
    ]


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            yield from _walk(child)


def _text(component) -> str:
    if isinstance(component, (str, int, float)):
        return str(component)
    children = getattr(component, "children", None)
    parts = children if isinstance(children, (list, tuple)) else [children]
    return " ".join(" ".join(_text(p) for p in parts if p is not None).split())


def _dash_rows(layout) -> list[list[str]]:
    tables = [c for c in _walk(layout) if type(c).__name__ == "Table" and "lv-table" in str(c.className)]
    assert len(tables) == 1
    rows = [c for c in _walk(tables[0]) if type(c).__name__ == "Tr"]
    return [
        [_text(td) for td in row.children]
        for row in rows
        if isinstance(row.children, list) and all(type(td).__name__ == "Td" for td in row.children)
    ]


NUMBER = re.compile(r"[−-]?[\d,]*\.?\d+(?:e[+-]?\d+)?|[−-]?∞|inf")


def _shown(text: str) -> list[float]:
    """The numbers in a displayed cell (value, then the spread after ±), as floats."""
    out = []
    for token in NUMBER.findall(text):
        token = token.replace(",", "").replace("−", "-").replace("∞", "inf")
        out.append(float(token))
    return out


def _agrees(shown: float, value: float) -> bool:
    """``shown`` is ``value`` rounded for reading (3 or more significant digits)."""
    if math.isinf(value) or float(value).is_integer():
        return shown == value
    return math.isclose(shown, value, rel_tol=5e-3, abs_tol=5e-4 * max(1.0, abs(value)) if abs(value) < 1 else 0)


def _scalars(metrics: dict) -> dict[str, float]:
    from latentviz.metrics import REGISTRY

    return {k: v for k, v in metrics.items() if k in REGISTRY and isinstance(v, (int, float))}


@pytest.mark.parametrize("surface", ["report", "dashboard"])
def test_every_metric_is_shown_with_its_value_and_spread(surfaces, surface):
    metrics = surfaces["metrics"]
    expected = _scalars(metrics)
    assert {"linear_probe_accuracy", "knn_accuracy", "silhouette", "effective_rank"} <= set(expected)
    shown = {row[0]: row[1] for row in surfaces[surface]}
    assert set(shown) == set(expected)
    for name, value in expected.items():
        numbers = _shown(shown[name])
        assert _agrees(numbers[0], value), (surface, name, shown[name], value)
        seeds = (metrics["detail"].get(name) or {}).get("values")
        if seeds is None:  # not repeated (a "std" in its detail may be per-dimension, as prior_kl's is)
            assert "±" not in shown[name], (surface, name)
        else:  # a repeated metric: its mean over the seeds, then the sd of the seeds' values
            spread = np.std(seeds, ddof=1)
            assert len(seeds) == 3 and value == pytest.approx(np.mean(seeds))
            assert metrics["detail"][name]["std"] == pytest.approx(spread)
            assert len(numbers) == 2 and _agrees(numbers[1], spread), (surface, name, shown[name], spread)


def test_the_report_and_the_dashboard_show_the_same_rows(surfaces):
    assert [row[0] for row in surfaces["report"]] == [row[0] for row in surfaces["dashboard"]]


def test_the_audit_checks_the_numbers_metrics_json_holds(surfaces):
    metrics, audit = surfaces["metrics"], surfaces["audit"]
    results = {r["metric"]: r for r in audit["results"]}
    assert set(results) == {
        "linear_probe_accuracy",
        "effective_rank",
        "mutual_info_score",
        "projection_trustworthiness",
    }
    for name in ("linear_probe_accuracy", "effective_rank", "mutual_info_score"):
        assert results[name]["value"] == metrics[name]  # the mean over the seeds, not the first seed's value
    assert (
        results["projection_trustworthiness"]["value"] == surfaces["manifest"]["projections"]["pca"]["trustworthiness"]
    )
    assert [r["status"] for r in audit["results"]] == ["pass", "fail", "pass", "pass"]


def test_the_report_and_the_dashboard_show_the_audit_s_results(surfaces):
    audit = surfaces["audit"]["results"]
    report = surfaces["report_audit"]
    assert [row[1] for row in report] == [r["metric"] for r in audit]
    for row, result in zip(report, audit, strict=True):
        assert row[0] == result["status"] and _agrees(_shown(row[2])[0], result["value"]), (row, result)
        assert result["message"] in row[4]
    dashboard = surfaces["dashboard_audit"]
    assert dashboard == [f"{r['status'].upper()} {r['message']}" for r in audit]
