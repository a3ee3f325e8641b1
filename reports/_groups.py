"""The report's clusters and drift sections, from ``clusters.json`` and ``drift.json``."""

from __future__ import annotations

import base64

import numpy as np

from latentviz import figures
from reports._model import Cell, Fact, Picture, TableSection
from reports._render import num
from reports._sections import spec

#: Thumbnails in each cluster's strip: the medoid, then a seeded sample of the members.
STRIP_LENGTH = 8
STRIP_CELL = 48
#: Clusters listed (the largest first) before the rest are summarised in a note.
MAX_CLUSTERS = 50


def cluster_section(run, *, seed: int = 0) -> TableSection:
    section = TableSection(
        id="clusters",
        title="Clusters",
        intro="Groups of samples that sit densely together in the latent space, found by HDBSCAN; points in no "
        "dense group are outliers. Purity is the share of a cluster's most common label.",
    )
    facts = run.cluster_facts
    if not facts:
        section.missing = "not computed: run `latentviz cluster RUN`"
        return section
    params = facts.get("parameters") or {}
    section.facts = [
        Fact(
            "Clusters",
            num(facts.get("n_clusters")),
            f"{num(100 * facts.get('outlier_share', 0.0))}% of the points are outliers",
        ),
        Fact(
            "Clustered in",
            str(facts.get("space")),
            f"{facts.get('method')}; min cluster size "
            f"{num(params.get('min_cluster_size'))} ({params.get('min_cluster_size_rule')})",
        ),
        Fact(
            "Fitted on",
            f"{num(facts.get('n_fit'))} points",
            f"{num(facts.get('n_assigned'))} more assigned: {facts['assignment']}"
            if facts.get("n_assigned")
            else "every point",
        ),
    ]
    if "ari" in facts:
        section.facts.append(
            Fact(
                "Agreement with the labels",
                f"ARI {num(facts['ari'])}, NMI {num(facts['nmi'])}",
                "adjusted Rand index and normalised mutual information (1: the clusters are the labels)",
            )
        )
    clusters = sorted(facts.get("clusters", []), key=lambda c: -c["size"])
    labelled = any("purity" in c for c in clusters)
    section.header = ["Cluster", "Size", "Medoid id"] + (["Top labels", "Purity"] if labelled else [])
    for entry in clusters[:MAX_CLUSTERS]:
        row = [Cell(str(entry["cluster"])), Cell(num(entry["size"])), Cell(str(entry["medoid"]))]
        if labelled:
            top = ", ".join(f"{name} ({num(count)})" for name, count in entry.get("top_labels", []))
            row += [Cell(top), Cell(num(entry.get("purity")))]
        section.rows.append(row)
    if len(clusters) > MAX_CLUSTERS:
        section.note = f"The {MAX_CLUSTERS} largest of {len(clusters)} clusters are listed."
    section.figures.append(
        spec(
            "clusters-sizes",
            figures.cluster_sizes([c["size"] for c in facts.get("clusters", [])], facts.get("n_outliers", 0)),
        )
    )
    section.pictures = cluster_strips(run, clusters[:MAX_CLUSTERS], seed=seed)
    return section


def cluster_strips(run, clusters: list[dict], *, seed: int) -> list[Picture]:
    """One strip of thumbnails per cluster (its medoid first), when the run has thumbnails."""
    thumbs = run.thumbnails
    table = run.clusters
    if not thumbs or table is None:
        return []
    from latentviz.sprites import png_of, sprite_sheet

    rng = np.random.default_rng(seed)
    ids = table["id"].astype(str).to_numpy()
    labels = table["cluster"].to_numpy()
    strips = []
    for entry in clusters:
        members = [i for i in ids[labels == entry["cluster"]] if i in thumbs and i != entry["medoid"]]
        picked = list(rng.choice(members, min(STRIP_LENGTH - 1, len(members)), replace=False)) if members else []
        shown = ([entry["medoid"]] if entry["medoid"] in thumbs else []) + picked
        if not shown:
            continue
        png = png_of(sprite_sheet([thumbs[i] for i in shown], cell=STRIP_CELL, columns=len(shown)))
        strips.append(
            Picture(
                title=f"Cluster {entry['cluster']}",
                caption=f"{num(entry['size'])} points; the medoid first",
                mime="image/png",
                data=base64.b64encode(png).decode("ascii"),
            )
        )
    return strips


def drift_section(run) -> TableSection:
    from latentviz.drift import THRESHOLDS, metric_infos

    section = TableSection(
        id="drift",
        title="Drift from a reference run",
        intro="Whether this run's codes still look like those of a reference run encoded by the same model. "
        "Each score has a threshold; past it, the data has moved.",
    )
    drift = run.drift
    if not drift:
        section.missing = (
            "not measured: run `latentviz drift REFERENCE RUN` (or `latentviz audit RUN --baseline REFERENCE`)"
        )
        return section
    infos = metric_infos()
    reference = (drift.get("reference") or {}).get("path", "—")
    n_ref, n_cur = drift.get("n", ["—", "—"])
    section.facts = [Fact("Reference run", str(reference), f"{num(n_ref)} reference and {num(n_cur)} current points")]
    if drift.get("model_note"):
        section.facts.append(Fact("Model check", "not confirmed", str(drift["model_note"])))
    symbols = {"lte": "≤", "gte": "≥"}
    section.header = ["Score", "Value", "Fine while", "Verdict", "Meaning"]
    for name, value in (drift.get("scores") or {}).items():
        if name in THRESHOLDS:
            condition, threshold = THRESHOLDS[name]
            bad = bool((drift.get("drifted") or {}).get(name))
            limit, verdict = (
                f"{symbols[condition]} {num(threshold)}",
                Cell("drift" if bad else "no drift", "poor" if bad else "good"),
            )
        else:
            limit, verdict = "—", Cell("")
        meaning = infos[name].explanation if name in infos else ""
        section.rows.append([Cell(name), Cell(num(value)), Cell(limit), verdict, Cell(meaning)])
    ks = drift.get("ks") or {}
    if ks.get("statistic"):
        flagged = ks.get("flagged", [])
        section.figures.append(
            spec(
                "drift-ks",
                figures.ks_bars(ks["statistic"], ks["p_value"], flagged=flagged, level=ks["level"]),
                "Drifted dimensions: " + (", ".join(f"z{j}" for j in flagged) or "none") + ".",
            )
        )
    view = drift.get("map") or {}
    if view.get("reference") is not None:
        section.figures.append(
            spec(
                "drift-map",
                figures.drift_map(view["reference"], view["current"], method=view.get("method", "")),
                "Grey: the reference run; blue: this run.",
            )
        )
    shifts = drift.get("clusters") or {}
    if shifts.get("clusters"):
        section.figures.append(
            spec(
                "drift-clusters",
                figures.cluster_share_bars(shifts["clusters"]),
                f"This run's points join the cluster of their nearest reference points; "
                f"{num(100 * shifts['outside_share'])}% lie farther from every reference point "
                "than 99% of reference points are from theirs.",
            )
        )
    return section
