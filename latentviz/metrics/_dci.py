"""Disentanglement, completeness and informativeness (Eastwood & Williams, 2018), as disentanglement_lib computes them."""

from __future__ import annotations

import numpy as np

from latentviz._validation import check_random_state
from latentviz.metrics._common import train_test

_EPS = 1e-11


def dci(
    z, factors, *, z_test=None, factors_test=None, seed=0, n_estimators: int = 100, n_jobs: int | None = None
) -> dict:
    """DCI: importance of each latent for each factor, from one gradient-boosted classifier per factor.

    For factor :math:`j` a default ``GradientBoostingClassifier`` (100 depth-3 stages, learning
    rate 0.1) predicts the factor from the raw latents; :math:`R_{ij}` is latent :math:`i`'s
    impurity importance. With :math:`P_{ij} = R_{ij} / \\sum_k R_{ik}` and
    :math:`\\tilde P_{ij} = R_{ij} / \\sum_k R_{kj}` (each entry plus 1e-11),

    .. math::

        D = \\sum_i \\rho_i \\left(1 + \\sum_j P_{ij} \\log_K P_{ij}\\right), \\quad
        C = \\frac1K \\sum_j \\left(1 + \\sum_i \\tilde P_{ij} \\log_d \\tilde P_{ij}\\right)

    with :math:`\\rho_i = \\sum_j R_{ij} / \\sum_{kj} R_{kj}`. Informativeness is the mean
    accuracy of the classifiers (higher is better, despite the reference's variable names).
    The trees are grown by :mod:`latentviz.metrics._gbt`, which grows scikit-learn's trees from
    one shared sort of each feature (exact ties between features are broken at random with
    ``seed``, as the reference's random feature order does); the factors are fitted in parallel threads.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Training latents (or all latents, split with ``seed`` when no test set is given).
    factors : array-like of shape (n_samples, n_factors)
        Integer factor levels.
    z_test, factors_test : array-like, optional
        An explicit test set.
    seed : int, default=0
        Seeds the train/test split (1/3 of the rows for testing, when no test set is given) and
        the tie-breaking between features that split equally well.
    n_estimators : int, default=100
        Boosting stages (the reference's default; fewer only for quick looks).
    n_jobs : int, optional
        Threads fitting factors in parallel (None: one per core).

    Returns
    -------
    dict
        ``disentanglement``, ``completeness``, ``informativeness_train``,
        ``informativeness_test``: floats in [0, 1], higher is better.

    References
    ----------
    .. [1] C. Eastwood and C. K. I. Williams, "A Framework for the Quantitative Evaluation of
       Disentangled Representations", ICLR 2018.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> f = rng.randint(3, size=(300, 2))
    >>> scores = dci(f + 0.1 * rng.rand(300, 2), f, n_estimators=10)
    >>> round(scores["disentanglement"], 3), round(scores["completeness"], 3)
    (1.0, 1.0)
    """
    scores = dci_detail(
        z, factors, z_test=z_test, factors_test=factors_test, seed=seed, n_estimators=n_estimators, n_jobs=n_jobs
    )
    return {
        key: scores[key] for key in ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
    }


def dci_detail(z, factors, *, z_test=None, factors_test=None, seed=0, n_estimators=100, n_jobs=None) -> dict:
    """:func:`dci` plus the importance matrix and the per-latent and per-factor scores."""
    from joblib import Parallel, delayed

    from latentviz.metrics._gbt import fit_predict_gbc, sort_features

    z, factors, z_test, factors_test = train_test(z, factors, z_test, factors_test, seed=seed, whom="dci")
    order = sort_features(z)
    fits = Parallel(n_jobs=n_jobs or -1, prefer="threads")(
        delayed(_fit_factor)(fit_predict_gbc, z, factors[:, j], z_test, n_estimators, order, seed_j)
        for j, seed_j in enumerate(check_random_state(seed).randint(2**31 - 1, size=factors.shape[1]))
    )
    importance = np.abs(np.stack([imp for imp, _, _ in fits], axis=1))
    train_acc = [float(np.mean(p == factors[:, j])) for j, (_, p, _) in enumerate(fits)]
    test_acc = [float(np.mean(p == factors_test[:, j])) for j, (_, _, p) in enumerate(fits)]
    per_latent = _disentanglement_per_latent(importance)
    per_factor = _completeness_per_factor(importance)
    return {
        "disentanglement": _weighted(per_latent, importance.sum(axis=1), importance),
        "completeness": _weighted(per_factor, importance.sum(axis=0), importance),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
        "importance_matrix": importance,
        "disentanglement_per_latent": per_latent,
        "completeness_per_factor": per_factor,
        "informativeness_test_per_factor": test_acc,
    }


def _fit_factor(fit_predict, z, y, z_test, n_estimators, order, seed):
    if len(np.unique(y)) < 2:  # a single class: no trees, a zero importance column
        return np.zeros(z.shape[1]), np.full(len(z), y[0]), np.full(len(z_test), y[0])
    importance, (on_train, on_test) = fit_predict(
        z, y, [z, z_test], n_estimators=n_estimators, order=order, seed=int(seed)
    )
    return importance, on_train, on_test


def _disentanglement_per_latent(importance: np.ndarray) -> np.ndarray:
    """1 - entropy (base n_factors) of each latent's importance over factors; 0 for a latent of no importance
    (as its uniform epsilon row gives with two or more factors; with one factor the entropy alone would say 1)."""
    scores = 1.0 - _entropy(importance + _EPS, axis=1, base=importance.shape[1])
    return np.where(importance.sum(axis=1) > 0, scores, 0.0)


def _completeness_per_factor(importance: np.ndarray) -> np.ndarray:
    """1 - entropy (base n_latents) of each factor's importance over latents."""
    return 1.0 - _entropy(importance + _EPS, axis=0, base=importance.shape[0])


def _weighted(scores: np.ndarray, weights: np.ndarray, importance: np.ndarray) -> float:
    """Weighted by each row's or column's share of the importance (uniform when it is all zero)."""
    total = importance.sum()
    if total == 0:
        weights = np.ones_like(scores)
        total = len(scores)
    return float(np.sum(scores * weights / total))


def _entropy(p: np.ndarray, *, axis: int, base: int) -> np.ndarray:
    """Entropy of the normalised ``p`` along ``axis`` in log base ``base`` (0 when base is 1)."""
    p = p / p.sum(axis=axis, keepdims=True)
    h = -(p * np.log(p)).sum(axis=axis)
    return h / np.log(base) if base > 1 else np.zeros_like(h)
