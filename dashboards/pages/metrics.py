"""Metrics: the run's metric table (registry direction, range, explanation), its drift from a reference run
(when ``latentviz drift`` measured it) and audit results when a policy is given."""

from __future__ import annotations

import math

from dash import html

from dashboards.pages import _parts


def metric_facts() -> dict:
    """The metric registry: name -> facts (direction, bounds, typical range, explanation)."""
    from latentviz.metrics import REGISTRY

    return dict(REGISTRY)


def table(rows):
    """The rows of :func:`latentviz.figures.metric_rows` (the report's rows) as an HTML table."""
    head = html.Tr(
        [
            html.Th("metric"),
            html.Th("value", className="lv-num"),
            html.Th("better", className="lv-arrow"),
            html.Th("range"),
            html.Th("typical"),
            html.Th("what it says"),
        ]
    )
    body, group = [], None
    for row in rows:
        if row.group and row.group != group:
            group = row.group
            body.append(html.Tr(html.Td(group, colSpan=6, className="lv-group")))
        body.append(
            html.Tr(
                [
                    html.Td(row.name, className="lv-mono"),
                    html.Td(
                        num(row.value) + ("" if row.spread is None else f" ± {num(row.spread)}"),
                        className="lv-num",
                        title=None if row.spread is None else "standard deviation over the --repeats seeds",
                    ),
                    html.Td(
                        {True: "↑", False: "↓"}.get(row.higher_is_better, ""),
                        className="lv-arrow",
                        title={True: "higher is better", False: "lower is better"}.get(row.higher_is_better),
                    ),
                    html.Td(row.bounds, className="lv-muted"),
                    html.Td(row.typical, className="lv-muted"),
                    html.Td(row.explanation, className="lv-expl"),
                ]
            )
        )
    return html.Table(className="lv-table", children=[html.Thead(head), html.Tbody(body)])


def audit_panel(store, data):
    """Audit results of ``store.policy`` on this run (the same checks as ``latentviz audit``), or None."""
    if store.policy is None:
        return None
    from latentviz.audit import evaluate, load_policy, overall, run_values

    results = evaluate(load_policy(store.policy), run_values(data.run))
    return html.Div(
        className="lv-card",
        children=[
            html.H3(f"Audit: {overall(results)}"),
            html.Ul(
                className="lv-audit",
                children=[
                    html.Li(
                        className=f"lv-audit-{r.status}",
                        children=[html.Span(r.status.upper(), className="lv-badge"), " ", r.message],
                    )
                    for r in results
                ],
            ),
        ],
    )


def drift_panel(data):
    """This run's drift from its reference (``drift.json``): the scores and their thresholds, both runs on one
    map coloured by run, and the per-dimension KS view (the report's figures); None before ``latentviz drift``.
    A damaged ``drift.json`` gives a card that says so."""
    from latentviz.errors import InputError
    from latentviz.run import DRIFT

    try:
        with data.run.reading(DRIFT):
            return _drift_card(data, data.run.drift)
    except InputError as exc:
        return html.Div(className="lv-card", children=[html.H3("Drift"), html.P(str(exc), className="lv-note")])


def _drift_card(data, drift: dict):
    if not drift:
        return None
    from dash import dcc

    from dashboards import ids
    from latentviz import figures
    from latentviz.drift import THRESHOLDS

    items = []
    for name, value in (drift.get("scores") or {}).items():
        status = "" if name not in THRESHOLDS else "fail" if (drift.get("drifted") or {}).get(name) else "pass"
        badge = {"fail": "DRIFT", "pass": "OK", "": "—"}[status]
        items.append(
            html.Li(
                className=f"lv-audit-{status or 'skip'}",
                children=[
                    html.Span(badge, className="lv-badge"),
                    " ",
                    html.Span(name, className="lv-mono"),
                    f" {num(value)}",
                ],
            )
        )
    view, ks = drift.get("map") or {}, drift.get("ks") or {}
    graphs = []
    if view.get("reference") is not None:
        graphs.append(
            dcc.Graph(
                id=ids.drift_figure(data.id, name="map"),
                config={"displaylogo": False},
                figure=figures.drift_map(view["reference"], view["current"], method=view.get("method", "")),
            )
        )
    if ks.get("statistic"):
        graphs.append(
            dcc.Graph(
                id=ids.drift_figure(data.id, name="ks"),
                config={"displaylogo": False},
                figure=figures.ks_bars(
                    ks["statistic"], ks["p_value"], flagged=ks.get("flagged", []), level=ks["level"]
                ),
            )
        )
    reference = (drift.get("reference") or {}).get("path", "the reference run")
    return html.Div(
        className="lv-card",
        children=[html.H3(f"Drift from {reference}"), html.Ul(className="lv-audit", children=items), *graphs],
    )


def layout(store, run_id: str, *, focus=None):
    from latentviz.figures import metric_rows

    data = store[run_id]
    rows = metric_rows(data.run.metrics, metric_facts())
    if not rows:
        missing = _parts.missing("This run has no metrics yet.", f"latentviz metrics {data.path}")
        drift = drift_panel(data)
        return missing if drift is None else html.Div(className="lv-stack", children=[missing, drift])
    skipped = data.run.metrics.get("skipped") or {}
    return html.Div(
        className="lv-stack",
        children=[
            html.Div(className="lv-card", children=[html.H3(f"Metrics of {data.name}"), table(rows)]),
            drift_panel(data),
            html.Div(
                className="lv-card",
                children=[
                    html.H3("Not computed"),
                    html.Ul(
                        className="lv-skipped",
                        children=[
                            html.Li([html.Span(name, className="lv-mono"), f" — {reason}"])
                            for name, reason in sorted(skipped.items())
                        ],
                    ),
                ],
            )
            if isinstance(skipped, dict) and skipped
            else None,
            audit_panel(store, data),
        ],
    )


def register(app, store) -> None:
    """No callbacks: the table is static for a given run."""


def num(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
