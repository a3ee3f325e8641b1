"""Time the disentanglement suite, stage by stage: latentviz against the reference procedure.

The reference procedure is disentanglement_lib's (shared/METRICS.md; written once, in
tests/reference_metrics.py, which the tests check latentviz against) re-run on the same arrays
with the same scikit-learn estimators, sequentially, as the reference runs them: one
``GradientBoostingClassifier()`` per factor for DCI, one ``LinearSVC`` per (latent, factor)
for SAP, ``LogisticRegression`` per factor for explicitness, plug-in MI for MIG/modularity.
The sampling scores (BetaVAE, FactorVAE) run the same procedure in both columns.

Usage: ``python benchmarks/metrics.py [--n-train 10000] [--n-test 5000]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared reference procedure


def make_code(n: int, sizes, seed: int = 0):
    """10 latents: 5 noisy factors, mixed a little, plus 5 noise dimensions."""
    rs = np.random.RandomState(seed)
    factors = np.stack([rs.randint(s, size=n) for s in sizes], axis=1)
    signal = factors / np.array(sizes) + 0.05 * rs.randn(n, len(sizes))
    mix = np.eye(5) + 0.2 * rs.randn(5, 5)
    return np.hstack([signal @ mix, rs.randn(n, 5)]), factors


def reference_suite(z, f, zt, ft):
    """The reference procedure of tests/reference_metrics.py (the one the tests check us against)."""
    import reference_metrics as ref

    return {
        "mig": lambda: ref.ref_mig(z, f),
        "modularity": lambda: ref.ref_modularity(z, f),
        "irs": lambda: ref.ref_irs(z, f),
        "sap": lambda: ref.ref_sap(z, f, zt, ft),
        "explicitness": lambda: ref.ref_explicitness(z, f, zt, ft),
        "dci": lambda: ref.ref_dci(z, f, zt, ft),
    }


def our_suite(z, f, zt, ft):
    from latentviz import metrics

    def dci():
        d = metrics.dci(z, f, z_test=zt, factors_test=ft)
        return {
            "disentanglement": d["disentanglement"],
            "completeness": d["completeness"],
            "informativeness_test": d["informativeness_test"],
        }

    return {
        "mig": lambda: metrics.mig(z, f),
        "modularity": lambda: metrics.modularity(z, f),
        "irs": lambda: metrics.irs(z, f),
        "sap": lambda: metrics.sap(z, f, z_test=zt, factors_test=ft),
        "explicitness": lambda: metrics.explicitness(z, f, z_test=zt, factors_test=ft),
        "dci": dci,
    }


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
    zt, ft, z, f = z[args.n_train :], f[args.n_train :], z[: args.n_train], f[: args.n_train]
    from latentviz.metrics import dci

    dci(z[:50], f[:50], n_estimators=1)  # compile (or load the cached) numba kernels outside the timings
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
