"""Neighbourhood preservation between two spaces: trustworthiness, continuity, kNN overlap."""

from __future__ import annotations

import numpy as np

from latentviz._validation import check_latents
from latentviz.errors import InputError
from latentviz.metrics._common import check_min_samples, drop_nonfinite

# Comparisons per block when ranking neighbours (rows x k x n booleans).
_BLOCK_ELEMENTS = 2**25


def trustworthiness(x, z, k: int = 10, *, neighbors=None) -> float:
    """Trustworthiness (Venna & Kaski, 2006): whether latent neighbours are input-space neighbours too.

    .. math::

        T(k) = 1 - \\frac{2}{n k (2n - 3k - 1)} \\sum_i \\sum_{j \\in U_k(i)} (r(i, j) - k)

    where :math:`U_k(i)` are the points among the :math:`k` nearest of :math:`i` in ``z`` but
    not in ``x``, and :math:`r(i, j)` is the rank of :math:`j` among :math:`i`'s neighbours in
    ``x``. Memory is O(n) per row block (time O(n^2 d)), so run it on a sample of up to about
    10k points.

    Parameters
    ----------
    x : array-like of shape (n_samples, n_features)
        The input space (flattened inputs, or their PCA).
    z : array-like of shape (n_samples, n_latents)
        The latent (or projected) space, rows matching ``x``.
    k : int, default=10
        Neighbourhood size, below n / 2.
    neighbors : latentviz.neighbors.Neighbors, optional
        The k-NN graph of ``z`` (self excluded), reused instead of searching.

    Returns
    -------
    float
        In [0, 1]; higher is better (1 for any similarity transform).

    References
    ----------
    .. [1] J. Venna and S. Kaski, "Local multidimensional scaling", Neural Networks 19, 2006.

    Examples
    --------
    >>> x = np.random.RandomState(0).randn(50, 3)
    >>> trustworthiness(x, 2 * x + 1, k=5)
    1.0
    """
    x, z = _pair(x, z, "trustworthiness", k)
    return _rank_score(x, _knn_indices(z, k, neighbors), k)


def continuity(x, z, k: int = 10, *, neighbors=None) -> float:
    """Continuity (Venna & Kaski, 2006): whether input-space neighbours stay neighbours in the latent space.

    Trustworthiness with the two spaces swapped: the penalty is the rank in ``z`` of the input
    neighbours that are missing from the latent neighbourhood.

    Parameters
    ----------
    x : array-like of shape (n_samples, n_features)
        The input space.
    z : array-like of shape (n_samples, n_latents)
        The latent (or projected) space, rows matching ``x``.
    k : int, default=10
        Neighbourhood size, below n / 2.
    neighbors : latentviz.neighbors.Neighbors, optional
        The k-NN graph of ``x`` (self excluded), reused instead of searching.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    References
    ----------
    .. [1] J. Venna and S. Kaski, "Local multidimensional scaling", Neural Networks 19, 2006.

    Examples
    --------
    >>> x = np.random.RandomState(0).randn(50, 3)
    >>> continuity(x, -x, k=5)
    1.0
    """
    x, z = _pair(x, z, "continuity", k)
    return _rank_score(z, _knn_indices(x, k, neighbors), k)


def knn_preservation(a, b, k: int = 10, *, device: str = "cpu", neighbors_a=None, neighbors_b=None) -> float:
    """Mean overlap of the k-nearest-neighbour sets of each point in two spaces.

    .. math:: \\frac1n \\sum_i \\frac{|\\mathrm{kNN}_A(i) \\cap \\mathrm{kNN}_B(i)|}{k}

    Parameters
    ----------
    a : array-like of shape (n_samples, n_features_a)
        First space.
    b : array-like of shape (n_samples, n_features_b)
        Second space, rows matching ``a``.
    k : int, default=10
        Neighbours per point.
    device : str, default="cpu"
        Where the exact neighbour searches run (``cpu``, ``auto``, ``cuda``, ``mps``).
    neighbors_a, neighbors_b : latentviz.neighbors.Neighbors, optional
        The k-NN graph of ``a`` or ``b`` (self excluded), reused instead of searching.

    Returns
    -------
    float
        In [0, 1] (about k / n by chance); higher is better.

    Examples
    --------
    >>> a = np.random.RandomState(0).randn(40, 2)
    >>> knn_preservation(a, 3 * a, k=5)
    1.0
    """
    a, b = _pair(a, b, "knn_preservation", k)
    from latentviz.neighbors import mean_overlap

    return mean_overlap(_knn_indices(a, k, neighbors_a, device), _knn_indices(b, k, neighbors_b, device))


def _pair(a, b, whom: str, k: int):
    a = check_latents(a, "x", whom=whom)
    b = check_latents(b, "z", whom=whom)
    if len(a) != len(b):
        raise InputError(f"{whom}: x has {len(a)} rows but z has {len(b)}; give one row per sample in both")
    b, (a,) = drop_nonfinite(b, a, whom=whom)
    a, (b,) = drop_nonfinite(a, b, whom=whom)
    if not 1 <= int(k) < len(a) / 2:
        check_min_samples(len(a), 2 * int(k) + 1, whom=whom)
        raise InputError(f"{whom}: k must be a positive integer below n_samples / 2 ({len(a) / 2}); got {k}")
    return a, b


def _knn_indices(points: np.ndarray, k: int, neighbors, device: str = "cpu") -> np.ndarray:
    from latentviz.neighbors import knn

    if neighbors is not None:
        if neighbors.n != len(points):
            raise InputError(f"neighbors: the graph has {neighbors.n} points but the data has {len(points)}")
        return np.asarray(neighbors.head(k).indices, dtype=np.int64)
    return np.asarray(knn(points, k, method="exact", device=device).indices, dtype=np.int64)


def _rank_score(space: np.ndarray, other_neighbours: np.ndarray, k: int) -> float:
    """1 - normalised sum of (rank in ``space`` - k) over the other space's neighbours ranked beyond k.

    Distances are exact float64 differences (no ``|a|^2 - 2ab + |b|^2`` cancellation), so near-ties
    rank as in a brute-force reference; a rank counts the points strictly closer, plus one.
    """
    from scipy.spatial.distance import cdist

    n = len(space)
    rows_per_block = max(1, _BLOCK_ELEMENTS // (n * other_neighbours.shape[1]))
    excess = 0
    for start in range(0, n, rows_per_block):
        rows = np.arange(start, min(start + rows_per_block, n))
        dist = cdist(space[rows], space)
        dist[np.arange(len(rows)), rows] = np.inf
        target = np.take_along_axis(dist, other_neighbours[rows], axis=1)
        ranks = (dist[:, None, :] < target[:, :, None]).sum(axis=2) + 1
        excess += int(np.clip(ranks - k, 0, None).sum())
    return float(1.0 - excess * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
