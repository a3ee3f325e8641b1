"""How faithful an embedding is to the latent space: the metrics' trustworthiness and kNN preservation on a sample."""

from __future__ import annotations

import numpy as np

#: Neighbours the quality figures look at, and the largest sample they are computed on.
QUALITY_K = 10
QUALITY_SAMPLE = 5000


class QualitySample:
    """The seeded sample of a run's latents that every map of it is scored on, with the latents' own nearest
    neighbours: drawn and searched once, however many maps are scored (read-only after construction, so two
    threads may score at once).

    ``metric`` is the latent space's distance: with ``"cosine"`` the latents' neighbours are ranked by
    cosine distance (as the Euclidean distance of the unit vectors, which ranks alike).
    """

    def __init__(
        self,
        z: np.ndarray,
        *,
        k: int = QUALITY_K,
        sample: int = QUALITY_SAMPLE,
        labels=None,
        random_state=0,
        metric: str = "euclidean",
    ):
        from latentviz.neighbors import for_metric, knn
        from latentviz.projection._sample import stratified_sample

        self.k, self.n = k, len(z)
        self.rows = self.x = self.x_neighbours = None
        if self.n >= 2 * k + 2:
            self.rows = stratified_sample(self.n, sample, labels=labels, random_state=random_state)
            self.x = np.asarray(for_metric(np.asarray(z[self.rows]), metric), np.float64)
            self.x_neighbours = knn(self.x, k, method="exact", device="cpu")

    def score(self, embedding: np.ndarray) -> dict:
        """``{"trustworthiness", "knn_preservation", "quality_k", "quality_n"}`` of ``embedding`` (a row per latent);
        the two figures are None (with a ``quality_note``) when there are too few points for ``k``."""
        from latentviz.metrics import knn_preservation, trustworthiness
        from latentviz.neighbors import knn

        if self.rows is None:
            return {
                "trustworthiness": None,
                "knn_preservation": None,
                "quality_k": self.k,
                "quality_n": self.n,
                "quality_note": f"needs at least {2 * self.k + 2} points",
            }
        e = np.asarray(embedding[self.rows], np.float64)
        e_neighbours = knn(e, self.k, method="exact", device="cpu")
        return {
            "trustworthiness": trustworthiness(self.x, e, self.k, neighbors=e_neighbours),
            "knn_preservation": knn_preservation(
                self.x, e, self.k, neighbors_a=self.x_neighbours, neighbors_b=e_neighbours
            ),
            "quality_k": self.k,
            "quality_n": len(self.rows),
        }


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

    Returns ``{"trustworthiness", "knn_preservation", "quality_k", "quality_n"}``; the two
    figures are None (with a ``quality_note``) when there are too few points for ``k``. Scoring
    several maps of one run: :class:`QualitySample` draws and searches the sample once.
    """
    sampled = QualitySample(z, k=k, sample=sample, labels=labels, random_state=random_state, metric=metric)
    return sampled.score(embedding)
