"""Dimensions: each latent against the N(0, 1) prior, KL and activity per dimension, entanglement, latent × factor MI."""

from __future__ import annotations

import numpy as np
from dash import dcc, html

from dashboards import ids
from dashboards.pages import _parts


def figures(data) -> list[tuple[str, object]]:
    """``(name, figure)`` of every panel the run's files allow, from the shared builders."""
    from latentviz import figures as lvf

    z = data.z
    out = [("histograms", lvf.latent_histograms(z))]
    if data.kl_per_dim is not None:
        out.append(("kl", lvf.kl_bars(data.kl_per_dim)))
    out.append(("activity", lvf.activity_bars(np.var(z, axis=0))))
    out.append(("correlation", lvf.correlation_heatmap(z)))
    mi = mutual_information(data.run.metrics, z.shape[1], len(data.run.factor_names))
    if mi is not None:
        out.append(
            (
                "mi",
                lvf.mi_heatmap(
                    mi,
                    latent_names=[f"z{j}" for j in range(z.shape[1])],
                    factor_names=data.run.factor_names,
                    normalized=False,
                ),
            )
        )
    return out


def mutual_information(metrics: dict, n_latents: int, n_factors: int) -> np.ndarray | None:
    """The latent × factor mutual information (nats) the metrics stage kept for MIG, or None."""
    entry = ((metrics.get("detail") or {}).get("mig") or {}).get("mutual_info_matrix")
    if entry is None:
        return None
    matrix = np.asarray(entry, dtype=float)
    return matrix if matrix.shape == (n_latents, n_factors) else None


def layout(store, run_id: str, *, focus=None):
    data = store[run_id]
    panels = figures(data)
    wide = {"histograms"}
    cards = [
        html.Div(
            className="lv-card" + (" lv-span-2" if name in wide else ""),
            children=dcc.Graph(id=ids.dimension_figure(data.id, name=name), figure=fig, config={"displaylogo": False}),
        )
        for name, fig in panels
    ]
    has_mi = mutual_information(data.run.metrics, data.z.shape[1], len(data.run.factor_names)) is not None
    notes = (
        []
        if has_mi or not data.run.factor_names
        else [
            _parts.hint(
                "Latent × factor mutual information appears once the metrics stage has run "
                f"(latentviz metrics {data.path})."
            )
        ]
    )
    return html.Div(className="lv-grid-2", children=cards + notes)


def register(app, store) -> None:
    """No callbacks: every panel is static for a given run."""
