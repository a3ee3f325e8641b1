"""Density-based clusters of a run's latents (HDBSCAN), and the ``cluster`` stage that writes them.

The clustering is scikit-learn's :class:`sklearn.cluster.HDBSCAN`. The separate ``hdbscan``
package (with ``approximate_predict``) was not measured: it is not a dependency, and
scikit-learn's fits 20,000 points of a 5-D space in about 7 s on 2 cores, which bounds the
stage at any n (the rest are assigned, below).

Where it clusters: above :data:`UMAP_ABOVE` latent dimensions, density in the raw space is
diluted, so (the common recipe for embeddings) it clusters a :data:`UMAP_COMPONENTS`-D UMAP of the
latents fitted on the shared kNN graph; otherwise the latents themselves. Large n: HDBSCAN is
fitted on a seeded sample of :data:`FIT_SAMPLE` points and every other point takes the majority
cluster of its :data:`ASSIGN_K` nearest sampled points in the latent space (searched in chunks,
so memory stays bounded). ``min_cluster_size`` defaults to ``max(10, n_fit // 100)`` (capped at n_fit).

``allow_single_cluster=True``: on a space with no density structure (uniform noise) HDBSCAN
otherwise reports a handful of small chance clusters (2-20 of them on 800-2,000 uniform points
in 2-5 D, or on a UMAP of 16-D noise); with it, such a space is one cluster, while
well-separated groups are still split (the whole space is chosen only when it is more stable
than its parts).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from latentviz.errors import InputError

#: Above this many latent dimensions the clustering runs on a UMAP of the latents.
UMAP_ABOVE = 10
UMAP_COMPONENTS = 5
#: HDBSCAN is fitted on at most this many points (a seeded sample, stratified by label); the rest are assigned.
FIT_SAMPLE = 20_000
#: Sampled neighbours that vote for an assigned point's cluster.
ASSIGN_K = 5
#: Members whose pairwise distances choose a cluster's medoid, at most (a seeded sample of larger clusters).
MEDOID_SAMPLE = 1_000
TOP_LABELS = 3
SPACES = ("auto", "latents", "umap")
_CHUNK = 50_000  # assigned points searched per chunk


def default_min_cluster_size(n_fit: int) -> int:
    """``max(10, n_fit // 100)``: one percent of the fitted points, at least ten (every point below ten, at least 2)."""
    return max(2, min(int(n_fit), max(10, int(n_fit) // 100)))


@dataclasses.dataclass
class Clustering:
    """Cluster of every row (-1: outlier or non-finite), membership probability, and what was done."""

    labels: np.ndarray
    probabilities: np.ndarray
    info: dict


def cluster_latents(
    z,
    *,
    neighbors=None,
    labels=None,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    space: str = "auto",
    sample: int = FIT_SAMPLE,
    random_state: int = 0,
) -> Clustering:
    """Cluster the rows of ``z`` with HDBSCAN.

    Parameters
    ----------
    z : ndarray of shape (n_samples, n_latents)
        Rows with NaN/inf are left out (cluster -1, probability 0).
    neighbors : Neighbors, optional
        The run's kNN graph of ``z`` (rows of non-finite latents all -1); feeds the UMAP when
        every point is fitted. Computed when absent.
    labels : array of shape (n_samples,), optional
        Stratifies the fitted sample.
    min_cluster_size, min_samples : int, optional
        HDBSCAN's; default :func:`default_min_cluster_size` and HDBSCAN's own (= min_cluster_size).
    space : {"auto", "latents", "umap"}
        ``auto``: UMAP when ``n_latents > UMAP_ABOVE``.
    sample : int
        Points HDBSCAN is fitted on, at most.

    Returns
    -------
    Clustering
        ``info`` records the space, the parameters, the fitted and assigned counts and the outlier share.
    """
    from latentviz._validation import Integer, ParameterError, check_choice, check_param
    from latentviz.projection import stratified_sample

    check_choice("cluster", "space", space, SPACES)
    z = np.asarray(z)
    z = z if z.dtype.kind == "f" else z.astype(np.float64)  # a run's float32 codes are not copied (1M x 64: 256 MB)
    if z.ndim != 2:
        raise InputError(f"cluster: z must have shape (n_samples, n_latents); got {z.shape}")
    n, d = z.shape
    finite = np.flatnonzero(np.isfinite(z).all(axis=1))
    check_param("cluster", "sample", sample, Integer(10, None))
    fit_pos = stratified_sample(
        len(finite),
        min(sample, len(finite)),
        labels=None if labels is None else np.asarray(labels)[finite],
        random_state=random_state,
    )
    n_fit = len(fit_pos)
    size = default_min_cluster_size(n_fit) if min_cluster_size is None else min_cluster_size
    check_param("cluster", "min_cluster_size", size, Integer(2, None))
    if n_fit < max(size, 2):
        raise ParameterError(
            "cluster", "min_cluster_size", f"{size} is more than the {n_fit} finite points; give a smaller size"
        )
    chosen = "umap" if space == "umap" or (space == "auto" and d > UMAP_ABOVE) else "latents"
    x_fit = z[finite[fit_pos]]
    started = time.perf_counter()
    if chosen == "umap":
        graph = _fit_graph(neighbors, finite, n) if n_fit == len(finite) else None
        x_fit = _umap(x_fit, graph, random_state)
    umap_seconds = time.perf_counter() - started

    from sklearn.cluster import HDBSCAN

    tick = time.perf_counter()
    model = HDBSCAN(min_cluster_size=int(size), min_samples=min_samples, allow_single_cluster=True, copy=True).fit(
        x_fit
    )
    hdbscan_seconds = time.perf_counter() - tick
    out_labels = np.full(n, -1, dtype=np.int64)
    out_prob = np.zeros(n, dtype=np.float64)
    out_labels[finite[fit_pos]] = model.labels_
    out_prob[finite[fit_pos]] = model.probabilities_
    rest = np.setdiff1d(np.arange(len(finite)), fit_pos)
    if len(rest):
        assigned, share = assign_by_neighbours(
            z[finite[fit_pos]], model.labels_, z[finite[rest]], k=ASSIGN_K, random_state=random_state
        )
        out_labels[finite[rest]] = assigned
        out_prob[finite[rest]] = np.where(assigned >= 0, share, 0.0)
    counted = out_labels[finite]
    info = {
        "method": "hdbscan (scikit-learn)",
        "space": f"umap-{UMAP_COMPONENTS}" if chosen == "umap" else "latents",
        "space_requested": space,
        "parameters": {
            "min_cluster_size": int(size),
            "min_samples": min_samples,
            "allow_single_cluster": True,
            "sample": int(sample),
            "seed": int(random_state),
            "min_cluster_size_rule": "max(10, n_fit // 100), at most n_fit" if min_cluster_size is None else "given",
        },
        "n": int(n),
        "n_fit": int(n_fit),
        "n_assigned": len(rest),
        "excluded_nonfinite": int(n - len(finite)),
        "assignment": (
            f"majority cluster of the {ASSIGN_K} nearest fitted points in the latent space" if len(rest) else None
        ),
        "n_clusters": len(set(counted.tolist()) - {-1}),
        "outlier_share": float(np.mean(counted == -1)) if len(counted) else 0.0,
        "seconds": {"umap": round(umap_seconds, 4), "hdbscan": round(hdbscan_seconds, 4)},
    }
    return Clustering(labels=out_labels, probabilities=out_prob, info=info)


def _fit_graph(neighbors, finite: np.ndarray, n: int):
    """The shared graph restricted to the finite rows (renumbered), when it covers the run; else None."""
    if neighbors is None or neighbors.n != n or neighbors.k < 2:
        return None
    from latentviz.neighbors import Neighbors

    position = np.full(n, -1, dtype=np.int64)
    position[finite] = np.arange(len(finite))
    indices = position[neighbors.indices[finite]]
    if (indices < 0).any():
        return None
    return Neighbors(indices, neighbors.distances[finite], metric=neighbors.metric, method=neighbors.method)


def _umap(x: np.ndarray, graph, random_state: int) -> np.ndarray:
    from latentviz.projection import UMAP

    components = min(UMAP_COMPONENTS, max(2, len(x) - 2))
    return UMAP(components, n_neighbors=15, min_dist=0.0, random_state=random_state).fit(x, neighbors=graph).embedding_


def assign_by_neighbours(
    reference: np.ndarray,
    reference_labels: np.ndarray,
    points: np.ndarray,
    *,
    k: int = ASSIGN_K,
    metric: str = "euclidean",
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Each point's majority cluster among its ``k`` nearest reference points, and that cluster's share of the votes.

    Ties go to the cluster of the nearer neighbour. Searched in chunks of the points, so the
    memory is that of one chunk's neighbours whatever the number of points.
    """
    from latentviz.neighbors import search_index

    k = int(min(k, len(reference)))
    index = search_index(reference, metric=metric, random_state=random_state, n_queries=len(points))
    labels = np.asarray(reference_labels)
    assigned = np.empty(len(points), dtype=np.int64)
    share = np.empty(len(points), dtype=np.float64)
    for start in range(0, len(points), _CHUNK):
        found = index.query(points[start : start + _CHUNK], k).indices
        votes = labels[found]  # (m, k), nearest first
        counts = (votes[:, :, None] == votes[:, None, :]).sum(axis=2)  # votes for each neighbour's cluster
        best = counts.argmax(axis=1)  # first maximum: the nearest neighbour among the tied clusters
        rows = np.arange(len(votes))
        assigned[start : start + len(votes)] = votes[rows, best]
        share[start : start + len(votes)] = counts[rows, best] / k
    return assigned, share


def cluster_facts(z: np.ndarray, cluster: np.ndarray, *, ids: np.ndarray, labels=None, random_state: int = 0) -> dict:
    """Per-cluster facts (size, medoid id, centroid, top labels, purity) and, with labels, ARI and NMI.

    The medoid is the member with the least summed distance to the other members (of a seeded
    sample of :data:`MEDOID_SAMPLE` members in larger clusters). ARI and NMI compare the clusters
    with the labels over every finite row, outliers counted as one more group.
    """
    from collections import Counter

    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(random_state)
    finite = np.isfinite(z).all(axis=1)
    label_text = None if labels is None else np.asarray(labels).astype(str)
    clusters = []
    for c in sorted(set(cluster[finite].tolist()) - {-1}):
        members = np.flatnonzero(cluster == c)
        picked = members if len(members) <= MEDOID_SAMPLE else rng.choice(members, MEDOID_SAMPLE, replace=False)
        medoid = picked[np.argmin(cdist(z[picked], z[picked]).sum(axis=1))]
        entry = {
            "cluster": int(c),
            "size": len(members),
            "medoid": str(ids[medoid]),
            "centroid": [float(v) for v in z[members].mean(axis=0, dtype=np.float64)],
        }
        if label_text is not None:
            top = Counter(label_text[members].tolist()).most_common(TOP_LABELS)
            entry["top_labels"] = [[name, int(count)] for name, count in top]
            entry["purity"] = float(top[0][1] / len(members))
        clusters.append(entry)
    kept = cluster[finite]
    facts = {"clusters": clusters, "n_outliers": int(np.sum(kept == -1)), "n_clusters": len(clusters)}
    if label_text is not None and finite.any():
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        facts["ari"] = float(adjusted_rand_score(label_text[finite], kept))
        facts["nmi"] = float(normalized_mutual_info_score(label_text[finite], kept))
    return facts


def cluster_run(
    run,
    *,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    space: str = "auto",
    sample: int = FIT_SAMPLE,
    seed: int = 0,
    quiet: bool = False,
) -> dict:
    """The ``cluster`` stage: cluster ``run``'s latents and write ``clusters.parquet`` and ``clusters.json``.

    ``clusters.parquet`` holds ``id``, ``cluster`` (-1 = outlier), ``probability`` and ``outlier``;
    ``clusters.json`` the :class:`Clustering` ``info`` and :func:`cluster_facts`. Both are
    committed together with the manifest entry (:meth:`Run.stage`). Returns the json.
    """
    import pandas as pd

    from latentviz.progress import say
    from latentviz.run import (
        CLUSTER_COLUMNS,
        CLUSTER_FACTS,
        CLUSTERS,
        Run,
        write_json,
        write_table,
    )

    started = time.perf_counter()
    run = run if isinstance(run, Run) else Run(run)
    run.require_complete()
    z = run.z
    try:
        graph = run.neighbors()
    except InputError:
        graph = None  # stale: the UMAP computes its own
    labels = run.labels
    with run.stage("cluster") as stage:
        result = cluster_latents(
            z,
            neighbors=graph,
            labels=labels,
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            space=space,
            sample=sample,
            random_state=seed,
        )
        facts = {**result.info, **cluster_facts(z, result.labels, ids=run.ids, labels=labels, random_state=seed)}
        columns = (run.ids, result.labels.astype(np.int32), result.probabilities.astype(np.float32), result.labels < 0)
        table = pd.DataFrame(dict(zip(CLUSTER_COLUMNS, columns, strict=True)))
        write_table(stage.path(CLUSTERS), table)
        write_json(stage.path(CLUSTER_FACTS), facts)
        stage.record_stage(time.perf_counter() - started, space=facts["space"], **facts["parameters"])
    say(
        f"cluster: {facts['n_clusters']} clusters in {facts['space']}, {facts['outlier_share']:.1%} outliers",
        quiet=quiet,
    )
    return facts
