"""Regularity, neighbourhood, decoder and label metrics against scikit-learn, scipy and naive loops."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness

from latentviz.errors import InputError
from latentviz.metrics import (
    MetricWarning,
    active_units,
    consistency,
    continuity,
    effective_rank,
    interpolation_smoothness,
    intrinsic_dimension,
    kl_per_dim,
    knn_accuracy,
    knn_preservation,
    latent_correlation,
    linear_probe_accuracy,
    prior_fit,
    reconstruction_error,
    silhouette,
    trustworthiness,
)


def naive_knn(x, k):
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def test_active_units_and_kl_match_the_formulas():
    rs = np.random.RandomState(0)
    z = rs.randn(500, 4) * np.array([1.0, 0.05, 0.2, 0.0])
    logvar = rs.randn(500, 4) * 0.1
    got = active_units(z)
    assert got["count"] == int((z.var(axis=0) > 0.01).sum()) == 2
    np.testing.assert_allclose(got["variance"], z.var(axis=0), rtol=1e-10)
    np.testing.assert_allclose(
        kl_per_dim(z, logvar), np.mean(0.5 * (z**2 + np.exp(logvar) - logvar - 1), axis=0), rtol=1e-10
    )


def test_prior_fit_matches_scipy_and_the_gaussian_kl():
    from scipy.stats import kstest

    rs = np.random.RandomState(0)
    z = rs.randn(400, 3) * 1.5 + 0.5
    fit = prior_fit(z)
    cov = np.cov(z.T)
    m = z.mean(axis=0)
    expected = 0.5 * (np.trace(cov) + m @ m - 3 - np.linalg.slogdet(cov)[1])
    assert fit["kl"] == pytest.approx(expected)
    assert fit["ks"][1] == pytest.approx(kstest(z[:, 1], "norm").statistic)
    assert prior_fit(rs.randn(5000, 2))["kl"] < 0.01


def test_trustworthiness_and_continuity_equal_sklearn():
    rs = np.random.RandomState(0)
    for seed in range(3):
        x = np.random.RandomState(seed).randn(150, 6)
        z = x[:, :2] + 0.5 * rs.randn(150, 2)
        assert trustworthiness(x, z, 5) == pytest.approx(sk_trustworthiness(x, z, n_neighbors=5), abs=1e-12)
        assert continuity(x, z, 5) == pytest.approx(sk_trustworthiness(z, x, n_neighbors=5), abs=1e-12)


def test_trustworthiness_reuses_a_precomputed_graph():
    from latentviz.neighbors import knn

    x = np.random.RandomState(0).randn(120, 5)
    z = x[:, :2]
    assert trustworthiness(x, z, 5, neighbors=knn(z, 8)) == pytest.approx(trustworthiness(x, z, 5))
    assert trustworthiness(x, 3 * x @ np.linalg.qr(np.random.RandomState(1).randn(5, 5))[0], 5) == 1.0


def test_knn_preservation_equals_a_naive_loop():
    rs = np.random.RandomState(0)
    a = rs.randn(80, 4)
    b = a[:, :2] + 0.3 * rs.randn(80, 2)
    na, nb = naive_knn(a, 6), naive_knn(b, 6)
    expected = np.mean([len(set(na[i]) & set(nb[i])) / 6 for i in range(80)])
    assert knn_preservation(a, b, 6) == pytest.approx(expected)


def test_two_nn_recovers_the_dimension_of_a_linear_manifold():
    rs = np.random.RandomState(0)
    for dim in (2, 4):
        points = rs.rand(3000, dim) @ rs.randn(dim, 12)
        assert intrinsic_dimension(points) == pytest.approx(dim, rel=0.15)


def test_effective_rank_and_correlation_match_naive_formulas():
    rs = np.random.RandomState(0)
    z = rs.randn(200, 4) @ rs.randn(4, 4)
    s = np.linalg.svd(z - z.mean(axis=0), compute_uv=False)
    p = s / s.sum()
    assert effective_rank(z) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    np.testing.assert_allclose(latent_correlation(z), np.corrcoef(z.T), atol=1e-12)
    with_constant = np.hstack([z, np.ones((200, 1))])
    corr = latent_correlation(with_constant)
    assert np.isfinite(corr).all() and corr[4, 4] == 1.0 and corr[0, 4] == 0.0


def test_decoder_metrics():
    x = np.random.RandomState(0).rand(10, 3, 4)
    err = reconstruction_error(x, x + 0.1)
    assert err["mean"] == pytest.approx(0.01) and err["per_sample"].shape == (10,)
    z = np.random.RandomState(1).randn(50, 3)
    assert consistency(z, lambda out: out / 2, lambda code: code * 2) == pytest.approx(0.0)
    assert consistency(z, lambda out: out * 0, lambda code: code) == pytest.approx(1.0)
    even = np.linspace(0, 1, 6)[None, :, None] * np.ones((3, 1, 5))
    jump = np.concatenate([np.zeros((3, 3, 5)), np.ones((3, 3, 5))], axis=1)
    assert interpolation_smoothness(even)["smoothness"] == pytest.approx(1.0)
    assert interpolation_smoothness(jump)["smoothness"] == pytest.approx(5.0)
    assert interpolation_smoothness(even)["path_length"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="n_steps >= 3"):
        interpolation_smoothness(np.zeros((2, 2, 3)))


def test_label_metrics_match_sklearn():
    from sklearn.datasets import make_blobs
    from sklearn.metrics import silhouette_score

    z, y = make_blobs(300, n_features=3, centers=3, random_state=0)
    assert silhouette(z, y) == pytest.approx(silhouette_score(z, y))
    assert linear_probe_accuracy(z, y) > 0.95
    assert knn_accuracy(z, y) > 0.95
    noise = np.random.RandomState(0).randn(300, 3)
    assert knn_accuracy(noise, y) < 0.5
    with pytest.raises(InputError, match="at least 2 classes"):
        knn_accuracy(z, np.zeros(300))


def test_edge_cases_are_defined():
    with pytest.warns(MetricWarning, match="excluded 1 of 3 rows"):
        assert active_units([[0.0], [np.nan], [1.0]])["count"] == 1
    with pytest.raises(InputError, match="needs at least 7 samples"):
        trustworthiness(np.zeros((6, 2)), np.zeros((6, 2)), 3)
    with pytest.raises(InputError, match="logvar has shape"):
        kl_per_dim(np.zeros((4, 2)), np.zeros((4, 3)))
    assert effective_rank(np.ones((5, 3))) == 0.0
    with pytest.warns(MetricWarning, match="covariance is singular"):  # metrics.json stores inf as null
        assert prior_fit(np.c_[np.random.RandomState(0).randn(20), np.zeros(20)])["kl"] == float("inf")
