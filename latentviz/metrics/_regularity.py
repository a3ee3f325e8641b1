"""Label-free structure of a latent space: active units, KL per dimension, prior fit, dimension, correlation."""

from __future__ import annotations

import warnings

import numpy as np

from latentviz._validation import check_latents
from latentviz.errors import InputError
from latentviz.latent_stats import ACTIVE_UNIT_THRESHOLD, COLLAPSE_KL_THRESHOLD, LatentStats
from latentviz.metrics._common import MetricWarning, check_min_samples, drop_nonfinite

_CHUNK = 65536


def active_units(z, *, threshold: float = ACTIVE_UNIT_THRESHOLD) -> dict:
    """Active units (Burda et al., 2016): latents whose posterior mean varies over the data.

    .. math:: A_u = \\operatorname{Var}_x\\left(E_{q(z|x)}[z_u]\\right) > \\text{threshold}

    computed batch by batch in O(d) memory (:class:`latentviz.latent_stats.LatentStats`).

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Posterior means; rows with NaN or inf are excluded.
    threshold : float, default=0.01
        Minimum variance of an active unit.

    Returns
    -------
    dict
        ``count`` (int in [0, n_latents], higher means more of the code is used), ``fraction``
        (in [0, 1]) and ``variance`` (list, per latent).

    References
    ----------
    .. [1] Y. Burda, R. Grosse and R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.

    Examples
    --------
    >>> active_units([[0.0, 1.0], [0.0, -1.0]])["count"]
    1
    """
    stats = _streamed(z, None, "active_units")
    var = np.asarray(stats["var"])
    active = var > threshold
    return {"count": int(active.sum()), "fraction": float(active.mean()), "variance": var.tolist()}


def kl_per_dim(z, logvar) -> np.ndarray:
    """Mean KL divergence of each latent's posterior from N(0, 1), in nats.

    .. math:: \\mathrm{KL}_u = E_x\\left[\\tfrac12 (\\mu_u^2 + e^{\\log\\sigma_u^2} - \\log\\sigma_u^2 - 1)\\right]

    computed batch by batch. A latent with KL below 0.01 nats is *collapsed*: its posterior
    equals the prior and it carries no information.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Posterior means.
    logvar : array-like of shape (n_samples, n_latents)
        Posterior log variances. Rows with NaN or inf in either are excluded.

    Returns
    -------
    ndarray of shape (n_latents,)
        Non-negative nats per latent; near 0 means collapsed, larger means more information.

    References
    ----------
    .. [1] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014.

    Examples
    --------
    >>> kl_per_dim([[0.0, 1.0], [0.0, -1.0]], [[0.0, 0.0], [0.0, 0.0]]).tolist()
    [0.0, 0.5]
    """
    z = check_latents(z, whom="kl_per_dim")
    logvar = check_latents(logvar, "logvar", whom="kl_per_dim")
    if logvar.shape != z.shape:
        raise InputError(f"kl_per_dim: logvar has shape {logvar.shape} but z has {z.shape}; give one per latent")
    return np.asarray(_streamed(z, logvar, "kl_per_dim")["kl_per_dim"])


def collapsed_dims(kl: np.ndarray, *, threshold: float = COLLAPSE_KL_THRESHOLD) -> np.ndarray:
    """Boolean mask of the latents whose KL is below ``threshold`` nats."""
    return np.asarray(kl) < threshold


def _streamed(z, logvar, whom: str) -> dict:
    z = check_latents(z, whom=whom)
    stats = LatentStats(z.shape[1])
    for start in range(0, len(z), _CHUNK):
        stats.update(z[start : start + _CHUNK], None if logvar is None else logvar[start : start + _CHUNK])
    if stats.nonfinite:
        warnings.warn(
            f"{whom}: excluded {stats.nonfinite} of {len(z)} rows holding NaN or inf", MetricWarning, stacklevel=3
        )
    check_min_samples(stats.count, 2, whom=whom)
    return stats.compute()


def prior_fit(z) -> dict:
    """How close the codes are to the N(0, I) prior, per latent and overall.

    Per latent: the mean, the standard deviation and the Kolmogorov-Smirnov distance of the
    codes to N(0, 1). Overall: the KL divergence from the gaussian fitted to the codes to the
    prior,

    .. math:: \\mathrm{KL}(N(m, \\Sigma) \\,\\|\\, N(0, I)) = \\tfrac12 \\left(\\operatorname{tr}\\Sigma + m^\\top m - d - \\log|\\Sigma|\\right)

    (``inf`` when :math:`\\Sigma` is singular, for example with a constant latent).

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.

    Returns
    -------
    dict
        ``kl`` (float in [0, inf], lower is better), ``mean``, ``std`` and ``ks`` (lists per
        latent; KS distance in [0, 1], lower is better) and ``ks_max``.

    Examples
    --------
    >>> fit = prior_fit([[1.0], [-1.0], [0.0]])
    >>> fit["mean"], fit["kl"]
    ([0.0], 0.0)
    """
    from scipy.stats import kstest

    z = check_latents(z, whom="prior_fit")
    z, _ = drop_nonfinite(z, whom="prior_fit")
    check_min_samples(len(z), 2, whom="prior_fit")
    mean = z.mean(axis=0)
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    sign, logdet = np.linalg.slogdet(cov)
    kl = float("inf") if sign <= 0 else 0.5 * float(np.trace(cov) + mean @ mean - z.shape[1] - logdet)
    if sign <= 0:  # JSON stores inf as null: the caveat says why
        warnings.warn(
            "prior_kl: infinite, the codes' covariance is singular (a constant or duplicate latent)",
            MetricWarning,
            stacklevel=2,
        )
    ks = [float(kstest(column, "norm").statistic) for column in z.T]
    return {
        "kl": max(kl, 0.0),
        "mean": mean.tolist(),
        "std": np.sqrt(np.diag(cov)).tolist(),
        "ks": ks,
        "ks_max": max(ks),
    }


def intrinsic_dimension(z, *, neighbors=None) -> float:
    """TwoNN intrinsic dimension (Facco et al., 2017), maximum-likelihood form.

    With :math:`\\mu_i = r_2(i) / r_1(i)` the ratio of each point's second- to first-nearest
    neighbour distance,

    .. math:: \\hat d = \\frac{n}{\\sum_i \\log \\mu_i}

    Points with a duplicate (:math:`r_1 = 0`) are left out. Needs all the samples (a kNN graph).

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.
    neighbors : latentviz.neighbors.Neighbors, optional
        A precomputed graph of ``z`` with at least 2 neighbours (the run's graph).

    Returns
    -------
    float
        In (0, inf); the number of degrees of freedom the codes really use (compare with
        n_latents).

    References
    ----------
    .. [1] E. Facco, M. d'Errico, A. Rodriguez and A. Laio, "Estimating the intrinsic dimension
       of datasets by a minimal neighborhood information", Scientific Reports 7, 2017.

    Examples
    --------
    >>> rng = np.random.RandomState(0)
    >>> plane = rng.rand(2000, 2) @ rng.randn(2, 6)
    >>> round(intrinsic_dimension(plane))
    2
    """
    from latentviz.neighbors import knn

    z = check_latents(z, whom="intrinsic_dimension")
    z, _ = drop_nonfinite(z, whom="intrinsic_dimension")
    check_min_samples(len(z), 3, whom="intrinsic_dimension")
    graph = neighbors.head(2) if neighbors is not None else knn(z, 2)
    r1, r2 = graph.distances[:, 0].astype(np.float64), graph.distances[:, 1].astype(np.float64)
    valid = r1 > 0
    if valid.sum() < 2:
        raise InputError("intrinsic_dimension: fewer than 2 points have a nearest neighbour at a positive distance")
    log_mu = np.log(r2[valid] / r1[valid])
    if log_mu.sum() == 0:
        return float("inf")
    return float(valid.sum() / log_mu.sum())


def effective_rank(z) -> float:
    """Effective rank (Roy & Vetterli, 2007): exp of the entropy of the normalised singular values.

    .. math:: \\operatorname{erank} = \\exp\\left(-\\sum_k p_k \\log p_k\\right), \\quad p_k = \\sigma_k / \\sum_j \\sigma_j

    of the centred codes.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.

    Returns
    -------
    float
        In [1, n_latents] (0 for constant codes); how many directions the codes spread over.

    References
    ----------
    .. [1] O. Roy and M. Vetterli, "The effective rank: A measure of effective dimensionality",
       EUSIPCO 2007.

    Examples
    --------
    >>> round(effective_rank([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]), 6)
    2.0
    """
    z = check_latents(z, whom="effective_rank")
    z, _ = drop_nonfinite(z, whom="effective_rank")
    check_min_samples(len(z), 2, whom="effective_rank")
    s = np.linalg.svd(z - z.mean(axis=0), compute_uv=False)
    if s.sum() == 0:
        return 0.0
    p = s[s > 0] / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def latent_correlation(z) -> np.ndarray:
    """Pearson correlation matrix of the latents (1 on the diagonal; 0 against a constant latent).

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Latent codes; rows with NaN or inf are excluded.

    Returns
    -------
    ndarray of shape (n_latents, n_latents)
        Entries in [-1, 1]; off-diagonal entries near 0 are what an independent code shows.

    Examples
    --------
    >>> latent_correlation([[0.0, 0.0, 1.0], [1.0, 2.0, 1.0], [2.0, 4.0, 1.0]]).round(6).tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    z = check_latents(z, whom="latent_correlation")
    z, _ = drop_nonfinite(z, whom="latent_correlation")
    check_min_samples(len(z), 2, whom="latent_correlation")
    centred = z - z.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    safe = np.where(norm > 0, norm, 1.0)
    corr = (centred.T @ centred) / np.outer(safe, safe)
    corr[norm == 0, :] = 0.0
    corr[:, norm == 0] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)
