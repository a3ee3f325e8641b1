"""Separated Attribute Predictability (Kumar et al., 2018), as disentanglement_lib computes it."""

from __future__ import annotations

import warnings

import numpy as np

from latentviz.metrics._common import check_min_dims, train_test


def sap(z, factors, *, z_test=None, factors_test=None, seed=0, n_jobs: int | None = None) -> float:
    """Separated Attribute Predictability: the accuracy gap between the two latents that best predict each factor.

    For every (latent :math:`i`, factor :math:`j`) a ``LinearSVC(C=0.01, class_weight="balanced")``
    is fitted on the single raw latent :math:`z_i` and :math:`S_{ij}` is its test accuracy; for
    each factor the score is the largest :math:`S_{ij}` minus the second largest, averaged over
    factors. A one-vs-rest linear classifier on one dimension cannot isolate the middle levels of a
    many-level factor, so even a perfect code scores well below 1 on dSprites-like factors; and
    C = 0.01 on unscaled latents makes the score depend on each latent's scale.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Training latents (or all latents, split with ``seed``), at least two dimensions.
    factors : array-like of shape (n_samples, n_factors)
        Integer factor levels.
    z_test, factors_test : array-like, optional
        An explicit test set.
    seed : int, default=0
        Seeds the train/test split (1/3 of the rows for testing) when no test set is given.
    n_jobs : int, optional
        Threads for the independent fits (None: one per core).

    Returns
    -------
    float
        In [0, 1]; higher is better. Exact duplicate latents give 0.

    References
    ----------
    .. [1] A. Kumar, P. Sattigeri and A. Balakrishnan, "Variational Inference of Disentangled
       Latent Concepts from Unlabeled Observations", ICLR 2018.

    Examples
    --------
    >>> f = np.repeat([[0, 0], [0, 1], [1, 0], [1, 1]], 30, axis=0)
    >>> sap(f * 10.0, f, z_test=f * 10.0, factors_test=f)
    0.5
    """
    return float(sap_matrix(z, factors, z_test=z_test, factors_test=factors_test, seed=seed, n_jobs=n_jobs)[1])


def sap_matrix(z, factors, *, z_test=None, factors_test=None, seed=0, n_jobs=None):
    """(score matrix S of shape (n_latents, n_factors), SAP score, per-factor gaps)."""
    from joblib import Parallel, delayed

    z, factors, z_test, factors_test = train_test(z, factors, z_test, factors_test, seed=seed, whom="sap")
    check_min_dims(z, 2, whom="sap")
    pairs = [(i, j) for i in range(z.shape[1]) for j in range(factors.shape[1])]
    scores = Parallel(n_jobs=n_jobs or -1, prefer="threads")(
        delayed(_single_latent_accuracy)(z[:, i], factors[:, j], z_test[:, i], factors_test[:, j]) for i, j in pairs
    )
    matrix = np.array(scores).reshape(z.shape[1], factors.shape[1])
    gaps = _sap_gaps(matrix)
    return matrix, float(gaps.mean()), gaps


def _sap_gaps(matrix: np.ndarray) -> np.ndarray:
    top = np.sort(matrix, axis=0)
    return top[-1] - top[-2]


def _single_latent_accuracy(x, y, x_test, y_test) -> float:
    from sklearn.svm import LinearSVC

    classes = np.unique(y)
    if len(classes) < 2:
        return float(np.mean(y_test == classes[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear convergence warnings
        model = LinearSVC(C=0.01, class_weight="balanced").fit(x[:, None], y)
    return float(np.mean(model.predict(x_test[:, None]) == y_test))
