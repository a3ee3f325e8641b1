"""Disentanglement metrics: side by side with a re-implementation of the reference procedure
(disentanglement_lib as described in shared/METRICS.md, on scikit-learn estimators), analytic
cases, properties and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from reference_metrics import (
    ref_dci,
    ref_discretize,
    ref_explicitness,
    ref_irs,
    ref_mi,
    ref_mig,
    ref_modularity,
    ref_sap,
    ref_tc,
    ref_w2,
)
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import mutual_info_score as sk_mutual_info

from latentviz.errors import InputError
from latentviz.metrics import (
    MetricWarning,
    beta_vae_score,
    dci,
    discretize,
    explicitness,
    factor_vae_score,
    gaussian_wasserstein_correlation,
    irs,
    mig,
    modularity,
    mutual_info_matrix,
    mutual_info_score,
    sap,
    total_correlation,
)
from latentviz.metrics._dci import dci_detail
from latentviz.metrics._gbt import _kernels, fit_predict_gbc, sort_features

SIZES = (3, 4, 5)


def grid_factors(repeat: int = 3, sizes=SIZES) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(sizes))
    return np.tile(grid, (repeat, 1))


def noisy_code(f, rs, noise=0.05):
    return f / np.array(f.max(axis=0) + 1) + noise * rs.randn(*f.shape)


def rotation(d, seed=0):
    return np.linalg.qr(np.random.RandomState(seed).randn(d, d))[0]


def check_against_reference(ours, ref, inputs, atol):
    for z, f in inputs:
        assert ours(z, f) == pytest.approx(ref(z, f), abs=atol)


def random_inputs(n_cases=3, n=600):
    cases = []
    for seed in range(n_cases):
        rs = np.random.RandomState(seed)
        f = rs.randint(4, size=(n, 3))
        z = np.hstack([noisy_code(f, rs, 0.2), rs.randn(n, 2)]) @ rotation(5, seed) * 0.3
        cases.append((z, f))
    return cases


# -- side by side -----------------------------------------------------------------------------------


def test_discretize_matches_numpy_histogram_digitize():
    z = np.random.RandomState(0).randn(200, 3)
    z[:, 2] = 1.5
    np.testing.assert_array_equal(discretize(z), ref_discretize(z))


def test_mutual_info_matrix_matches_sklearn():
    z, f = random_inputs(1)[0]
    np.testing.assert_allclose(mutual_info_matrix(z, f), ref_mi(ref_discretize(z), f), atol=1e-12)


@pytest.mark.parametrize("ours, ref", [(mig, ref_mig), (modularity, ref_modularity), (irs, ref_irs)])
def test_deterministic_scores_match_reference(ours, ref):
    check_against_reference(ours, ref, random_inputs(), atol=1e-9)


def test_split_scores_match_reference_with_explicit_test_set():
    z, f = random_inputs(1, n=900)[0]
    train, test = slice(0, 600), slice(600, None)
    assert sap(z[train], f[train], z_test=z[test], factors_test=f[test]) == pytest.approx(
        ref_sap(z[train], f[train], z[test], f[test]), abs=1e-3
    )
    assert explicitness(z[train], f[train], z_test=z[test], factors_test=f[test]) == pytest.approx(
        ref_explicitness(z[train], f[train], z[test], f[test]), abs=1e-3
    )


def test_dci_matches_sklearn_gradient_boosting():
    rs = np.random.RandomState(0)
    f = rs.randint(3, size=(900, 3))
    z = noisy_code(f, rs, 0.3) @ rotation(3, 1)
    ours = dci(z[:600], f[:600], z_test=z[600:], factors_test=f[600:], n_estimators=20)
    ref = ref_dci(z[:600], f[:600], z[600:], f[600:], n_estimators=20)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-2), key


def test_boosted_tree_grows_sklearn_trees_on_a_continuous_target():
    from sklearn.tree import DecisionTreeRegressor

    kernels = _kernels()
    rs = np.random.RandomState(1)
    for trial in range(20):
        n, d = rs.randint(50, 300), rs.randint(1, 5)
        x = rs.randn(n, d).astype(np.float32)
        if trial % 2:
            x = np.round(x, 1)  # repeated values within a feature
        target = rs.randn(n) + 2 * x[:, 0]
        ref = DecisionTreeRegressor(max_depth=3, random_state=0).fit(x, target)
        feature, threshold = np.full(15, -1), np.zeros(15)
        node, importance = np.zeros(n, np.int64), np.zeros(d)
        order = sort_features(x)
        kernels.grow_tree(
            x,
            order,
            np.ascontiguousarray(np.take_along_axis(x, order.T, 0).T),
            target,
            3,
            feature,
            threshold,
            node,
            importance,
        )
        leaves = ref.apply(x)
        assert len(set(zip(leaves, node, strict=True))) == len(set(leaves)) == len(set(node))  # the same partition
        assert ref.tree_.compute_feature_importances(normalize=False).sum() == pytest.approx(importance.sum())


def test_boosted_classifier_matches_sklearn_predictions_and_importances():
    rs = np.random.RandomState(2)
    x = rs.randn(1500, 4)
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rs.randn(1500) > 0).astype(int) + (x[:, 2] > 1)
    ref = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(x[:1000], y[:1000])
    importance, (predicted,) = fit_predict_gbc(x[:1000], y[:1000], [x[1000:]], n_estimators=30)
    np.testing.assert_allclose(importance, ref.feature_importances_, atol=5e-3)
    assert np.mean(predicted == ref.predict(x[1000:])) > 0.99


def test_unsupervised_scores_match_reference():
    for z, _ in random_inputs():
        assert total_correlation(z) == pytest.approx(ref_tc(z), rel=1e-9)
        assert gaussian_wasserstein_correlation(z) == pytest.approx(ref_w2(z), rel=1e-7)
        b = ref_discretize(z)
        pairs = [sk_mutual_info(b[:, i], b[:, j]) for i in range(5) for j in range(5) if i != j]
        assert mutual_info_score(z) == pytest.approx(np.mean(pairs), rel=1e-9)


# -- analytic cases -------------------------------------------------------------------------------


def test_perfect_code_permuted_and_rescaled_scores_at_the_top():
    f = grid_factors(4)
    z = (f * np.array([2.0, -0.5, 3.0]) + np.array([1.0, 0.0, -2.0]))[:, [2, 0, 1]]
    assert mig(z, f) == pytest.approx(1.0, abs=2e-3)
    assert modularity(z, f) == pytest.approx(1.0)
    assert irs(z, f) == pytest.approx(1.0)
    assert explicitness(z, f) > 0.99
    scores = dci(z, f)  # default settings (100 stages)
    assert scores["disentanglement"] > 0.99 and scores["completeness"] > 0.99
    assert scores["informativeness_test"] == 1.0
    assert beta_vae_score(z, f, n_train=300, n_eval=200) == 1.0
    assert factor_vae_score(z, f, n_train=300, n_eval=200, n_variance=500) == 1.0


def test_independent_random_code_is_near_chance():
    f = grid_factors(8)
    z = np.random.RandomState(0).randn(len(f), 4)
    assert mig(z, f) < 0.05
    assert beta_vae_score(z, f, n_train=500, n_eval=500) < 0.5
    assert factor_vae_score(z, f, n_train=500, n_eval=500) < 0.6
    assert dci(z, f, n_estimators=20)["disentanglement"] < 0.3
    assert explicitness(z, f) < 0.6


def test_rotation_loses_mig_and_dci_disentanglement_but_keeps_informativeness():
    rs = np.random.RandomState(0)
    f = grid_factors(10)
    z = noisy_code(f, rs, 0.02)
    turned = z @ rotation(3, 3)
    assert mig(turned, f) < mig(z, f) - 0.3
    plain, rotated = dci(z, f, n_estimators=20), dci(turned, f, n_estimators=20)
    assert rotated["disentanglement"] < plain["disentanglement"] - 0.3
    assert rotated["informativeness_test"] == pytest.approx(plain["informativeness_test"], abs=0.05)


def test_duplicated_dimensions_give_zero_mig_and_the_predicted_completeness():
    rs = np.random.RandomState(0)
    f = rs.randint(4, size=(1200, 5))
    z = noisy_code(f, rs, 0.05)
    doubled = np.hstack([z, z])
    assert mig(doubled, f) == 0.0
    assert sap(doubled, f) == 0.0
    completeness = dci(doubled, f, n_estimators=20)["completeness"]
    assert completeness == pytest.approx(1 - np.log(2) / np.log(10), abs=0.02)


def test_constant_dimensions():
    f = grid_factors(4)
    z = np.hstack([f * 1.0, np.zeros((len(f), 2))])
    assert modularity(z, f) == pytest.approx(3 / 5)
    with pytest.warns(MetricWarning, match="constant"):
        assert explicitness(z, f) > 0.99
    with pytest.warns(MetricWarning, match="constant"):
        assert np.isfinite(total_correlation(z))
    detail = dci_detail(z, f, n_estimators=10)
    assert np.all(detail["importance_matrix"][3:] == 0)
    with pytest.warns(MetricWarning, match="every latent dimension is constant"):
        assert irs(np.zeros((len(f), 2)), f) == 0.0


# -- properties and edge cases ----------------------------------------------------------------------


def test_scores_are_invariant_to_permuting_latents():
    z, f = random_inputs(1)[0]
    perm = [3, 1, 4, 0, 2]
    for metric in (mig, modularity, irs, total_correlation):
        args = (z, f) if metric is not total_correlation else (z,)
        permuted = (z[:, perm], f) if metric is not total_correlation else (z[:, perm],)
        assert metric(*permuted) == pytest.approx(metric(*args), rel=1e-9)


def test_scores_stay_in_bounds():
    for z, f in random_inputs(2):
        for value in (mig(z, f), modularity(z, f), irs(z, f), sap(z, f), explicitness(z, f)):
            assert 0.0 <= value <= 1.0


def test_duplicates_make_total_correlation_infinite():
    z = np.random.RandomState(0).randn(100, 2)
    assert total_correlation(np.hstack([z, z[:, :1]])) == float("inf")


def test_a_single_factor_value_is_left_out_of_mig():
    f = grid_factors(4)
    f[:, 1] = 0
    with pytest.warns(MetricWarning, match="single level"):
        assert mig(f * 1.0, f) == pytest.approx(1.0, abs=2e-3)
    with pytest.raises(InputError, match="every factor has a single level"):
        mig(np.random.RandomState(0).randn(60, 2), np.zeros((60, 1), int))


def test_nan_rows_are_excluded_and_counted():
    f = grid_factors(4)
    z = f * 1.0
    z[5, 0] = np.nan
    with pytest.warns(MetricWarning, match="excluded 1 of 240 rows"):
        assert mig(z, f) == pytest.approx(mig(np.delete(f * 1.0, 5, 0), np.delete(f, 5, 0)))


def test_input_errors_say_who_and_what():
    f = grid_factors(1)
    with pytest.raises(InputError, match="mig: z has 1 latent dimensions; at least 2 needed"):
        mig(f[:, :1] * 1.0, f)
    with pytest.raises(InputError, match="factors has 10 rows but z has 60"):
        dci(f * 1.0, f[:10])
    with pytest.raises(InputError, match="sap: needs at least 2 latent dimensions"):
        sap(f[:, :1] * 1.0, f)
    with pytest.raises(InputError, match="integer levels"):
        mig(f * 1.0, f + 0.5)
    with pytest.raises(InputError, match="needs at least 3 samples"):
        dci(f[:2] * 1.0, f[:2])
