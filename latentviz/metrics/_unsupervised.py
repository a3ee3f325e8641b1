"""Label-free dependence between latents: gaussian total correlation, Wasserstein correlation, MI score."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from latentviz._validation import check_latents
from latentviz.metrics._binning import discrete_mutual_info, discretize
from latentviz.metrics._common import MetricWarning, check_min_dims, check_min_samples, drop_nonfinite


def total_correlation(z) -> float:
    """Gaussian total correlation of the latents, in nats.

    .. math:: \\mathrm{TC} = \\tfrac12 \\left( \\sum_i \\log \\Sigma_{ii} - \\log |\\Sigma| \\right)

    the KL divergence between :math:`N(\\mu, \\Sigma)` fitted to the codes (``np.cov``, ddof=1)
    and the product of its marginals (disentanglement_lib's ``gaussian_total_correlation``).
    Constant latents are dropped (the reference gives NaN); a singular covariance (for example
    exact duplicate latents) gives ``inf``.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.

    Returns
    -------
    float
        In [0, inf]; lower is better (0 for uncorrelated latents).

    References
    ----------
    .. [1] F. Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
       Disentangled Representations", ICML 2019.

    Examples
    --------
    >>> z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> total_correlation(z)
    0.0
    """
    cov = _covariance(z, "total_correlation")
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return max(float(0.5 * (np.log(np.diag(cov)).sum() - logdet)), 0.0)


def gaussian_wasserstein_correlation(z, *, normalize: bool = False) -> float:
    """Squared 2-Wasserstein distance between the codes' gaussian and the product of its marginals.

    .. math:: W = 2 \\operatorname{tr} \\Sigma - 2 \\operatorname{tr} \\sqrt{D \\Sigma}, \\quad D = \\operatorname{diag}(\\Sigma)

    the squared :math:`W_2` between :math:`N(0, \\Sigma)` and :math:`N(0, D)`; ``normalize`` divides
    by :math:`\\operatorname{tr} \\Sigma` (the reference's ``_norm`` variant). Constant latents are
    dropped; the real part of the matrix square root is kept.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    normalize : bool, default=False
        Divide by the total variance.

    Returns
    -------
    float
        In [0, inf) ([0, 1] normalised); lower is better.

    References
    ----------
    .. [1] F. Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
       Disentangled Representations", ICML 2019.

    Examples
    --------
    >>> z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> gaussian_wasserstein_correlation(z)
    0.0
    """
    cov = _covariance(z, "gaussian_wasserstein_correlation")
    root = scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])
    value = float(2 * np.trace(cov) - 2 * np.real(np.trace(root)))
    value = max(value, 0.0) if abs(value) > 1e-12 * np.trace(cov) else 0.0
    return value / float(np.trace(cov)) if normalize else value


def mutual_info_score(z, *, n_bins: int = 20) -> float:
    """Mean mutual information (nats) between pairs of discretised latents.

    .. math:: \\frac{1}{d^2 - d} \\sum_{i \\ne j} I(\\mathrm{bin}(z_i); \\mathrm{bin}(z_j))

    (disentanglement_lib's ``mutual_info_score``).

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes, at least two dimensions; rows with NaN or inf are excluded.
    n_bins : int, default=20
        Histogram bins per latent dimension.

    Returns
    -------
    float
        In [0, log(n_bins)]; lower is better.

    Examples
    --------
    >>> z = np.array([[a, b] for a in range(4) for b in range(4)], dtype=float)
    >>> mutual_info_score(z)
    0.0
    """
    z = check_latents(z, whom="mutual_info_score")
    check_min_dims(z, 2, whom="mutual_info_score")
    z, _ = drop_nonfinite(z, whom="mutual_info_score")
    check_min_samples(len(z), 2, whom="mutual_info_score")
    binned = discretize(z, n_bins=n_bins)
    mi = discrete_mutual_info(binned, binned)
    np.fill_diagonal(mi, 0.0)
    d = z.shape[1]
    return float(mi.sum() / (d * d - d))


def _covariance(z, whom: str) -> np.ndarray:
    z = check_latents(z, whom=whom)
    z, _ = drop_nonfinite(z, whom=whom)
    check_min_samples(len(z), 2, whom=whom)
    keep = np.ptp(z, axis=0) > 0
    if not keep.all():
        warnings.warn(f"{whom}: dropped {int((~keep).sum())} constant latent dimension(s)", MetricWarning, stacklevel=3)
    if not keep.any():
        return np.eye(1)
    return np.atleast_2d(np.cov(z[:, keep], rowvar=False))
