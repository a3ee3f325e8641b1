"""Metric invariants as property tests (hypothesis; few examples, no deadline).

Each property follows from the metric's reference definition in ``shared/METRICS.md``, not from
our code: permuting the latent dimensions changes nothing a metric sums or sorts over dimensions;
scaling a latent by a power of two (exact in floating point) leaves every histogram, rank,
standardisation and covariance ratio unchanged; constant dimensions change each metric exactly as
its definition says (modularity by d / (d + c), MIG not at all, ...); and duplicate rows, NaN rows
and single-level factors give the defined answers. MIG, modularity, the mutual-information score
and SAP are also checked against small re-implementations of the reference written here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import latentviz.metrics as M
from latentviz.errors import InputError

FEW = settings(
    max_examples=8, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
SLOW = settings(FEW, max_examples=3)  # metrics that fit a classifier per factor


@dataclass
class Case:
    z: np.ndarray
    factors: np.ndarray
    z_test: np.ndarray
    factors_test: np.ndarray
    rng: np.random.Generator


def _factors(rng, n, levels):
    """Every level present (a factor with one level is its own test below)."""
    return np.stack([rng.permutation(np.arange(n) % k) for k in levels], axis=1)


@st.composite
def cases(draw, min_factors=1):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, d = draw(st.integers(60, 100)), draw(st.integers(2, 5))
    levels = draw(st.lists(st.integers(2, 5), min_size=min_factors, max_size=3))
    mixing, noise = rng.normal(size=(len(levels), d)), draw(st.sampled_from([0.1, 1.0]))

    def codes(factors):
        return factors @ mixing + noise * rng.normal(size=(len(factors), d))

    f, f_test = _factors(rng, n, levels), _factors(rng, n // 2, levels)
    return Case(codes(f), f, codes(f_test), f_test, rng)


# -- the metrics, each as a float of (z, factors, z_test, factors_test) ------------------------------------------
def _dci(z, f, zt, ft):
    """(D, C, I): 25 boosting stages, not 100; each property holds for any number."""
    scores = M.dci(z, f, z_test=zt, factors_test=ft, n_estimators=25, n_jobs=1)
    return scores["disentanglement"], scores["completeness"], scores["informativeness_test"]


METRICS = {
    "mig": lambda z, f, zt, ft: M.mig(z, f),
    "modularity": lambda z, f, zt, ft: M.modularity(z, f),
    "irs": lambda z, f, zt, ft: M.irs(z, f),
    "sap": lambda z, f, zt, ft: M.sap(z, f, z_test=zt, factors_test=ft, n_jobs=1),
    "dci": _dci,
    "explicitness": lambda z, f, zt, ft: M.explicitness(z, f, z_test=zt, factors_test=ft),
    "total_correlation": lambda z, f, zt, ft: M.total_correlation(z),
    "gaussian_wasserstein_correlation": lambda z, f, zt, ft: M.gaussian_wasserstein_correlation(z),
    "mutual_info_score": lambda z, f, zt, ft: M.mutual_info_score(z),
    "active_units": lambda z, f, zt, ft: M.active_units(z)["count"],
    "active_units_fraction": lambda z, f, zt, ft: M.active_units(z)["fraction"],
    "effective_rank": lambda z, f, zt, ft: M.effective_rank(z),
    "intrinsic_dimension": lambda z, f, zt, ft: M.intrinsic_dimension(z),
    "mean_abs_correlation": lambda z, f, zt, ft: _mean_abs_correlation(z),
    "prior_kl": lambda z, f, zt, ft: M.prior_fit(z)["kl"],
    # sampling scores with fewer examples than the reference's 10000/5000: each property holds for any number
    "beta_vae": lambda z, f, zt, ft: M.beta_vae_score(z, f, n_train=300, n_eval=150),
    "factor_vae": lambda z, f, zt, ft: M.factor_vae_score(z, f, n_train=300, n_eval=150, n_variance=500),
    # label scores: the first factor is the label; neighbourhood scores: z + 0.3 sin(z) is the input space (row by
    # row and monotone, so it follows the rows and dimensions of z, with distances of its own and no new ties)
    "linear_probe_accuracy": lambda z, f, zt, ft: M.linear_probe_accuracy(z, f[:, 0]),
    "knn_accuracy": lambda z, f, zt, ft: M.knn_accuracy(z, f[:, 0]),
    "silhouette": lambda z, f, zt, ft: M.silhouette(z, f[:, 0]),
    "trustworthiness": lambda z, f, zt, ft: M.trustworthiness(_inputs(z), z, 5),
    "continuity": lambda z, f, zt, ft: M.continuity(_inputs(z), z, 5),
}


def _inputs(z):
    with np.errstate(invalid="ignore"):  # sin(inf) is NaN: the row stays non-finite
        return z + 0.3 * np.sin(z)


def _mean_abs_correlation(z):
    corr = M.latent_correlation(z)
    return float(np.abs(corr[~np.eye(len(corr), dtype=bool)]).mean())


SLOW_METRICS = {"sap", "dci", "explicitness", "beta_vae", "linear_probe_accuracy"}
#: relative tolerance per metric: solver-based ones (lbfgs) agree to about 1e-6 when only the column order changes
RTOL = {
    "explicitness": 1e-6,
    "beta_vae": 1e-6,
    "linear_probe_accuracy": 1e-6,
    "total_correlation": 1e-9,
    "gaussian_wasserstein_correlation": 1e-9,
    "effective_rank": 1e-9,
    "intrinsic_dimension": 1e-9,
    "mean_abs_correlation": 1e-9,
    "prior_kl": 1e-9,
    "silhouette": 1e-9,
}


def value(name, z, f, zt, ft):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.MetricWarning)
        return METRICS[name](z, f, zt, ft)


#: DCI's trees break exact ties between features that split off the same rows by a random feature
#: order (the reference's too), so reordering or adding features moves it by up to about 1e-2 (METRICS.md)
ATOL = {"dci": 0.02}


def assert_unchanged_or_close(name, actual, expected, rtol=None):
    assert actual == pytest.approx(expected, rel=rtol or RTOL.get(name, 1e-12), abs=ATOL.get(name, 1e-12)), name


def FEW_OR_SLOW(name):
    return SLOW if name in SLOW_METRICS else FEW


# -- permutation of the latent dimensions --------------------------------------------------------------------------
PERMUTATION_INVARIANT = list(METRICS)  # every metric here sums, sorts or maximises over dimensions


def check_permutation_holds(name, case):
    perm = case.rng.permutation(case.z.shape[1])
    base = value(name, case.z, case.factors, case.z_test, case.factors_test)
    assert_unchanged_or_close(
        name, value(name, case.z[:, perm], case.factors, case.z_test[:, perm], case.factors_test), base
    )


@pytest.mark.parametrize("name", PERMUTATION_INVARIANT)
def test_permuting_latent_dimensions_changes_nothing(name):
    FEW_OR_SLOW(name)(given(case=cases())(lambda case: check_permutation_holds(name, case)))()


# -- scaling one latent dimension --------------------------------------------------------------------------------
#: Histograms (MIG, modularity, MI score) and tree splits (DCI) only see the order within a column;
#: explicitness standardises; Gaussian TC is a ratio of covariance determinants. IRS is invariant
#: only to scaling every dimension at once (its weights are each dimension's spread): see below.
SCALE_INVARIANT = ["mig", "modularity", "mutual_info_score", "dci", "explicitness", "total_correlation"]


def check_scaling_holds(name, case, everything):
    d = case.z.shape[1]
    scale = 2.0 ** case.rng.integers(-3, 4, size=d) if not everything else np.full(d, 2.0 ** case.rng.integers(-3, 4))
    base = value(name, case.z, case.factors, case.z_test, case.factors_test)
    assert_unchanged_or_close(
        name, value(name, case.z * scale, case.factors, case.z_test * scale, case.factors_test), base
    )


@pytest.mark.parametrize("name", SCALE_INVARIANT)
def test_scaling_a_latent_changes_nothing(name):
    FEW_OR_SLOW(name)(given(case=cases())(lambda case: check_scaling_holds(name, case, everything=False)))()


@pytest.mark.parametrize("name", ["irs", "intrinsic_dimension", "gaussian_wasserstein_correlation"])
def test_scaling_every_latent_at_once(name):
    """IRS and TwoNN are ratios of distances; the normalised W2 correlation divides by tr(Sigma)."""
    if name == "gaussian_wasserstein_correlation":

        def holds(case):
            scale = 2.0 ** case.rng.integers(-3, 4)
            norm = M.gaussian_wasserstein_correlation
            assert_unchanged_or_close(name, norm(case.z * scale, normalize=True), norm(case.z, normalize=True))
            assert_unchanged_or_close(name, norm(case.z * scale), norm(case.z) * scale**2)

        FEW(given(case=cases())(holds))()
    else:
        FEW(given(case=cases())(lambda case: check_scaling_holds(name, case, everything=True)))()


# -- constant (collapsed) dimensions -------------------------------------------------------------------------------
def _pairs(d):
    return d * d - d


#: metric -> expected value with c constant dims, from (value without them, d, c), per the reference definition.
CONSTANT_DIMS = {
    "modularity": lambda v, d, c: v * d / (d + c),  # a constant code scores 0 in the unweighted mean
    "mig": lambda v, d, c: v,  # its MI is 0: never the best or second-best latent
    "irs": lambda v, d, c: v,  # dimensions of zero variance are dropped
    # never split on: a zero importance row of zero weight in D; C's log base grows from d to d + c; the same trees
    "dci": lambda v, d, c: (v[0], 1 - (1 - v[1]) * math.log(d) / math.log(d + c), v[2]),
    "explicitness": lambda v, d, c: v,  # dropped (a zero standard deviation treated as 1: a zero feature)
    "total_correlation": lambda v, d, c: v,  # dropped (the reference's log 0 gives NaN)
    "gaussian_wasserstein_correlation": lambda v, d, c: v,  # a zero row and column of Sigma
    "mutual_info_score": lambda v, d, c: v * _pairs(d) / _pairs(d + c),  # its pairs add 0 to the sum
    "active_units": lambda v, d, c: v,
    "active_units_fraction": lambda v, d, c: v * d / (d + c),
    "effective_rank": lambda v, d, c: v,  # the centred codes keep their singular values
    "intrinsic_dimension": lambda v, d, c: v,  # distances unchanged
    "knn_accuracy": lambda v, d, c: v,
    "silhouette": lambda v, d, c: v,
    "trustworthiness": lambda v, d, c: v,
    "continuity": lambda v, d, c: v,
    "linear_probe_accuracy": lambda v, d, c: v,  # standardised: a zero feature
    "mean_abs_correlation": lambda v, d, c: v * _pairs(d) / _pairs(d + c),  # correlation with a constant is 0
    "prior_kl": lambda v, d, c: math.inf,  # N(mean, Sigma) with a singular Sigma against N(0, I)
    "factor_vae": lambda v, d, c: v,  # a constant latent is never active (sd below 0.05)
    "beta_vae": lambda v, d, c: v,  # its feature |z1 - z2| is 0: a zero column for the classifier
}


def check_constant_dims_hold(name, case):
    d = case.z.shape[1]
    c = int(case.rng.integers(1, 3))
    levels = [0.0, 0.1][:c]  # 0.1: a constant whose float variance is not exactly 0

    def extend(z):
        return np.hstack([z, np.tile(levels, (len(z), 1))])

    base = value(name, case.z, case.factors, case.z_test, case.factors_test)
    actual = value(name, extend(case.z), case.factors, extend(case.z_test), case.factors_test)
    assert_unchanged_or_close(name, actual, CONSTANT_DIMS[name](base, d, c), rtol=1e-9)


@pytest.mark.parametrize("name", list(CONSTANT_DIMS))
def test_constant_dimensions_change_each_metric_as_its_definition_says(name):
    FEW_OR_SLOW(name)(given(case=cases())(lambda case: check_constant_dims_hold(name, case)))()


def test_sap_with_constant_dimensions_matches_the_reference():
    """A constant latent's one-feature classifier predicts one class: its accuracy is that class's share."""

    def holds(case):
        z, zt = (np.hstack([a, np.zeros((len(a), 1))]) for a in (case.z, case.z_test))
        actual = M.sap(z, case.factors, z_test=zt, factors_test=case.factors_test, n_jobs=1)
        assert actual == pytest.approx(reference_sap(z, case.factors, zt, case.factors_test), abs=1e-9)

    SLOW(given(case=cases())(holds))()


# -- against small re-implementations of the reference (METRICS.md) ------------------------------------------------
def reference_discretize(z):
    return np.stack([np.digitize(col, np.histogram(col, 20)[1][:-1]) for col in z.T], axis=1)


def reference_mi(z, factors):
    from sklearn.metrics import mutual_info_score

    codes = reference_discretize(z)
    return np.array(
        [
            [mutual_info_score(factors[:, j], codes[:, i]) for j in range(factors.shape[1])]
            for i in range(codes.shape[1])
        ]
    )


def reference_mig(z, factors):
    from sklearn.metrics import mutual_info_score

    mi = np.sort(reference_mi(z, factors), axis=0)[::-1]
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    return float(np.mean((mi[0] - mi[1]) / entropy))


def reference_modularity_per_code(z, factors):
    squared = reference_mi(z, factors) ** 2
    top = squared.max(axis=1)
    k = factors.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (squared.sum(axis=1) - top) / (top * (k - 1))
    return np.where(top > 0, 1 - delta, 0.0)


def reference_mutual_info_score(z):
    from sklearn.metrics import mutual_info_score

    codes = reference_discretize(z)
    d = codes.shape[1]
    total = sum(mutual_info_score(codes[:, i], codes[:, j]) for i in range(d) for j in range(d) if i != j)
    return total / (d * d - d)


def reference_sap(z, factors, z_test, factors_test):
    from sklearn.svm import LinearSVC

    scores = np.zeros((z.shape[1], factors.shape[1]))
    for i in range(z.shape[1]):
        for j in range(factors.shape[1]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LinearSVC(C=0.01, class_weight="balanced").fit(z[:, [i]], factors[:, j])
            scores[i, j] = np.mean(model.predict(z_test[:, [i]]) == factors_test[:, j])
    top = np.sort(scores, axis=0)
    return float(np.mean(top[-1] - top[-2]))


@FEW
@given(case=cases(min_factors=2))
def test_mi_metrics_match_the_reference(case):
    z, f = case.z, case.factors
    assert M.mig(z, f) == pytest.approx(reference_mig(z, f), rel=1e-9, abs=1e-12)
    assert M.modularity(z, f) == pytest.approx(reference_modularity_per_code(z, f).mean(), rel=1e-9, abs=1e-12)
    assert M.mutual_info_score(z) == pytest.approx(reference_mutual_info_score(z), rel=1e-9, abs=1e-12)


@SLOW
@given(case=cases())
def test_sap_matches_the_reference(case):
    actual = M.sap(case.z, case.factors, z_test=case.z_test, factors_test=case.factors_test, n_jobs=1)
    assert actual == pytest.approx(reference_sap(case.z, case.factors, case.z_test, case.factors_test), abs=1e-9)


# -- duplicate rows, duplicate latents, NaN rows -----------------------------------------------------------------
#: plug-in MI and entropies see only proportions; TC and the effective rank are scale-free in the covariance
DUPLICATE_ROWS_UNCHANGED = [
    "mig",
    "modularity",
    "mutual_info_score",
    "total_correlation",
    "effective_rank",
    "active_units",
]


@FEW
@given(case=cases())
def test_every_row_twice_leaves_proportion_based_metrics_unchanged(case):
    z2, f2 = np.vstack([case.z, case.z]), np.vstack([case.factors, case.factors])
    for name in DUPLICATE_ROWS_UNCHANGED:
        assert_unchanged_or_close(
            name,
            value(name, z2, f2, case.z_test, case.factors_test),
            value(name, case.z, case.factors, case.z_test, case.factors_test),
        )
    with pytest.raises(InputError, match="fewer than 2 points have a nearest neighbour at a positive distance"):
        M.intrinsic_dimension(z2)  # TwoNN leaves out points whose nearest neighbour is a duplicate: all of them


@FEW
@given(case=cases())
def test_duplicate_latents_give_the_documented_values(case):
    """A latent and its exact copy tie for best: MIG's and SAP's gap is exactly 0; Sigma is singular: TC is inf."""
    z, zt = np.hstack([case.z, case.z]), np.hstack([case.z_test, case.z_test])
    assert M.mig(z, case.factors) == 0.0
    assert M.sap(z, case.factors, z_test=zt, factors_test=case.factors_test, n_jobs=1) == 0.0
    assert M.total_correlation(z) == math.inf


@pytest.mark.parametrize("name", list(METRICS))
def test_nan_rows_are_left_out(name):
    """Rows holding NaN or inf are excluded, with a MetricWarning: the value is that of the finite rows."""

    def holds(case):
        rows = case.rng.choice(len(case.z), size=3, replace=False)
        z = case.z.copy()
        z[rows[0], 0], z[rows[1]], z[rows[2], -1] = np.nan, np.nan, np.inf
        keep = np.setdiff1d(np.arange(len(z)), rows)
        with pytest.warns(M.MetricWarning, match="rows holding NaN or inf"):
            actual = METRICS[name](z, case.factors, case.z_test, case.factors_test)
        assert_unchanged_or_close(
            name, actual, value(name, case.z[keep], case.factors[keep], case.z_test, case.factors_test)
        )

    FEW_OR_SLOW(name)(given(case=cases())(holds))()


# -- single-level factors ----------------------------------------------------------------------------------------
def _with_constant_factor(case):
    return (
        np.hstack([case.factors, np.zeros((len(case.z), 1), int)]),
        np.hstack([case.factors_test, np.zeros((len(case.z_test), 1), int)]),
    )


@FEW
@given(case=cases(min_factors=2))
def test_a_single_level_factor_added(case):
    """MIG leaves it out (H = 0); modularity's K - 1 grows by one; SAP's gap for it is 0; IRS's max grows."""
    f1, ft1 = _with_constant_factor(case)
    z, f, k = case.z, case.factors, case.factors.shape[1]
    with pytest.warns(M.MetricWarning, match="left out 1 factor"):
        assert M.mig(z, f1) == pytest.approx(M.mig(z, f), rel=1e-12)
    per_code = reference_modularity_per_code(z, f)
    expected = np.where(per_code > 0, 1 - (1 - per_code) * (k - 1) / k, 0.0).mean()
    assert M.modularity(z, f1) == pytest.approx(expected, rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.MetricWarning)
        assert M.irs(z, f1) >= M.irs(z, f) - 1e-12
    sap_f = M.sap(z, f, z_test=case.z_test, factors_test=case.factors_test, n_jobs=1)
    sap_f1 = M.sap(z, f1, z_test=case.z_test, factors_test=ft1, n_jobs=1)
    assert sap_f1 == pytest.approx(sap_f * k / (k + 1), abs=1e-12)


@SLOW
@given(case=cases(min_factors=2))
def test_dci_with_a_single_level_factor_added(case):
    """Its model makes no splits: a zero importance column (weight 0 in C), the log base of D grows to K + 1,
    and its accuracy (a constant prediction) is 1."""
    f1, ft1 = _with_constant_factor(case)
    k = case.factors.shape[1]
    base = M.dci(case.z, case.factors, z_test=case.z_test, factors_test=case.factors_test, n_estimators=25, n_jobs=1)
    more = M.dci(case.z, f1, z_test=case.z_test, factors_test=ft1, n_estimators=25, n_jobs=1)
    assert 1 - more["disentanglement"] == pytest.approx(
        (1 - base["disentanglement"]) * math.log(k) / math.log(k + 1), rel=1e-8, abs=1e-9
    )
    assert more["completeness"] == pytest.approx(base["completeness"], rel=1e-9)
    assert more["informativeness_test"] == pytest.approx((k * base["informativeness_test"] + 1) / (k + 1), rel=1e-12)


def test_only_single_level_factors():
    """Nothing varies: MIG refuses in one line; the other scores take their documented values."""
    rng = np.random.default_rng(0)
    z, f = rng.normal(size=(80, 3)), np.zeros((80, 1), int)
    with pytest.raises(InputError, match="every factor has a single level; at least one factor must vary"):
        M.mig(z, f)
    assert M.modularity(z, f) == 0.0  # every code's MI is 0
    assert M.sap(z, f, z_test=z, factors_test=f, n_jobs=1) == 0.0  # every latent predicts the one class: no gap
    scores = M.dci(z, f, z_test=z, factors_test=f, n_estimators=25, n_jobs=1)
    # all-zero importances fall back to uniform weights: D = 0 and C = 0 (METRICS.md), with one factor too
    assert scores["disentanglement"] == 0.0 and scores["completeness"] == pytest.approx(0.0, abs=1e-9)
