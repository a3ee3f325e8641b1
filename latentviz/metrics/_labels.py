"""How well the latents separate known labels: linear probe, k-NN accuracy, silhouette."""

from __future__ import annotations

import numpy as np

from latentviz._validation import check_latents, check_random_state
from latentviz.errors import InputError
from latentviz.metrics._common import drop_nonfinite


def linear_probe_accuracy(z, labels, *, cv: int = 5, seed=0, max_samples: int = 50000) -> float:
    """Cross-validated accuracy of a logistic regression predicting the label from standardised latents.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    labels : array-like of shape (n_samples,)
        Class labels (any hashable values).
    cv : int, default=5
        Stratified folds (fewer when the rarest class has fewer members).
    seed : int, default=0
        Seeds the folds and the sample.
    max_samples : int, default=50000
        Larger inputs are evaluated on a seeded random sample of this size.

    Returns
    -------
    float
        In [0, 1] (the majority-class rate is the floor to beat); higher is better.

    Examples
    --------
    >>> z = np.r_[np.zeros((20, 1)), np.ones((20, 1))]
    >>> linear_probe_accuracy(z, [0] * 20 + [1] * 20)
    1.0
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return _cross_validated(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        z,
        labels,
        cv,
        seed,
        max_samples,
        "linear_probe_accuracy",
    )


def knn_accuracy(z, labels, *, k: int = 5, cv: int = 5, seed=0, max_samples: int = 50000) -> float:
    """Cross-validated accuracy of a k-nearest-neighbour classifier predicting the label from the latents.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    labels : array-like of shape (n_samples,)
        Class labels.
    k : int, default=5
        Neighbours voting.
    cv : int, default=5
        Stratified folds.
    seed : int, default=0
        Seeds the folds and the sample.
    max_samples : int, default=50000
        Larger inputs are evaluated on a seeded random sample of this size.

    Returns
    -------
    float
        In [0, 1]; higher is better.

    Examples
    --------
    >>> z = np.r_[np.zeros((20, 1)), np.ones((20, 1))]
    >>> knn_accuracy(z, [0] * 20 + [1] * 20)
    1.0
    """
    from sklearn.neighbors import KNeighborsClassifier

    return _cross_validated(KNeighborsClassifier(n_neighbors=k), z, labels, cv, seed, max_samples, "knn_accuracy")


def silhouette(z, labels, *, seed=0, max_samples: int = 10000) -> float:
    """Mean silhouette coefficient of the labels in the latent space (Euclidean distance).

    .. math:: s_i = \\frac{b_i - a_i}{\\max(a_i, b_i)}

    with :math:`a_i` the mean distance to the other members of its class and :math:`b_i` the
    mean distance to the nearest other class. O(n^2), hence the sample.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    labels : array-like of shape (n_samples,)
        Class labels, at least two classes.
    seed : int, default=0
        Seeds the sample.
    max_samples : int, default=10000
        Larger inputs are evaluated on a seeded random sample of this size.

    Returns
    -------
    float
        In [-1, 1]; higher is better (0: overlapping classes).

    References
    ----------
    .. [1] P. J. Rousseeuw, "Silhouettes: a graphical aid to the interpretation and validation
       of cluster analysis", J. Comput. Appl. Math. 20, 1987.

    Examples
    --------
    >>> round(silhouette([[0.0], [0.0], [1.0], [1.0]], [0, 0, 1, 1]), 6)
    1.0
    """
    from sklearn.metrics import silhouette_score

    z, labels = _sample(z, labels, seed, max_samples, "silhouette")
    n_classes = len(np.unique(labels))
    if not 2 <= n_classes <= len(z) - 1:
        raise InputError(f"silhouette: needs between 2 and n_samples - 1 classes; got {n_classes} for {len(z)} samples")
    return float(silhouette_score(z, labels))


def _sample(z, labels, seed, max_samples: int, whom: str):
    z = check_latents(z, whom=whom)
    labels = np.asarray(labels)
    if labels.shape != (len(z),):
        raise InputError(f"{whom}: labels has shape {labels.shape} but z has {len(z)} rows; give one label per sample")
    z, labels = z[labels == labels], labels[labels == labels]  # drops NaN labels
    z, (labels,) = drop_nonfinite(z, labels, whom=whom)
    if len(z) > max_samples:
        rows = check_random_state(seed).choice(len(z), max_samples, replace=False)
        z, labels = z[rows], labels[rows]
    return z, labels


def _cross_validated(model, z, labels, cv: int, seed, max_samples: int, whom: str) -> float:
    import warnings

    from sklearn.model_selection import StratifiedKFold, cross_val_score

    z, labels = _sample(z, labels, seed, max_samples, whom)
    counts = np.unique(labels, return_counts=True)[1]
    if len(counts) < 2:
        raise InputError(f"{whom}: needs at least 2 classes; the labels have {len(counts)}")
    folds = min(int(cv), int(counts.min()))
    if folds < 2:
        raise InputError(
            f"{whom}: every class needs at least 2 samples for cross-validation; the rarest has {counts.min()}"
        )
    splitter = StratifiedKFold(folds, shuffle=True, random_state=int(check_random_state(seed).randint(2**31)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cross_val_score(model, z, labels, cv=splitter).mean())
