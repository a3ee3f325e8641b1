"""The disentanglement reference procedure, written from shared/METRICS.md (disentanglement_lib's, on
scikit-learn estimators): what the tests check latentviz.metrics against and what
benchmarks/metrics.py times it against. Plain loops, no latentviz code.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score as sk_mutual_info
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC


def ref_discretize(z):
    out = np.zeros_like(z)
    for i in range(z.shape[1]):
        out[:, i] = np.digitize(z[:, i], np.histogram(z[:, i], 20)[1][:-1])
    return out


def ref_mi(codes, factors):
    return np.array([[sk_mutual_info(c, f) for f in factors.T] for c in codes.T])


def ref_mig(z, f):
    m = ref_mi(ref_discretize(z), f)
    h = np.array([sk_mutual_info(c, c) for c in f.T])
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h))


def ref_modularity(z, f):
    m = ref_mi(ref_discretize(z), f)
    sq = m**2
    top = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - top) / (top * (f.shape[1] - 1))
    return float(np.mean(np.where(top == 0, 0.0, 1 - delta)))


def ref_irs(z, f):
    f = ref_discretize(f.astype(float))
    z = z[:, z.var(axis=0) > 0]
    max_dev = np.max(np.abs(z - z.mean(axis=0)), axis=0)
    cum = np.zeros((z.shape[1], f.shape[1]))
    for i in range(f.shape[1]):
        levels = np.unique(f[:, i])
        for level in levels:
            match = f[:, i] == level
            cum[:, i] += np.percentile(np.abs(z[match] - z[match].mean(axis=0)), 99, axis=0)
        cum[:, i] /= len(levels)
    scores = (1 - cum / max_dev[:, None]).max(axis=1)
    return float(np.average(scores, weights=max_dev))


def ref_sap(z, f, zt, ft):
    s = np.zeros((z.shape[1], f.shape[1]))
    for i in range(z.shape[1]):
        for j in range(f.shape[1]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = LinearSVC(C=0.01, class_weight="balanced").fit(z[:, i : i + 1], f[:, j])
            s[i, j] = np.mean(clf.predict(zt[:, i : i + 1]) == ft[:, j])
    top = np.sort(s, axis=0)
    return float(np.mean(top[-1] - top[-2]))


def ref_explicitness(z, f, zt, ft):
    mean, std = z.mean(axis=0), z.std(axis=0)
    z, zt = (z - mean) / std, (zt - mean) / std
    scores = []
    for j in range(f.shape[1]):
        clf = LogisticRegression().fit(z, f[:, j])
        y = MultiLabelBinarizer().fit_transform(ft[:, j][:, None])
        scores.append(roc_auc_score(y, clf.predict_proba(zt)))
    return float(np.mean(scores))


def ref_dci(z, f, zt, ft, n_estimators: int = 100):
    from scipy.stats import entropy

    r = np.zeros((z.shape[1], f.shape[1]))
    test_acc = []
    for j in range(f.shape[1]):
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=0).fit(z, f[:, j])
        r[:, j] = np.abs(model.feature_importances_)
        test_acc.append(np.mean(model.predict(zt) == ft[:, j]))
    d_i = 1 - entropy(r.T + 1e-11, base=r.shape[1])
    c_j = 1 - entropy(r + 1e-11, base=r.shape[0])
    return {
        "disentanglement": float(np.sum(d_i * r.sum(axis=1) / r.sum())),
        "completeness": float(np.sum(c_j * r.sum(axis=0) / r.sum())),
        "informativeness_test": float(np.mean(test_acc)),
    }


def ref_tc(z):
    cov = np.cov(z.T)
    return 0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1])


def ref_w2(z):
    import scipy.linalg

    cov = np.cov(z.T)
    return 2 * np.trace(cov) - 2 * np.trace(np.real(scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])))
