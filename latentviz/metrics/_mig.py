"""Mutual Information Gap (Chen et al., 2018), as disentanglement_lib computes it."""

from __future__ import annotations

import warnings

import numpy as np

from latentviz.errors import InputError
from latentviz.metrics._binning import discrete_mutual_info, discretize, entropy
from latentviz.metrics._common import MetricWarning, check_min_dims, latents_and_factors


def mig(z, factors, *, n_bins: int = 20) -> float:
    """Mutual Information Gap: how much better the best latent captures each factor than the runner-up.

    .. math::

        \\mathrm{MIG} = \\frac{1}{K} \\sum_{k=1}^{K} \\frac{1}{H(v_k)}
        \\left( I(z_{j^{(k)}}; v_k) - \\max_{j \\ne j^{(k)}} I(z_j; v_k) \\right)

    with :math:`j^{(k)} = \\arg\\max_j I(z_j; v_k)`, each latent discretised into ``n_bins``
    equal-width bins and plug-in mutual information in nats (disentanglement_lib's
    ``discrete_mig``). Invariant to rescaling, shifting and permuting the latents.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes, at least two dimensions; rows with NaN or inf are excluded.
    factors : array-like of shape (n_samples, n_factors)
        Integer factor levels. A factor with a single level has no entropy; it is left out of
        the mean (with a warning).
    n_bins : int, default=20
        Histogram bins per latent dimension.

    Returns
    -------
    float
        In [0, 1]; higher is better. Exact duplicate latents give 0; a perfect code gives
        about 0.999 (the finite-sample bias of the MI of unrelated latents).

    References
    ----------
    .. [1] R. T. Q. Chen, X. Li, R. Grosse and D. Duvenaud, "Isolating Sources of
       Disentanglement in Variational Autoencoders", NeurIPS 2018.

    Examples
    --------
    >>> f = np.array([[a, b] for a in range(4) for b in range(4)] * 4)
    >>> round(mig(f, f), 6)
    1.0
    >>> mig(np.hstack([f[:, :1], f[:, :1]]), f)
    0.0
    """
    z, factors = latents_and_factors(z, factors, whom="mig", min_dims=2)
    check_min_dims(z, 2, whom="mig")
    per_factor = _mig_per_factor(discrete_mutual_info(discretize(z, n_bins=n_bins), factors), entropy(factors))
    return _mean_over_informative(per_factor, whom="mig")


def _mig_per_factor(mi: np.ndarray, factor_entropy: np.ndarray) -> np.ndarray:
    """Normalised gap per factor from the MI matrix (n_latents, n_factors); NaN where H(v) = 0."""
    top = np.sort(mi, axis=0)[::-1]
    gap = top[0] - top[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(factor_entropy > 0, gap / np.where(factor_entropy > 0, factor_entropy, 1.0), np.nan)


def _mean_over_informative(per_factor: np.ndarray, *, whom: str) -> float:
    """Mean over the factors that vary (NaN marks a single-level factor)."""
    informative = ~np.isnan(per_factor)
    if not informative.any():
        raise InputError(f"{whom}: every factor has a single level; at least one factor must vary")
    if not informative.all():
        warnings.warn(
            f"{whom}: left out {int((~informative).sum())} factor(s) with a single level", MetricWarning, stacklevel=3
        )
    return float(per_factor[informative].mean())
