"""Drift between two sets of latent codes from one model: has the data moved?

Pure functions on arrays (``reference`` and ``current`` of shape (n, d), finite rows), each a
score with what it means and a threshold, as Evidently's embedding drift defines them:

* :func:`domain_classifier_auc` -- cross-validated ROC AUC of a logistic regression telling the
  two sets apart (0.5: indistinguishable; drift above :data:`AUC_THRESHOLD`, Evidently's 0.55).
* :func:`mmd_test` -- maximum mean discrepancy with an RBF kernel at the median pairwise distance,
  with a permutation p-value (drift below :data:`P_THRESHOLD`).
* :func:`ks_dimensions` -- two-sample Kolmogorov-Smirnov test per dimension at the Bonferroni
  level ``0.05 / d``; the share of rejecting dimensions, and their names.
* :func:`mean_shift` -- distance between the means over the reference's spread, ``sqrt(tr Σ_ref)``.
* :func:`cluster_shift` -- the share of each reference cluster in both sets (current points join
  the cluster of their nearest reference points), and the share of current points far from every
  reference point.

Every score runs on a bounded, seeded sample of each side (recorded), so the cost is bounded at
any n. :func:`compute_drift` gathers them; :func:`drift_runs` checks two runs and writes ``drift.json``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from latentviz.errors import InputError

AUC_THRESHOLD = 0.55
P_THRESHOLD = 0.05
KS_ALPHA = 0.05
KS_SHARE_THRESHOLD = 0.0
MEAN_SHIFT_THRESHOLD = (
    0.2  # Evidently's threshold for its distance between the means; sampling alone gives about sqrt(2 / n)
)
#: Points per side, at most, for each score.
CLASSIFIER_SAMPLE = 10_000
MMD_SAMPLE = 2_000
KS_SAMPLE = 100_000
CLUSTER_SAMPLE = 20_000
MAP_SAMPLE = 1_000
PERMUTATIONS = 200
FOLDS = 5
#: A current point is "outside" the reference when its nearest reference point is farther than
#: this quantile of the reference points' own nearest-neighbour distances.
OUTSIDE_QUANTILE = 0.99


def _sample(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= size else x[np.sort(rng.choice(len(x), size, replace=False))]


def domain_classifier_auc(
    reference, current, *, sample: int = CLASSIFIER_SAMPLE, folds: int = FOLDS, random_state: int = 0
) -> float:
    """Cross-validated ROC AUC of a logistic regression separating ``current`` from ``reference``.

    Each side is sampled to the same size (at most ``sample``), standardised, and every point is
    scored by a model that did not see it (stratified ``folds``-fold). 0.5 means the sets cannot be
    told apart; a linear model sees shifts of the means and of linear combinations of dimensions.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(random_state)
    size = min(len(reference), len(current), sample)
    x = np.vstack([_sample(reference, size, rng), _sample(current, size, rng)])
    y = np.r_[np.zeros(size), np.ones(size)]
    folds = min(folds, size)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    scores = cross_val_predict(
        model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=random_state), method="predict_proba"
    )[:, 1]
    return float(roc_auc_score(y, scores))


def rbf_kernel_at_median(x: np.ndarray) -> tuple[np.ndarray, float]:
    """The RBF kernel matrix ``exp(-|a-b|^2 / (2 s^2))`` of ``x`` at ``s`` = the median pairwise distance."""
    from scipy.spatial.distance import pdist, squareform

    distances = pdist(x)
    bandwidth = float(np.median(distances)) if len(distances) else 1.0
    bandwidth = bandwidth if bandwidth > 0 else 1.0
    return np.exp(-(squareform(distances) ** 2) / (2 * bandwidth**2)), bandwidth


def mmd_squared(kernel: np.ndarray, is_current: np.ndarray) -> np.ndarray:
    """Unbiased MMD² of the two groups of a kernel matrix, for one or many (columns) group assignments."""
    a = np.asarray(is_current, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    b = 1.0 - a
    diag = np.diag(kernel)[:, None]
    ka, kb = kernel @ a, kernel @ b
    m, n = a.sum(axis=0), b.sum(axis=0)
    xx = ((a * ka).sum(axis=0) - (a * diag).sum(axis=0)) / (m * (m - 1))
    yy = ((b * kb).sum(axis=0) - (b * diag).sum(axis=0)) / (n * (n - 1))
    xy = (a * kb).sum(axis=0) / (m * n)
    return xx + yy - 2 * xy


def mmd_test(
    reference, current, *, sample: int = MMD_SAMPLE, permutations: int = PERMUTATIONS, random_state: int = 0
) -> dict:
    """MMD² (unbiased, RBF kernel at the median distance) and its permutation p-value.

    The p-value is ``(1 + #{permuted MMD² >= observed}) / (1 + permutations)``: the share of random
    splits of the pooled sample that look at least as different as the real one.
    """
    rng = np.random.default_rng(random_state)
    x, y = _sample(reference, sample, rng), _sample(current, sample, rng)
    if len(x) < 2 or len(y) < 2:
        raise InputError(f"drift: the MMD needs at least 2 points per run; got {len(x)} and {len(y)}")
    kernel, bandwidth = rbf_kernel_at_median(np.vstack([x, y]))
    labels = np.r_[np.zeros(len(x)), np.ones(len(y))]
    observed = float(mmd_squared(kernel, labels)[0])
    shuffled = np.stack([rng.permutation(labels) for _ in range(permutations)], axis=1)
    null = mmd_squared(kernel, shuffled)
    p_value = float((1 + np.sum(null >= observed)) / (1 + permutations))
    return {
        "mmd2": observed,
        "p_value": p_value,
        "bandwidth": bandwidth,
        "permutations": int(permutations),
        "sample": [len(x), len(y)],
    }


def ks_dimensions(
    reference, current, *, alpha: float = KS_ALPHA, sample: int = KS_SAMPLE, random_state: int = 0
) -> dict:
    """Two-sample KS test of every dimension; a dimension drifts when its p-value is below ``alpha / d``."""
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(random_state)
    x, y = _sample(reference, sample, rng), _sample(current, sample, rng)
    d = x.shape[1]
    tests = [ks_2samp(x[:, j], y[:, j]) for j in range(d)]
    statistics = [float(t.statistic) for t in tests]
    p_values = [float(t.pvalue) for t in tests]
    level = alpha / d
    flagged = [j for j in range(d) if p_values[j] < level]
    return {
        "statistic": statistics,
        "p_value": p_values,
        "level": level,
        "flagged": flagged,
        "share": len(flagged) / d,
        "sample": [len(x), len(y)],
    }


def mean_shift(reference, current) -> dict:
    """Distance between the two means over the reference's spread ``sqrt(tr Σ_ref)``, and per-dimension shifts in sd."""
    mu_r, mu_c = reference.mean(axis=0, dtype=np.float64), current.mean(axis=0, dtype=np.float64)
    sd = reference.std(axis=0, ddof=1, dtype=np.float64) if len(reference) > 1 else np.zeros(reference.shape[1])
    spread = float(np.sqrt(np.sum(sd**2)))
    distance = float(np.linalg.norm(mu_c - mu_r))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_dim = np.where(sd > 0, (mu_c - mu_r) / sd, 0.0)
    return {
        "relative": distance / spread if spread > 0 else (0.0 if distance == 0 else float("inf")),
        "distance": distance,
        "reference_spread": spread,
        "per_dim_sd": [float(v) for v in per_dim],
    }


def cluster_shift(
    reference, reference_clusters, current, *, sample: int = CLUSTER_SAMPLE, random_state: int = 0
) -> dict:
    """Each reference cluster's share in both sets, and the share of current points outside the reference.

    Current points join the majority cluster of their nearest reference points
    (:func:`latentviz.clusters.assign_by_neighbours`); outliers (-1) are a group of their own.
    """
    from latentviz.clusters import assign_by_neighbours
    from latentviz.neighbors import knn, search_index

    rng = np.random.default_rng(random_state)
    keep = np.sort(rng.choice(len(reference), min(sample, len(reference)), replace=False))
    ref, ref_clusters = reference[keep], np.asarray(reference_clusters)[keep]
    cur = _sample(current, sample, rng)
    assigned, _ = assign_by_neighbours(ref, ref_clusters, cur, random_state=random_state)
    own = knn(ref, 1, random_state=random_state).distances[:, 0]
    nearest = search_index(ref, random_state=random_state, n_queries=len(cur)).query(cur, 1).distances[:, 0]
    limit = float(np.quantile(own, OUTSIDE_QUANTILE))
    groups = sorted(set(ref_clusters.tolist()) | set(assigned.tolist()))
    rows = []
    for c in groups:
        before, after = float(np.mean(ref_clusters == c)), float(np.mean(assigned == c))
        rows.append({"cluster": int(c), "reference_share": before, "current_share": after, "change": after - before})
    return {
        "clusters": rows,
        "outside_share": float(np.mean(nearest > limit)),
        "outside_distance": limit,
        "sample": [len(ref), len(cur)],
    }


def aligned_map(reference, current, *, sample: int = MAP_SAMPLE, random_state: int = 0) -> dict:
    """Both sets in the reference's 2-D PCA frame (fitted on the reference, applied to both), seeded samples;
    a 1-D code is its own first axis, the second axis 0."""
    from latentviz.projection import PCA

    rng = np.random.default_rng(random_state)
    x, y = _sample(reference, sample, rng), _sample(current, sample, rng)
    if reference.shape[1] == 1:
        return {
            "method": "the latent itself",
            "reference": np.c_[x, np.zeros(len(x))].tolist(),
            "current": np.c_[y, np.zeros(len(y))].tolist(),
        }
    pca = PCA(2, device="cpu").fit(reference)
    return {
        "method": "pca of the reference",
        "reference": pca.transform(x).tolist(),
        "current": pca.transform(y).tolist(),
    }


def compute_drift(
    reference, current, *, reference_clusters=None, random_state: int = 0, permutations: int = PERMUTATIONS
) -> dict:
    """Every drift score of ``current`` against ``reference`` (finite rows), with thresholds and verdicts."""
    reference = _check(reference, "reference")
    current = _check(current, "current")
    if reference.shape[1] != current.shape[1]:
        raise InputError(
            f"drift: the runs' latents differ in size ({reference.shape[1]} vs {current.shape[1]} "
            "dimensions); drift compares two data sets through one model"
        )
    started = time.perf_counter()
    auc = domain_classifier_auc(reference, current, random_state=random_state)
    mmd = mmd_test(reference, current, permutations=permutations, random_state=random_state)
    ks = ks_dimensions(reference, current, random_state=random_state)
    shift = mean_shift(reference, current)
    out: dict[str, Any] = {
        "scores": {
            "drift_domain_auc": auc,
            "drift_mmd": mmd["mmd2"],
            "drift_mmd_p_value": mmd["p_value"],
            "drift_ks_share": ks["share"],
            "drift_mean_shift": shift["relative"],
        },
        "domain_classifier": {
            "model": "standardised logistic regression",
            "folds": FOLDS,
            "sample_per_side": min(len(reference), len(current), CLASSIFIER_SAMPLE),
        },
        "mmd": mmd,
        "ks": ks,
        "mean_shift": shift,
        "n": [len(reference), len(current)],
        "seed": int(random_state),
        "map": aligned_map(reference, current, random_state=random_state),
    }
    if reference_clusters is not None:
        out["clusters"] = cluster_shift(reference, reference_clusters, current, random_state=random_state)
        out["scores"]["drift_outside_share"] = out["clusters"]["outside_share"]
    out["drifted"] = {name: drifted(name, value) for name, value in out["scores"].items() if name in THRESHOLDS}
    out["seconds"] = round(time.perf_counter() - started, 4)
    return out


def _check(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    x = x if x.dtype.kind == "f" else x.astype(np.float64)  # a run's float32 codes are not copied to float64
    if x.ndim != 2:
        raise InputError(f"drift: {name} must have shape (n_samples, n_latents); got {x.shape}")
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) < 2:
        raise InputError(f"drift: {name} has {len(x)} finite rows; give at least 2")
    return x


#: metric -> (condition, threshold): the value is fine while it meets the condition.
THRESHOLDS = {
    "drift_domain_auc": ("lte", AUC_THRESHOLD),
    "drift_mmd_p_value": ("gte", P_THRESHOLD),
    "drift_ks_share": ("lte", KS_SHARE_THRESHOLD),
    "drift_mean_shift": ("lte", MEAN_SHIFT_THRESHOLD),
}


def drifted(name: str, value: float) -> bool:
    """Whether ``value`` of the drift score ``name`` breaks its threshold in :data:`THRESHOLDS`."""
    condition, threshold = THRESHOLDS[name]
    return not (value <= threshold if condition == "lte" else value >= threshold)


def metric_infos() -> dict:
    """The drift scores as metric facts (direction, range, meaning), for the audit and the report."""
    from latentviz.metrics import MetricInfo

    group = "drift"
    entries = [
        MetricInfo(
            "drift_domain_auc",
            group,
            False,
            (0, 1),
            (0.5, 0.55),
            "Cross-validated ROC AUC of a classifier telling this run's codes from the reference's (0.5: the same).",
            "Evidently embedding drift (domain classifier, threshold 0.55); sklearn roc_auc_score",
            stochastic=True,
        ),
        MetricInfo(
            "drift_mmd",
            group,
            False,
            (-1, 2),
            (0.0, 0.01),
            "Maximum mean discrepancy (squared, unbiased, RBF kernel at the median distance) between the two sets.",
            "Gretton et al., JMLR 2012",
            stochastic=True,
        ),
        MetricInfo(
            "drift_mmd_p_value",
            group,
            True,
            (0, 1),
            (0.05, 1.0),
            "Permutation p-value of the MMD: the share of random splits that differ as much (low: drift).",
            "Gretton et al., JMLR 2012; tested against a direct computation",
            stochastic=True,
        ),
        MetricInfo(
            "drift_ks_share",
            group,
            False,
            (0, 1),
            (0.0, 0.0),
            "Share of latent dimensions whose two-sample KS test rejects at the Bonferroni level 0.05 / d.",
            "scipy.stats.ks_2samp",
        ),
        MetricInfo(
            "drift_mean_shift",
            group,
            False,
            (0, math.inf),
            (0.0, 0.2),
            "Distance between the two means over the reference's spread sqrt(trace of its covariance).",
            "closed form",
        ),
        MetricInfo(
            "drift_outside_share",
            group,
            False,
            (0, 1),
            (0.0, 0.02),
            "Share of this run's codes farther from every reference code than 99% of reference codes are from theirs.",
            "closed form",
            stochastic=True,
        ),
    ]
    return {entry.name: entry for entry in entries}


# -- two runs ------------------------------------------------------------------------------------

#: What decides a model's codes in a manifest's ``model``: content hashes and options, not paths (a copied
#: checkpoint is the same model), plus the name of the callable that builds it.
MODEL_IDENTITY = (
    "sha256",
    "factory_sha256",
    "kwargs",
    "layer",
    "pool",
    "pool_axis",
    "max_length",
    "weights",
    "scale_latents",
)


def model_identity(spec: dict) -> dict:
    """The fields of a model spec that two runs of one model share (:data:`MODEL_IDENTITY` and the callable's name)."""
    from latentviz.trust import model_code

    code = model_code(spec)
    return {
        **{field: spec.get(field) for field in MODEL_IDENTITY},
        "callable": code.rpartition(":")[2] if code else None,
    }


def model_mismatch(reference, current) -> str | None:
    """Why two runs may not come from one model (checkpoint or model-code sha256 and options, latent size), or None."""
    if reference.latent_dim != current.latent_dim:
        return f"their latents differ in size ({reference.latent_dim} vs {current.latent_dim} dimensions)"
    specs = [run.manifest.get("model") or {} for run in (reference, current)]
    if not all(spec.get("sha256") or spec.get("factory_sha256") for spec in specs):
        return (
            "a run records no checkpoint or model-code sha256 (imported latents, or a model from an installed "
            "module), so one model cannot be confirmed"
        )
    ours, theirs = (model_identity(spec) for spec in specs)
    differ = [field for field in ours if ours[field] != theirs[field]]
    if "sha256" in differ and ours["sha256"] and theirs["sha256"]:
        return f"their checkpoints differ (sha256 {ours['sha256'][:12]}… vs {theirs['sha256'][:12]}…)"
    if differ:
        return f"their models differ in {', '.join(differ)}"
    return None


def reference_fingerprint(reference) -> dict:
    """What ``drift.json`` records of its reference, so a stale one is recognised: the folder, and the size and
    modification time of its latents and clusters (rewritten whole, atomically, whenever they change; a later
    report or projection of the reference leaves the drift current)."""
    from latentviz.run import CLUSTERS, LATENTS

    def stamp(name: str):
        path = reference.file(name)
        return [path.stat().st_size, path.stat().st_mtime_ns] if path.exists() else None

    return {"path": str(reference.path.resolve()), "latents": stamp(LATENTS), "clusters": stamp(CLUSTERS)}


def is_current(drift: dict, reference) -> bool:
    """Whether a run's ``drift.json`` was computed against ``reference`` as it is now."""
    return bool(drift) and drift.get("reference") == reference_fingerprint(reference)


def drift_runs(
    reference,
    current,
    *,
    allow_different_models: bool = False,
    seed: int = 0,
    permutations: int = PERMUTATIONS,
    quiet: bool = True,
) -> dict:
    """Compute the drift of run ``current`` from run ``reference`` and write it to ``current``'s ``drift.json``."""
    from latentviz.progress import say
    from latentviz.run import DRIFT, Run, write_json

    reference = reference if isinstance(reference, Run) else Run(reference)
    current = current if isinstance(current, Run) else Run(current)
    reference.require_complete()
    current.require_complete()
    problem = model_mismatch(reference, current)
    if problem and not allow_different_models:
        raise InputError(
            f"drift: {reference.path} and {current.path} may not be encoded by one model: {problem}; "
            "pass --allow-different-models to compare them anyway"
        )
    clusters = reference.clusters
    ref_clusters = None
    if clusters is not None and len(clusters) == reference.n:
        ref_clusters = clusters["cluster"].to_numpy()[np.isfinite(reference.z).all(axis=1)]
    started = time.perf_counter()
    out = compute_drift(
        reference.z, current.z, reference_clusters=ref_clusters, random_state=seed, permutations=permutations
    )
    out["reference"] = reference_fingerprint(reference)
    out["same_model"] = problem is None
    if problem:
        out["model_note"] = problem
    with current.stage("drift") as stage:
        write_json(stage.path(DRIFT), out)
        stage.record_stage(
            time.perf_counter() - started, reference=str(reference.path), seed=int(seed), permutations=int(permutations)
        )
    flagged = [name for name, bad in out["drifted"].items() if bad]
    say(f"drift: {', '.join(flagged) if flagged else 'no score'} past its threshold", quiet=quiet)
    return out
