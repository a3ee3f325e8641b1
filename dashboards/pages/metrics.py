"""Metrics: the run's metric table with directions and explanations, and audit results when a policy is given."""

from __future__ import annotations

import math

from dash import html

from dashboards.pages import _parts


def metric_facts() -> dict:
    """The metric registry (name -> facts), or {} while the metrics package offers none."""
    try:
        from latentviz.metrics import REGISTRY
    except ImportError:
        return {}
    return dict(REGISTRY)


def rows(metrics: dict, facts: dict) -> list[dict]:
    """One row per scalar metric: value, arrow (↑ higher is better, ↓ lower), bounds, explanation."""
    out = []
    for name, value in sorted(metrics.items()):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        fact = facts.get(name)
        higher = getattr(fact, "higher_is_better", None)
        bounds = getattr(fact, "bounds", None)
        out.append({"name": name, "value": value,
                    "arrow": "" if higher is None else ("↑" if higher else "↓"),
                    "bounds": "" if not bounds else f"[{_num(bounds[0])}, {_num(bounds[1])}]",
                    "explanation": getattr(fact, "explanation", "") or getattr(fact, "description", "") or ""})
    return out


def table(items: list[dict]):
    head = html.Tr([html.Th("metric"), html.Th("value", className="lv-num"), html.Th("better"),
                    html.Th("range"), html.Th("what it says")])
    body = [html.Tr([html.Td(r["name"], className="lv-mono"), html.Td(_num(r["value"]), className="lv-num"),
                     html.Td(r["arrow"], className="lv-arrow"), html.Td(r["bounds"], className="lv-muted"),
                     html.Td(r["explanation"], className="lv-expl")]) for r in items]
    return html.Table(className="lv-table", children=[html.Thead(head), html.Tbody(body)])


def audit_panel(store, data):
    """Audit results of ``store.policy`` on this run, or None without a policy."""
    if not getattr(store, "policy", None):
        return None
    from latentviz.audit import evaluate, load_policy, overall

    results = evaluate(load_policy(store.policy), data.run.metrics)
    return html.Div(className="lv-card", children=[
        html.H3(f"Audit: {overall(results)}"),
        html.Ul(className="lv-audit", children=[html.Li(className=f"lv-audit-{r.status}", children=[
            html.Span(r.status.upper(), className="lv-badge"), " ", r.message]) for r in results]),
    ])


def layout(store, run_id: str, *, focus=None):
    data = store[run_id]
    metrics = data.run.metrics
    if not metrics:
        return _parts.missing("This run has no metrics yet.", f"latentviz metrics {data.path}")
    items = rows(metrics, metric_facts())
    return html.Div(className="lv-stack", children=[
        html.Div(className="lv-card", children=[html.H3(f"Metrics of {data.name}"), table(items)]),
        audit_panel(store, data),
    ])


def register(app, store) -> None:
    """No callbacks: the table is static for a given run."""


def _num(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
