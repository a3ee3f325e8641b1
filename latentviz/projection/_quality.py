"""How faithful an embedding is to the latent space: trustworthiness and kNN preservation on a sample."""

from __future__ import annotations

import numpy as np

#: Neighbours the quality figures look at, and the largest sample they are computed on.
QUALITY_K = 10
QUALITY_SAMPLE = 5000


def embedding_quality(z: np.ndarray, embedding: np.ndarray, *, k: int = QUALITY_K, sample: int = QUALITY_SAMPLE,
                      labels=None, random_state=0) -> dict:
    """Trustworthiness and kNN preservation at ``k`` on a seeded sample of at most ``sample`` points.

    Returns ``{"trustworthiness", "knn_preservation", "quality_k", "quality_n"}``; the two
    figures are None (with a ``quality_note``) when there are too few points for ``k``.
    """
    from latentviz.projection._sample import stratified_sample

    n = len(z)
    if n < 2 * k + 2:
        return {"trustworthiness": None, "knn_preservation": None, "quality_k": k, "quality_n": n,
                "quality_note": f"needs at least {2 * k + 2} points"}
    rows = stratified_sample(n, sample, labels=labels, random_state=random_state)
    x, e = z[rows], embedding[rows]
    return {"trustworthiness": trustworthiness(x, e, k), "knn_preservation": knn_preservation(x, e, k),
            "quality_k": k, "quality_n": len(rows)}


def knn_preservation(x: np.ndarray, e: np.ndarray, k: int = QUALITY_K) -> float:
    """Mean over points of ``|kNN_x(i) ∩ kNN_e(i)| / k``; float in [0, 1], higher is better."""
    from latentviz.neighbors import _mean_overlap, knn

    return _mean_overlap(knn(x, k).indices, knn(e, k).indices)


def trustworthiness(x: np.ndarray, e: np.ndarray, k: int = QUALITY_K) -> float:
    """Trustworthiness of the embedding ``e`` of ``x`` (Venna & Kaski, 2006); float in [0, 1], higher is better.

    .. math:: T(k) = 1 - \\frac{2}{n k (2n - 3k - 1)} \\sum_i \\sum_{j \\in U_k(i)} (r(i, j) - k)

    where :math:`U_k(i)` are the embedding's k nearest neighbours of i that are not among its k
    nearest in ``x`` and :math:`r(i, j)` is the rank of j among i's neighbours in ``x``.
    O(n^2) time, O(n * 1024) memory.
    """
    from latentviz.neighbors import knn

    n = len(x)
    near_x = knn(x, k).indices
    near_e = knn(e, k).indices
    penalty = 0.0
    for start in range(0, n, 1024):
        rows = np.arange(start, min(start + 1024, n))
        d = _sq_distances(x[rows], x)
        d[np.arange(len(rows)), rows] = np.inf  # the point itself is not its own neighbour
        intruders = near_e[rows]
        d_intruder = np.take_along_axis(d, intruders, axis=1)
        d.sort(axis=1)
        ranks = np.array([np.searchsorted(d[i], d_intruder[i], side="left") + 1 for i in range(len(rows))])
        outside = ~(intruders[:, :, None] == near_x[rows][:, None, :]).any(axis=2)
        penalty += float(((ranks - k) * outside).sum())
    return float(1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty)


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)
