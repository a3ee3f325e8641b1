"""Time the disentanglement suite, stage by stage: latentviz against the reference procedure.

The reference procedure is disentanglement_lib's (shared/METRICS.md) re-run on the same arrays
with the same scikit-learn estimators, sequentially, as the reference runs them: one
``GradientBoostingClassifier()`` per factor for DCI, one ``LinearSVC`` per (latent, factor)
for SAP, ``LogisticRegression`` per factor for explicitness, plug-in MI for MIG/modularity.
The sampling scores (BetaVAE, FactorVAE) run the same procedure in both columns.

Usage: ``python benchmarks/metrics.py [--n-train 10000] [--n-test 5000]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def make_code(n: int, sizes, seed: int = 0):
    """10 latents: 5 noisy factors, mixed a little, plus 5 noise dimensions."""
    rs = np.random.RandomState(seed)
    factors = np.stack([rs.randint(s, size=n) for s in sizes], axis=1)
    signal = factors / np.array(sizes) + 0.05 * rs.randn(n, len(sizes))
    mix = np.eye(5) + 0.2 * rs.randn(5, 5)
    return np.hstack([signal @ mix, rs.randn(n, 5)]), factors


def reference_suite(z, f, zt, ft):
    from scipy.stats import entropy
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import mutual_info_score, roc_auc_score
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    def binned(x):
        return np.stack([np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in x.T], axis=1)

    def mi_matrix():
        b = binned(z)
        return np.array([[mutual_info_score(c, v) for v in f.T] for c in b.T])

    def mig():
        m = mi_matrix()
        h = np.array([mutual_info_score(v, v) for v in f.T])
        top = np.sort(m, axis=0)[::-1]
        return float(np.mean((top[0] - top[1]) / h))

    def modularity():
        sq = mi_matrix() ** 2
        top = sq.max(axis=1)
        return float(np.mean(1 - (sq.sum(axis=1) - top) / (top * (f.shape[1] - 1))))

    def irs():
        fb = binned(f.astype(float))
        max_dev = np.abs(z - z.mean(axis=0)).max(axis=0)
        cum = np.zeros((z.shape[1], f.shape[1]))
        for i in range(f.shape[1]):
            levels = np.unique(fb[:, i])
            for level in levels:
                g = z[fb[:, i] == level]
                cum[:, i] += np.percentile(np.abs(g - g.mean(axis=0)), 99, axis=0)
            cum[:, i] /= len(levels)
        return float(np.average((1 - cum / max_dev[:, None]).max(axis=1), weights=max_dev))

    def sap():
        s = np.zeros((z.shape[1], f.shape[1]))
        for i in range(z.shape[1]):
            for j in range(f.shape[1]):
                clf = LinearSVC(C=0.01, class_weight="balanced").fit(z[:, i:i + 1], f[:, j])
                s[i, j] = np.mean(clf.predict(zt[:, i:i + 1]) == ft[:, j])
        top = np.sort(s, axis=0)
        return float(np.mean(top[-1] - top[-2]))

    def explicitness():
        mean, std = z.mean(axis=0), z.std(axis=0)
        a, b = (z - mean) / std, (zt - mean) / std
        scores = []
        for j in range(f.shape[1]):
            clf = LogisticRegression().fit(a, f[:, j])
            y = MultiLabelBinarizer().fit_transform(ft[:, j][:, None])
            scores.append(roc_auc_score(y, clf.predict_proba(b)))
        return float(np.mean(scores))

    def dci():
        np.random.seed(0)
        r = np.zeros((z.shape[1], f.shape[1]))
        acc = []
        for j in range(f.shape[1]):
            model = GradientBoostingClassifier().fit(z, f[:, j])
            r[:, j] = np.abs(model.feature_importances_)
            acc.append(np.mean(model.predict(zt) == ft[:, j]))
        d = 1 - entropy(r.T + 1e-11, base=r.shape[1])
        c = 1 - entropy(r + 1e-11, base=r.shape[0])
        return {"disentanglement": float(np.sum(d * r.sum(axis=1) / r.sum())),
                "completeness": float(np.sum(c * r.sum(axis=0) / r.sum())), "informativeness": float(np.mean(acc))}

    return {"mig": mig, "modularity": modularity, "irs": irs, "sap": sap, "explicitness": explicitness, "dci": dci}


def our_suite(z, f, zt, ft):
    from latentviz import metrics

    def dci():
        d = metrics.dci(z, f, z_test=zt, factors_test=ft)
        return {"disentanglement": d["disentanglement"], "completeness": d["completeness"],
                "informativeness": d["informativeness_test"]}

    return {"mig": lambda: metrics.mig(z, f), "modularity": lambda: metrics.modularity(z, f),
            "irs": lambda: metrics.irs(z, f), "sap": lambda: metrics.sap(z, f, z_test=zt, factors_test=ft),
            "explicitness": lambda: metrics.explicitness(z, f, z_test=zt, factors_test=ft), "dci": dci}


def sampling_suite(z, f):
    from latentviz import metrics

    return {"beta_vae": lambda: metrics.beta_vae_score(z, f), "factor_vae": lambda: metrics.factor_vae_score(z, f)}


def timed(fn):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = fn()
    return time.perf_counter() - start, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--sizes", default="2,3,4,5,6", help="Levels of the 5 factors.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    z, f = make_code(args.n_train + args.n_test, sizes)
    zt, ft, z, f = z[args.n_train:], f[args.n_train:], z[:args.n_train], f[:args.n_train]
    from latentviz.metrics._gbt import _kernels

    _kernels().fit  # compile (or load the cached) numba kernels outside the timings
    from latentviz.metrics import dci

    dci(z[:50], f[:50], n_estimators=1)
    ours, ref = our_suite(z, f, zt, ft), reference_suite(z, f, zt, ft)
    total_ours = total_ref = 0.0
    print(f"{'stage':<14}{'ours s':>9}{'ref s':>9}{'speed-up':>9}  values (ours | reference)")
    for stage in ours:
        t_ours, v_ours = timed(ours[stage])
        t_ref, v_ref = timed(ref[stage])
        total_ours, total_ref = total_ours + t_ours, total_ref + t_ref
        print(f"{stage:<14}{t_ours:9.2f}{t_ref:9.2f}{t_ref / t_ours:8.1f}x  {_fmt(v_ours)} | {_fmt(v_ref)}", flush=True)
    for stage, fn in sampling_suite(z, f).items():
        t, v = timed(fn)
        total_ours, total_ref = total_ours + t, total_ref + t
        print(f"{stage:<14}{t:9.2f}{t:9.2f}{'(same)':>9}  {_fmt(v)}", flush=True)
    print(f"{'total':<14}{total_ours:9.2f}{total_ref:9.2f}{total_ref / total_ours:8.1f}x")


def _fmt(value):
    if isinstance(value, dict):
        return ", ".join(f"{k[:4]} {v:.4f}" for k, v in value.items())
    return f"{value:.4f}"


if __name__ == "__main__":
    main()
