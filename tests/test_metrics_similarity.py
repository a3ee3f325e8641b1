"""Similarity of two latent spaces: analytic invariances and naive O(n^2) formulas from the papers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from latentviz.errors import InputError
from latentviz.metrics import linear_cka, mutual_knn, procrustes_distance, rbf_cka, svcca


def centring(n):
    return np.eye(n) - np.ones((n, n)) / n


def naive_hsic(ka, kb):
    h = centring(len(ka))
    return np.trace(ka @ h @ kb @ h) / (len(ka) - 1) ** 2


def naive_cka(ka, kb):
    return naive_hsic(ka, kb) / np.sqrt(naive_hsic(ka, ka) * naive_hsic(kb, kb))


def naive_unbiased_hsic(ka, kb):
    """Song et al. (2012), eq. (5), written term by term (their K and L are ka and kb)."""
    n = len(ka)
    kat, kbt = ka - np.diag(np.diag(ka)), kb - np.diag(np.diag(kb))
    one = np.ones(n)
    term = (
        np.trace(kat @ kbt)
        + (one @ kat @ one) * (one @ kbt @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * one @ kat @ kbt @ one
    )
    return term / (n * (n - 3))


def rbf(x, sigma=0.8):
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    med = np.median(np.sqrt(d2[np.triu_indices(len(x), 1)]))
    return np.exp(-d2 / (2 * (sigma * med) ** 2))


@pytest.fixture
def pair():
    rs = np.random.RandomState(0)
    a = rs.randn(120, 4)
    return a, np.tanh(a @ rs.randn(4, 3)) + 0.3 * rs.randn(120, 3)


def test_linear_cka_equals_the_naive_hsic_formula(pair):
    a, b = pair
    assert linear_cka(a, b) == pytest.approx(naive_cka(a @ a.T, b @ b.T), rel=1e-9)


def test_cka_is_one_under_orthogonal_maps_and_isotropic_scaling(pair):
    a, _ = pair
    q = np.linalg.qr(np.random.RandomState(5).randn(4, 4))[0]
    assert linear_cka(a, 3.0 * a @ q + 1.0) == pytest.approx(1.0)
    assert rbf_cka(a, 3.0 * a @ q + 1.0) == pytest.approx(1.0)
    assert procrustes_distance(a, 3.0 * a @ q + 1.0) == pytest.approx(0.0, abs=1e-6)


def test_rbf_cka_matches_naive_biased_and_debiased_estimators(pair):
    a, b = pair
    ka, kb = rbf(a), rbf(b)
    assert rbf_cka(a, b) == pytest.approx(naive_cka(ka, kb), rel=1e-9)
    debiased = naive_unbiased_hsic(ka, kb) / np.sqrt(naive_unbiased_hsic(ka, ka) * naive_unbiased_hsic(kb, kb))
    assert rbf_cka(a, b, debiased=True) == pytest.approx(debiased, rel=1e-9)


def test_svcca_is_one_for_invertible_linear_maps_and_matches_cca(pair):
    from sklearn.cross_decomposition import CCA

    a, b = pair
    assert svcca(a, a @ np.random.RandomState(3).randn(4, 4)) == pytest.approx(1.0)
    cca = CCA(n_components=3, max_iter=5000, tol=1e-12).fit(a, b)
    u, v = cca.transform(a, b)
    expected = np.mean([abs(np.corrcoef(u[:, i], v[:, i])[0, 1]) for i in range(3)])
    assert svcca(a, b, keep=1.0) == pytest.approx(expected, abs=1e-3)


def test_procrustes_matches_scipy(pair):
    a, b = pair
    x = a[:, :3] - a[:, :3].mean(axis=0)
    y = b - b.mean(axis=0)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    r, _ = orthogonal_procrustes(y, x)
    assert procrustes_distance(a[:, :3], b) == pytest.approx(np.linalg.norm(x - y @ r), rel=1e-9)


def test_mutual_knn_matches_a_naive_loop_and_baselines_sit_at_chance(pair):
    a, b = pair

    def knn(x):
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1)[:, :5]

    na, nb = knn(a), knn(b)
    assert mutual_knn(a, b, 5) == pytest.approx(np.mean([len(set(na[i]) & set(nb[i])) / 5 for i in range(120)]))
    for metric in (linear_cka, rbf_cka, svcca, mutual_knn):
        score, chance = metric(a, b, baseline=True)
        assert chance < score
    score, chance = procrustes_distance(a, b, baseline=True)
    assert chance > score


def test_chance_level_is_the_mean_score_over_seeded_row_shuffles(pair):
    """By definition, computed here by shuffling and scoring again (mutual kNN relabels its graphs instead)."""
    a, b = pair
    for metric in (linear_cka, svcca, procrustes_distance, mutual_knn):
        score, chance = metric(a, b, baseline=True, seed=4, permutations=3)
        shuffled = [metric(a, b[np.random.RandomState(4 + p).permutation(len(b))]) for p in range(3)]
        assert score == metric(a, b) and chance == pytest.approx(np.mean(shuffled), abs=1e-12), metric.__name__
    with pytest.raises(InputError, match="permutations must be a positive integer; got 0"):
        svcca(a, b, baseline=True, permutations=0)


def test_symmetry(pair):
    a, b = pair
    for metric in (linear_cka, rbf_cka, svcca, procrustes_distance):
        assert metric(a, b) == pytest.approx(metric(b, a), rel=1e-6)


def test_linear_cka_works_in_chunks_without_n_by_n():
    import latentviz.metrics._similarity as sim

    rs = np.random.RandomState(0)
    a, b = rs.randn(1000, 3), rs.randn(1000, 2)
    whole = linear_cka(a, b)
    old, sim._CHUNK = sim._CHUNK, 64
    try:
        assert linear_cka(a, b) == pytest.approx(whole, rel=1e-12)
    finally:
        sim._CHUNK = old


def test_compare_runs_matches_rows_by_id(tmp_path, make_run):
    from latentviz.compare import compare_runs
    from latentviz.run import Run

    rs = np.random.RandomState(0)
    z = rs.randn(60, 3)
    run_a = make_run(tmp_path / "a", z, ids=range(60))
    run_b = make_run(tmp_path / "b", (z @ np.linalg.qr(rs.randn(3, 3))[0])[::-1], ids=range(59, -1, -1))
    out = compare_runs([Run(run_a), Run(run_b)], k=5, permutations=3)
    assert out.n_shared == 60
    assert out.scores["linear_cka"].values[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert out.scores["mutual_knn"].values[0, 1] == pytest.approx(1.0)
    assert out.scores["mutual_knn"].chance[0, 1] < 0.3


def test_errors():
    with pytest.raises(InputError, match="a has 5 rows but b has 4"):
        linear_cka(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(InputError, match="at least 3 rows"):
        svcca(np.full((3, 2), np.nan), np.zeros((3, 2)))
