"""The metrics table as data: one row per metric with the registry's facts beside the value.

The report renders these rows with Jinja; the dashboard with a ``DataTable``. Both read the
direction, bounds, typical range and explanation from the metric registry, never from code of
their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: metrics.json keys that hold no metric value.
RESERVED = ("detail", "timings", "skipped", "parameters", "versions", "seed", "repeats")


@dataclass(frozen=True)
class MetricRow:
    """A metrics-table row: the value and what the registry says about the metric."""

    name: str
    value: float | None
    higher_is_better: bool | None
    bounds: str
    typical: str
    explanation: str
    group: str = ""
    standing: str = ""  # "below", "within" or "above" the typical range; "" when unknown
    spread: float | None = None  # the standard deviation over ``--repeats`` seeds, when it was repeated


def metric_values(metrics: dict) -> dict[str, float | None]:
    """The scalar metrics of a ``metrics.json`` dict (numbers, NaN as None), by name."""
    out = {}
    for name, value in metrics.items():
        if name in RESERVED or isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
            continue
        out[name] = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return out


def metric_rows(metrics: dict, facts: dict | None = None) -> list[MetricRow]:
    """Rows of every scalar metric in ``metrics``, in the registry's order (unknown metrics last, by name).

    Parameters
    ----------
    metrics : dict
        A run's ``metrics.json``.
    facts : dict of str to registry entry, optional
        Name -> an object with ``higher_is_better``, ``bounds``, ``typical``, ``explanation``
        and ``group`` (missing attributes show as blank).
    """
    facts = facts or {}
    values = metric_values(metrics)
    order = {name: k for k, name in enumerate(facts)}
    rows = []
    for name in sorted(values, key=lambda n: (order.get(n, len(order)), n)):
        fact = facts.get(name)
        typical = getattr(fact, "typical", None)
        rows.append(
            MetricRow(
                name=name,
                value=values[name],
                higher_is_better=getattr(fact, "higher_is_better", None),
                bounds=range_text(getattr(fact, "bounds", None)),
                typical=range_text(typical),
                explanation=str(getattr(fact, "explanation", "") or ""),
                group=str(getattr(fact, "group", "") or ""),
                standing=_standing(values[name], typical),
                spread=_spread(metrics, name),
            )
        )
    return rows


def _spread(metrics: dict, name: str) -> float | None:
    """``detail[name]["std"]`` of a metric the metrics stage repeated (its ``values`` list the seeds' results)."""
    entry = (metrics.get("detail") or {}).get(name)
    if not isinstance(entry, dict) or len(entry.get("values") or []) < 2:
        return None
    std = entry.get("std")
    return float(std) if isinstance(std, (int, float)) and not isinstance(std, bool) and math.isfinite(std) else None


def _standing(value: float | None, typical) -> str:
    if value is None or typical is None or isinstance(typical, str):
        return ""
    lo, hi = typical
    return "below" if lo is not None and value < lo else "above" if hi is not None and value > hi else "within"


def range_text(bounds) -> str:
    """``(0, 1)`` -> ``0 – 1``; open ends as ∞; text is kept as given."""
    if bounds is None:
        return ""
    if isinstance(bounds, str):
        return bounds
    lo, hi = bounds

    def one(v, inf):
        return inf if v is None or (isinstance(v, float) and math.isinf(v)) else f"{v:.3g}"

    return f"{one(lo, '−∞')} – {one(hi, '∞')}"
