"""The reference's histogram discretiser and plug-in mutual information (in nats)."""

from __future__ import annotations

import numpy as np

from latentviz._validation import check_latents
from latentviz.metrics._common import drop_nonfinite, latents_and_factors

#: Plug-in mutual information (nats) at or below this is float noise and counts as 0. The MI of a
#: constant code with anything sums terms that cancel only to about 1e-16; left in, such a code
#: counted as informative (modularity scored it 1 instead of 0). Genuine plug-in MI of a
#: non-constant column on any practical sample is many orders of magnitude above it.
MI_TOLERANCE = 1e-12


def discretize(z, *, n_bins: int = 20) -> np.ndarray:
    """Bin each column on its own into ``n_bins`` equal-width bins, labels 1..n_bins.

    The bin edges are ``np.histogram(column, n_bins)``'s (from the column's minimum to its
    maximum; a constant column uses [v - 0.5, v + 0.5]); the label is
    ``np.digitize(column, edges[:-1])``, so the maximum lands in the last bin and a value on an
    interior edge goes to the upper bin. This is how disentanglement_lib discretises codes
    for MIG, modularity, IRS and the mutual-information score.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_columns)
        Finite values.
    n_bins : int, default=20
        Bins per column.

    Returns
    -------
    ndarray of shape (n_samples, n_columns), int64
        Bin labels in 1..n_bins.

    Examples
    --------
    >>> discretize([[0.0], [0.5], [1.0]], n_bins=2).ravel().tolist()
    [1, 2, 2]
    """
    z = check_latents(z, whom="discretize")
    if int(n_bins) < 1:
        from latentviz.errors import InputError

        raise InputError(f"discretize: n_bins must be a positive integer; got {n_bins}")
    z, _ = drop_nonfinite(z, whom="discretize")
    out = np.empty(z.shape, dtype=np.int64)
    for j in range(z.shape[1]):
        edges = np.histogram_bin_edges(z[:, j], int(n_bins))
        out[:, j] = np.digitize(z[:, j], edges[:-1])
    return out


def mutual_info_matrix(z, factors, *, n_bins: int = 20) -> np.ndarray:
    """Mutual information between each discretised latent and each factor, in nats.

    .. math:: m_{ij} = I(\\mathrm{bin}(z_i); v_j)

    estimated with the plug-in (contingency table) estimator, as
    ``sklearn.metrics.mutual_info_score`` computes it. This is the matrix behind MIG and
    modularity, and the latent x factor heatmap of the report.

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
    ndarray of shape (n_latents, n_factors)
        Non-negative; 0 for independent variables and exactly 0 for a constant latent (values
        up to :data:`MI_TOLERANCE` are float noise, set to 0); at most min(H(z_i), H(v_j)).

    Examples
    --------
    >>> f = [[0], [0], [1], [1]]
    >>> m = mutual_info_matrix([[0.0], [0.1], [1.0], [1.1]], f)
    >>> round(float(m[0, 0]), 6) == round(float(np.log(2)), 6)
    True
    """
    z, factors = latents_and_factors(z, factors, whom="mutual_info_matrix")
    return discrete_mutual_info(discretize(z, n_bins=n_bins), factors)


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plug-in MI (nats) between every column of ``a`` and every column of ``b`` (integer labels).

    Values up to :data:`MI_TOLERANCE` are set to 0.
    """
    a_codes = [np.unique(col, return_inverse=True)[1] for col in a.T]
    b_codes = [np.unique(col, return_inverse=True)[1] for col in b.T]
    out = np.zeros((len(a_codes), len(b_codes)))
    for i, x in enumerate(a_codes):
        for j, y in enumerate(b_codes):
            out[i, j] = _mutual_info(x, y)
    return out


def entropy(labels: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of each column of integer labels (the MI of a column with itself)."""
    out = np.zeros(labels.shape[1])
    for j, col in enumerate(labels.T):
        p = np.unique(col, return_counts=True)[1] / len(col)
        out[j] = float(-(p * np.log(p)).sum())
    return out


def _mutual_info(x: np.ndarray, y: np.ndarray) -> float:
    """I(x; y) from the contingency table of two label arrays coded 0..k-1 (0 up to the tolerance)."""
    n = len(x)
    nx, ny = x.max() + 1, y.max() + 1
    table = np.bincount(x * ny + y, minlength=nx * ny).reshape(nx, ny).astype(np.float64)
    rows, cols = np.nonzero(table)
    joint = table[rows, cols]
    outer = table.sum(axis=1)[rows] * table.sum(axis=0)[cols]
    value = float((joint / n * (np.log(joint) - np.log(outer) + np.log(n))).sum())
    return value if value > MI_TOLERANCE else 0.0
