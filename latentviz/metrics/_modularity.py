"""Modularity and explicitness (Ridgeway & Mozer, 2018), as disentanglement_lib computes them."""

from __future__ import annotations

import warnings

import numpy as np

from latentviz.metrics._binning import discrete_mutual_info, discretize
from latentviz.metrics._common import MetricWarning, latents_and_factors, train_test, varying


def modularity(z, factors, *, n_bins: int = 20) -> float:
    """Modularity: whether each latent depends on at most one factor.

    For latent :math:`i` with squared mutual informations :math:`m_{if}^2` (discretised latent,
    nats) and :math:`\\theta_i = \\max_f m_{if}^2`,

    .. math::

        \\delta_i = \\frac{\\sum_f m_{if}^2 - \\theta_i}{\\theta_i (K - 1)}, \\qquad
        \\mathrm{modularity} = \\frac{1}{d} \\sum_i (1 - \\delta_i)

    where a latent with :math:`\\theta_i = 0` (for instance a constant one) scores 0. The mean
    is unweighted, so constant latents lower the score and pure noise still scores about
    0.6-0.7.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    factors : array-like of shape (n_samples, n_factors)
        Integer factor levels.
    n_bins : int, default=20
        Histogram bins per latent dimension.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    References
    ----------
    .. [1] K. Ridgeway and M. C. Mozer, "Learning Deep Disentangled Embeddings with the
       F-Statistic Loss", NeurIPS 2018.

    Examples
    --------
    >>> f = np.array([[a, b] for a in range(4) for b in range(4)] * 4)
    >>> modularity(f, f)
    1.0
    >>> modularity(np.hstack([f, np.zeros((64, 2))]), f)
    0.5
    """
    z, factors = latents_and_factors(z, factors, whom="modularity")
    return float(_modularity_per_latent(discrete_mutual_info(discretize(z, n_bins=n_bins), factors)).mean())


def _modularity_per_latent(mi: np.ndarray) -> np.ndarray:
    """1 - delta_i per latent from the MI matrix (n_latents, n_factors); 0 where a latent has no MI."""
    squared = mi**2
    top = squared.max(axis=1)
    n_factors = mi.shape[1]
    if n_factors < 2:
        return (top > 0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (squared.sum(axis=1) - top) / (top * (n_factors - 1))
    return np.where(top > 0, 1.0 - delta, 0.0)


def explicitness(z, factors, *, z_test=None, factors_test=None, seed=0) -> float:
    """Explicitness: how well a linear classifier on all latents predicts each factor (test ROC AUC).

    Each latent is standardised with the training mean and population standard deviation; for
    each factor a default ``LogisticRegression`` is fitted on the training latents and scored
    with the macro-averaged one-vs-rest ROC AUC of its test probabilities; the score is the mean
    over factors. Constant latents are dropped (they carry nothing; the reference crashes on
    them), and classes absent from the training set are left out of the AUC.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Training latents (or all latents, split with ``seed`` when no test set is given).
    factors : array-like of shape (n_samples, n_factors)
        Integer factor levels.
    z_test, factors_test : array-like, optional
        An explicit test set.
    seed : int, default=0
        Seeds the train/test split (1/3 of the rows for testing) when no test set is given.

    Returns
    -------
    float
        In [0, 1] (0.5 is chance); higher is better.

    References
    ----------
    .. [1] K. Ridgeway and M. C. Mozer, "Learning Deep Disentangled Embeddings with the
       F-Statistic Loss", NeurIPS 2018.

    Examples
    --------
    >>> f = np.array([[a, b] for a in range(3) for b in range(3)] * 20)
    >>> explicitness(f, f) > 0.99
    True
    """
    return _explicitness_detail(z, factors, z_test, factors_test, seed)["explicitness"]


def _explicitness_detail(z, factors, z_test, factors_test, seed) -> dict:
    z, factors, z_test, factors_test = train_test(z, factors, z_test, factors_test, seed=seed, whom="explicitness")
    keep = varying(z)  # exactly constant: np.std of a constant 0.1 column is 1.4e-17, not 0
    if not keep.all():
        warnings.warn(
            f"explicitness: dropped {int((~keep).sum())} constant latent dimension(s)", MetricWarning, stacklevel=3
        )
    mean, std = z[:, keep].mean(axis=0), z[:, keep].std(axis=0)
    train = (z[:, keep] - mean) / std
    test = (z_test[:, keep] - mean) / std
    train_scores, test_scores = [], []
    for j in range(factors.shape[1]):
        on_train, on_test = _auc_of_factor(train, factors[:, j], test, factors_test[:, j])
        train_scores.append(on_train)
        test_scores.append(on_test)
    return {
        "explicitness": float(np.mean(test_scores)),
        "explicitness_train": float(np.mean(train_scores)),
        "per_factor_test": test_scores,
        "dropped_constant_dims": int((~keep).sum()),
    }


def _auc_of_factor(x_train, y_train, x_test, y_test):
    """(train AUC, test AUC) of a default logistic regression; 1.0 for a single training class."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y_train)) < 2:
        return 1.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence warnings, as the reference suppresses them
        model = LogisticRegression().fit(x_train, y_train)
    return (
        _macro_auc(y_train, model.predict_proba(x_train), model.classes_),
        _macro_auc(y_test, model.predict_proba(x_test), model.classes_),
    )


def _macro_auc(y, proba, classes) -> float:
    """Mean one-vs-rest ROC AUC over the classes present in ``y`` with both outcomes."""
    from sklearn.metrics import roc_auc_score

    scores = []
    for c, column in zip(classes, proba.T, strict=True):
        positive = y == c
        if positive.any() and not positive.all():
            scores.append(roc_auc_score(positive, column))
    return float(np.mean(scores)) if scores else 1.0
