"""How faithful an embedding is to the latent space: the metrics' trustworthiness and kNN preservation on a sample."""

from __future__ import annotations

import numpy as np

#: Neighbours the quality figures look at, and the largest sample they are computed on.
QUALITY_K = 10
QUALITY_SAMPLE = 5000


def embedding_quality(
    z: np.ndarray,
    embedding: np.ndarray,
    *,
    k: int = QUALITY_K,
    sample: int = QUALITY_SAMPLE,
    labels=None,
    random_state=0,
    metric: str = "euclidean",
) -> dict:
    """Trustworthiness and kNN preservation at ``k`` on a seeded sample of at most ``sample`` points.

    ``metric`` is the latent space's distance: with ``"cosine"`` the latents' neighbours are
    ranked by cosine distance (as the Euclidean distance of the unit vectors, which ranks alike).

    Returns ``{"trustworthiness", "knn_preservation", "quality_k", "quality_n"}``; the two
    figures are None (with a ``quality_note``) when there are too few points for ``k``.
    """
    from latentviz.metrics import knn_preservation, trustworthiness
    from latentviz.projection._sample import stratified_sample

    n = len(z)
    if n < 2 * k + 2:
        return {
            "trustworthiness": None,
            "knn_preservation": None,
            "quality_k": k,
            "quality_n": n,
            "quality_note": f"needs at least {2 * k + 2} points",
        }
    rows = stratified_sample(n, sample, labels=labels, random_state=random_state)
    from latentviz.neighbors import for_metric

    x, e = for_metric(z[rows], metric), embedding[rows]
    return {
        "trustworthiness": trustworthiness(x, e, k),
        "knn_preservation": knn_preservation(x, e, k),
        "quality_k": k,
        "quality_n": len(rows),
    }
