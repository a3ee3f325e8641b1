"""Similarity of two latent spaces on the same inputs: CKA, SVCCA, Procrustes, mutual k-NN.

Every function takes ``baseline=True`` to return ``(score, chance)``: the same score with the
rows of ``b`` shuffled (averaged over ``permutations`` seeded shuffles), which shows what two
unrelated spaces would get.
"""

from __future__ import annotations

import numpy as np

from latentviz._validation import check_latents, check_random_state
from latentviz.errors import InputError

_CHUNK = 65536


def linear_cka(a, b, *, baseline: bool = False, seed=0, permutations: int = 1, device: str = "cpu"):
    """Linear centred kernel alignment (Kornblith et al., 2019).

    .. math:: \\mathrm{CKA}(X, Y) = \\frac{\\lVert Y^\\top X \\rVert_F^2}{\\lVert X^\\top X \\rVert_F \\lVert Y^\\top Y \\rVert_F}

    for column-centred :math:`X, Y`. Computed from d x d cross-products accumulated in chunks
    (float64, on ``device``), never forming an n x n matrix, so a million rows are fine.
    Invariant to orthogonal transforms and isotropic scaling of either space.

    Parameters
    ----------
    a : array-like of shape (n_samples, d_a)
        First space.
    b : array-like of shape (n_samples, d_b)
        Second space, rows matching ``a``.
    baseline : bool, default=False
        Also return the chance level: the score with the rows of ``b`` shuffled.
    seed : int, default=0
        Seeds the shuffle.
    permutations : int, default=1
        Shuffles averaged for the chance level (seeds ``seed``, ``seed + 1``, ...).
    device : str, default="cpu"
        Where the cross-products are accumulated (``cpu``, ``auto``, ``cuda``, ``mps``).

    Returns
    -------
    float or tuple of float
        In [0, 1]; higher means more similar. ``(score, chance)`` with ``baseline``.

    References
    ----------
    .. [1] S. Kornblith, M. Norouzi, H. Lee and G. Hinton, "Similarity of Neural Network
       Representations Revisited", ICML 2019.

    Examples
    --------
    >>> a = np.random.RandomState(0).randn(100, 3)
    >>> round(linear_cka(a, 2 * a @ np.linalg.qr(np.random.RandomState(1).randn(3, 3))[0]), 6)
    1.0
    """
    a, b = _pair(a, b, "linear_cka")
    return _with_baseline(lambda x, y: _linear_cka(x, y, device), a, b, baseline, seed, permutations)


def _linear_cka(a: np.ndarray, b: np.ndarray, device: str) -> float:
    from latentviz.devices import array_engine

    engine = array_engine(device)

    def cross(x, y):
        total = None
        for start in range(0, len(x), _CHUNK):
            xs = engine.asarray(x[start : start + _CHUNK], "float64")
            ys = engine.asarray(y[start : start + _CHUNK], "float64")
            part = ys.T @ xs
            total = part if total is None else total + part
        return engine.numpy(total).astype(np.float64)

    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    xx, yy, yx = cross(a, a), cross(b, b), cross(a, b)
    denominator = float(np.linalg.norm(xx) * np.linalg.norm(yy))
    return 0.0 if denominator == 0 else float(np.linalg.norm(yx) ** 2) / denominator


def rbf_cka(
    a,
    b,
    *,
    sigma: float = 0.8,
    debiased: bool = False,
    baseline: bool = False,
    seed=0,
    permutations: int = 1,
    max_samples: int = 5000,
) -> float:
    """CKA with gaussian kernels, bandwidth ``sigma`` times the median pairwise distance.

    .. math::

        \\mathrm{CKA} = \\frac{\\mathrm{HSIC}(K, L)}{\\sqrt{\\mathrm{HSIC}(K, K)\\,\\mathrm{HSIC}(L, L)}},
        \\quad \\mathrm{HSIC}(K, L) = \\frac{\\operatorname{tr}(KHLH)}{(n-1)^2}

    or, with ``debiased``, the unbiased HSIC estimator of Song et al. (2012). Forms n x n
    kernels, so inputs above ``max_samples`` rows are compared on a seeded sample.

    Parameters
    ----------
    a : array-like of shape (n_samples, d_a)
        First space.
    b : array-like of shape (n_samples, d_b)
        Second space, rows matching ``a``.
    sigma : float, default=0.8
        Bandwidth as a fraction of the median distance.
    debiased : bool, default=False
        Use the unbiased HSIC estimator (needs n >= 4).
    baseline : bool, default=False
        Also return the chance level: the score with the rows of ``b`` shuffled.
    seed : int, default=0
        Seeds the sample and the shuffle.
    permutations : int, default=1
        Shuffles averaged for the chance level (seeds ``seed``, ``seed + 1``, ...).
    max_samples : int, default=5000
        Rows compared at most.

    Returns
    -------
    float or tuple of float
        In [0, 1] (the debiased estimate can dip slightly below 0); higher means more similar.

    References
    ----------
    .. [1] S. Kornblith, M. Norouzi, H. Lee and G. Hinton, "Similarity of Neural Network
       Representations Revisited", ICML 2019.

    Examples
    --------
    >>> a = np.random.RandomState(0).randn(60, 3)
    >>> round(rbf_cka(a, 5 * a), 6)
    1.0
    """
    a, b = _pair(a, b, "rbf_cka")
    if debiased and len(a) < 4:
        raise InputError(f"rbf_cka: the debiased estimator needs at least 4 samples; got {len(a)}")
    if len(a) > max_samples:
        rows = check_random_state(seed).choice(len(a), max_samples, replace=False)
        a, b = a[rows], b[rows]
    return _with_baseline(lambda x, y: _rbf_cka(x, y, sigma, debiased), a, b, baseline, seed, permutations)


def _rbf_cka(a, b, sigma, debiased) -> float:
    ka, kb = _rbf_kernel(a, sigma), _rbf_kernel(b, sigma)
    hsic = _hsic_unbiased if debiased else _hsic_biased
    ab, aa, bb = hsic(ka, kb), hsic(ka, ka), hsic(kb, kb)
    return 0.0 if aa <= 0 or bb <= 0 else float(ab / np.sqrt(aa * bb))


def _rbf_kernel(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.spatial.distance import pdist, squareform

    dist = squareform(pdist(x, "sqeuclidean"))
    median = np.median(np.sqrt(dist[np.triu_indices(len(x), 1)]))
    if median == 0:
        return np.ones_like(dist)
    return np.exp(-dist / (2 * (sigma * median) ** 2))


def _hsic_biased(ka: np.ndarray, kb: np.ndarray) -> float:
    ca = ka - ka.mean(axis=0) - ka.mean(axis=1)[:, None] + ka.mean()
    cb = kb - kb.mean(axis=0) - kb.mean(axis=1)[:, None] + kb.mean()
    return float((ca * cb).sum() / (len(ka) - 1) ** 2)


def _hsic_unbiased(ka: np.ndarray, kb: np.ndarray) -> float:
    n = len(ka)
    ka, kb = ka.copy(), kb.copy()
    np.fill_diagonal(ka, 0.0)
    np.fill_diagonal(kb, 0.0)
    value = (
        (ka * kb).sum() + ka.sum() * kb.sum() / ((n - 1) * (n - 2)) - 2.0 * (ka.sum(axis=0) @ kb.sum(axis=0)) / (n - 2)
    )
    return float(value / (n * (n - 3)))


def svcca(a, b, *, keep: float = 0.99, baseline: bool = False, seed=0, permutations: int = 1):
    """SVCCA (Raghu et al., 2017): mean canonical correlation of the top singular directions.

    Each space is centred and reduced to its top singular directions explaining ``keep`` of its
    variance; the score is the mean of the canonical correlations between the two reductions.

    Parameters
    ----------
    a : array-like of shape (n_samples, d_a)
        First space.
    b : array-like of shape (n_samples, d_b)
        Second space, rows matching ``a``.
    keep : float, default=0.99
        Fraction of variance the kept directions explain.
    baseline : bool, default=False
        Also return the chance level: the score with the rows of ``b`` shuffled.
    seed : int, default=0
        Seeds the shuffle.
    permutations : int, default=1
        Shuffles averaged for the chance level (seeds ``seed``, ``seed + 1``, ...).

    Returns
    -------
    float or tuple of float
        In [0, 1]; higher means more similar.

    References
    ----------
    .. [1] M. Raghu, J. Gilmer, J. Yosinski and J. Sohl-Dickstein, "SVCCA: Singular Vector
       Canonical Correlation Analysis for Deep Learning Dynamics and Interpretability", NeurIPS 2017.

    Examples
    --------
    >>> a = np.random.RandomState(0).randn(100, 3)
    >>> round(svcca(a, a @ np.random.RandomState(1).randn(3, 3)), 6)
    1.0
    """
    a, b = _pair(a, b, "svcca")
    return _with_baseline(lambda x, y: _svcca(x, y, keep), a, b, baseline, seed, permutations)


def _svcca(a, b, keep) -> float:
    qa, qb = _reduced_basis(a, keep), _reduced_basis(b, keep)
    if qa.shape[1] == 0 or qb.shape[1] == 0:
        return 0.0
    correlations = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.clip(correlations, 0.0, 1.0).mean())


def _reduced_basis(x: np.ndarray, keep: float) -> np.ndarray:
    """Orthonormal basis (n, r) of the top singular directions explaining ``keep`` of the variance."""
    u, s, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    energy = s**2
    if energy.sum() == 0:
        return u[:, :0]
    r = int(np.searchsorted(np.cumsum(energy) / energy.sum(), keep - 1e-12) + 1)
    return u[:, : min(r, int((s > s[0] * 1e-10).sum()))]


def procrustes_distance(a, b, *, baseline: bool = False, seed=0, permutations: int = 1):
    """Orthogonal Procrustes distance between centred, Frobenius-normalised spaces.

    .. math:: \\min_{R^\\top R = I} \\lVert X - Y R \\rVert_F = \\sqrt{2 - 2 \\lVert X^\\top Y \\rVert_*}

    (zero-padding the narrower space). Invariant to rotation, reflection, translation and
    isotropic scaling.

    Parameters
    ----------
    a : array-like of shape (n_samples, d_a)
        First space.
    b : array-like of shape (n_samples, d_b)
        Second space, rows matching ``a``.
    baseline : bool, default=False
        Also return the chance level: the score with the rows of ``b`` shuffled.
    seed : int, default=0
        Seeds the shuffle.
    permutations : int, default=1
        Shuffles averaged for the chance level (seeds ``seed``, ``seed + 1``, ...).

    Returns
    -------
    float or tuple of float
        In [0, sqrt(2)]; lower means more similar.

    References
    ----------
    .. [1] A. H. Williams, E. Kunz, S. Kornblith and S. W. Linderman, "Generalized Shape
       Metrics on Neural Representations", NeurIPS 2021.

    Examples
    --------
    >>> a = np.random.RandomState(0).randn(50, 2)
    >>> procrustes_distance(a, 3 * a + 1) < 1e-6
    True
    """
    a, b = _pair(a, b, "procrustes_distance")
    return _with_baseline(_procrustes, a, b, baseline, seed, permutations)


def _procrustes(a, b) -> float:
    x, y = a - a.mean(axis=0), b - b.mean(axis=0)
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        return float(np.sqrt(2.0)) if nx != ny else 0.0
    nuclear = np.linalg.svd((x / nx).T @ (y / ny), compute_uv=False).sum()
    return float(np.sqrt(max(2.0 - 2.0 * nuclear, 0.0)))


def mutual_knn(a, b, k: int = 10, *, baseline: bool = False, seed=0, permutations: int = 1, device: str = "cpu"):
    """Mutual k-NN alignment (Huh et al., 2024): mean overlap of each point's k-NN sets in the two spaces.

    .. math:: \\frac1n \\sum_i \\frac{|\\mathrm{kNN}_A(i) \\cap \\mathrm{kNN}_B(i)|}{k}

    Parameters
    ----------
    a : array-like of shape (n_samples, d_a)
        First space.
    b : array-like of shape (n_samples, d_b)
        Second space, rows matching ``a``.
    k : int, default=10
        Neighbours per point.
    baseline : bool, default=False
        Also return the score with the rows of ``b`` shuffled (about k / n).
    seed : int, default=0
        Seeds the shuffle.
    permutations : int, default=1
        Shuffles averaged for the chance level (seeds ``seed``, ``seed + 1``, ...).
    device : str, default="cpu"
        Where the exact neighbour searches run (``cpu``, ``auto``, ``cuda``, ``mps``).

    Returns
    -------
    float or tuple of float
        In [0, 1]; higher means more similar.

    References
    ----------
    .. [1] M. Huh, B. Cheung, T. Wang and P. Isola, "The Platonic Representation Hypothesis", ICML 2024.

    Examples
    --------
    >>> a = np.random.RandomState(0).randn(40, 2)
    >>> mutual_knn(a, -a, k=5)
    1.0
    """
    from latentviz.metrics._neighborhood import _knn_indices, knn_preservation
    from latentviz.neighbors import mean_overlap

    a, b = _pair(a, b, "mutual_knn")
    value = knn_preservation(a, b, k, device=device)
    if not baseline:
        return value
    # b's graph with its rows shuffled is b's graph relabelled: search once, permute the indices
    graph_a, graph_b = _knn_indices(a, k, None, device), _knn_indices(b, k, None, device)
    chances = []
    for p in range(_check_permutations(permutations)):
        order = check_random_state(seed + p).permutation(len(b))
        chances.append(mean_overlap(graph_a, np.argsort(order)[graph_b[order]]))
    return value, float(np.mean(chances))


def _pair(a, b, whom: str):
    a = check_latents(a, "a", whom=whom)
    b = check_latents(b, "b", whom=whom)
    if len(a) != len(b):
        raise InputError(f"{whom}: a has {len(a)} rows but b has {len(b)}; give the same inputs in the same order")
    keep = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    if keep.sum() < 3:
        raise InputError(f"{whom}: needs at least 3 rows finite in both spaces; got {int(keep.sum())}")
    return a[keep], b[keep]


def _with_baseline(score, a, b, baseline: bool, seed, permutations: int):
    value = score(a, b)
    if not baseline:
        return value
    chances = [
        score(a, b[check_random_state(seed + p).permutation(len(b))]) for p in range(_check_permutations(permutations))
    ]
    return value, float(np.mean(chances))


def _check_permutations(permutations) -> int:
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 1:
        raise InputError(f"permutations must be a positive integer; got {permutations!r}")
    return int(permutations)
