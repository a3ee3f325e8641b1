"""The metric registry: one entry per computation, holding its facts, requirements, randomness and call.

Like a torchmetrics metric, an entry keeps its facts as attributes beside its computation: the
``metrics.json`` keys it writes, each with its direction, range and meaning (:class:`MetricInfo`),
what it needs from a run (:data:`REQUIREMENTS`), whether it draws with the seed, and
``compute(ctx, seed)``, which returns those keys. The metrics stage (``_run.py``) iterates
:data:`ENTRIES`; the report, the dashboard and ``audit`` read the same facts by key in :data:`REGISTRY`.

To add a metric, write its function on arrays, then one entry here: ``@_metric(keys..., needs=...)``
above a ``compute(ctx, seed)`` that returns ``({key: value}, detail)``. ``tests/test_metric_registry.py``
fails when a key the stage writes has no entry, or an entry's key is neither written nor skipped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

#: What an entry may need from a run, by name. The metrics stage words the skip reason of each in one
#: place (``_run.skip_reason``); a run with fewer codes than an entry's ``min_samples`` is skipped too.
REQUIREMENTS = {
    "factors": "ground-truth factors (factor_* columns)",
    "logvar": "posterior log variances (logvar_* columns)",
    "labels": "labels of at least two classes",
    "two_dims": "at least 2 latent dimensions",
    "decoder": "a model, reloadable on this machine, that decodes",
    "inputs": "the inputs, read back from the run's data source",
}

DECODER_SAMPLE = 1000  # codes decoded for reconstruction error and consistency
N_PATHS, PATH_STEPS = 64, 10  # interpolations decoded when the run has no traversals/paths.npz


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """One ``metrics.json`` key and the facts a reader needs to interpret its value.

    ``bounds`` is the mathematical range (``math.inf`` when unbounded); ``typical`` the range
    seen on trained models; ``higher_is_better`` is None for a descriptive figure with no
    better direction. ``stochastic`` values change with the seed, if only on large runs (a seeded
    sample, split or draw; ``--repeats`` gives their spread).
    """

    name: str
    group: str
    higher_is_better: bool | None
    bounds: tuple[float, float]
    typical: tuple[float, float]
    explanation: str
    reference: str
    stochastic: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Metric:
    """A registry entry: ``compute(ctx, seed) -> ({key: value}, detail)`` and the facts of the keys it returns.

    ``ctx`` is the stage's view of the run (codes, factors, labels, seeded splits and samples, the
    model). ``needs`` names :data:`REQUIREMENTS`; ``stochastic`` says that ``compute`` draws with
    ``seed``, so ``--repeats`` calls it with seeds ``seed .. seed + repeats - 1``. ``detail`` lands
    in ``detail[keys[0]]``.
    """

    compute: Callable
    keys: tuple[MetricInfo, ...]
    needs: frozenset[str] = frozenset()
    min_samples: int = 1
    stochastic: bool = False

    def __post_init__(self):
        unknown = self.needs - set(REQUIREMENTS)
        if unknown:
            raise ValueError(f"{self.name}: unknown requirements {sorted(unknown)}; known: {sorted(REQUIREMENTS)}")

    @property
    def name(self) -> str:
        return self.keys[0].name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)


#: Every entry, in the order the stage runs them and the report lists their keys.
ENTRIES: list[Metric] = []


def _metric(*keys: tuple, needs: tuple[str, ...] = (), min_samples: int = 1, stochastic: bool = False):
    """Register the decorated ``compute`` as the entry writing ``keys`` (each the :class:`MetricInfo` fields
    before ``stochastic``)."""

    def register(compute):
        infos = tuple(MetricInfo(*key, stochastic=stochastic) for key in keys)
        ENTRIES.append(Metric(compute, infos, frozenset(needs), min_samples, stochastic))
        return compute

    return register


_DIS, _UNS, _REG, _DEC, _LAB = "disentanglement", "independence", "regularity", "decoder", "labels"
_DL = "disentanglement_lib (Locatello et al., 2019), re-implemented and tested side by side"


def _split_inputs(ctx, seed):
    """(z, factors, z_test, factors_test) of the split drawn with ``seed``; the test half is None when empty."""
    z, f = ctx.train(seed)
    zt, ft = ctx.test(seed)
    return (z, f, zt, ft) if len(zt) else (z, f, None, None)


# -- disentanglement ------------------------------------------------------------------------------


@_metric(
    (
        "beta_vae",
        _DIS,
        True,
        (0, 1),
        (0.6, 1.0),
        "Accuracy of a linear classifier naming which factor two batches of codes share (chance 1/#factors).",
        "Higgins et al., ICLR 2017; " + _DL,
    ),
    needs=("factors",),
    min_samples=10,
    stochastic=True,
)
def _beta_vae(ctx, seed):
    from latentviz.metrics._sampling import beta_vae_from_sampler

    sampler, how = ctx.sampler()
    scores = beta_vae_from_sampler(sampler, np.random.RandomState(seed))
    return {"beta_vae": scores["eval_accuracy"]}, {"train_accuracy": scores["train_accuracy"], "protocol": how}


@_metric(
    (
        "factor_vae",
        _DIS,
        True,
        (0, 1),
        (0.5, 1.0),
        "How often the least-varying latent, in a batch with one factor fixed, names that factor.",
        "Kim & Mnih, ICML 2018; " + _DL,
    ),
    needs=("factors",),
    min_samples=10,
    stochastic=True,
)
def _factor_vae(ctx, seed):
    from latentviz.metrics._sampling import factor_vae_from_sampler

    sampler, how = ctx.sampler()
    scores = factor_vae_from_sampler(sampler, np.random.RandomState(seed))
    return {"factor_vae": scores["eval_accuracy"]}, {
        "train_accuracy": scores["train_accuracy"],
        "num_active_dims": scores["num_active_dims"],
        "protocol": how,
    }


@_metric(
    (
        "mig",
        _DIS,
        True,
        (0, 1),
        (0.0, 0.5),
        "Gap in mutual information between the best and second-best latent for each factor, over its entropy.",
        "Chen et al., NeurIPS 2018; " + _DL,
    ),
    needs=("factors", "two_dims"),
    min_samples=10,
    stochastic=True,
)
def _mig(ctx, seed):
    from latentviz.metrics._binning import discrete_mutual_info, discretize, entropy
    from latentviz.metrics._mig import _mean_over_informative, _mig_per_factor

    z, f = ctx.train(seed)
    mi = discrete_mutual_info(discretize(z), f)
    factor_entropy = entropy(f)
    per_factor = _mig_per_factor(mi, factor_entropy)
    return (
        {"mig": _mean_over_informative(per_factor, whom="mig")},
        {
            "per_factor": [None if np.isnan(v) else float(v) for v in per_factor],
            "mutual_info_matrix": mi,
            "factor_entropy": factor_entropy,
        },
    )


_DCI = "Eastwood & Williams, ICLR 2018; " + _DL


@_metric(
    (
        "dci_disentanglement",
        _DIS,
        True,
        (0, 1),
        (0.1, 0.8),
        "Whether each latent matters for only one factor, from gradient-boosted tree importances.",
        _DCI,
    ),
    (
        "dci_completeness",
        _DIS,
        True,
        (0, 1),
        (0.1, 0.8),
        "Whether each factor is captured by only one latent, from the same importances.",
        _DCI,
    ),
    (
        "dci_informativeness",
        _DIS,
        True,
        (0, 1),
        (0.3, 1.0),
        "Test accuracy of the boosted trees predicting each factor from the latents, averaged.",
        _DCI,
    ),
    needs=("factors",),
    min_samples=10,
    stochastic=True,
)
def _dci(ctx, seed):
    from latentviz.metrics._dci import dci_detail

    z, f, zt, ft = _split_inputs(ctx, seed)
    d = dci_detail(z, f, z_test=zt, factors_test=ft, seed=seed)
    return (
        {
            "dci_disentanglement": d["disentanglement"],
            "dci_completeness": d["completeness"],
            "dci_informativeness": d["informativeness_test"],
        },
        {
            "importance_matrix": d["importance_matrix"],
            "per_latent": d["disentanglement_per_latent"],
            "per_factor_completeness": d["completeness_per_factor"],
            "per_factor_informativeness": d["informativeness_test_per_factor"],
            "informativeness_train": d["informativeness_train"],
        },
    )


@_metric(
    (
        "sap",
        _DIS,
        True,
        (0, 1),
        (0.0, 0.2),
        "Gap in single-latent linear classification accuracy between the two best latents per factor.",
        "Kumar et al., ICLR 2018; " + _DL,
    ),
    needs=("factors", "two_dims"),
    min_samples=10,
    stochastic=True,
)
def _sap(ctx, seed):
    from latentviz.metrics._sap import sap_matrix

    z, f, zt, ft = _split_inputs(ctx, seed)
    matrix, score, gaps = sap_matrix(z, f, z_test=zt, factors_test=ft, seed=seed)
    return {"sap": score}, {"score_matrix": matrix, "per_factor": gaps}


@_metric(
    (
        "modularity",
        _DIS,
        True,
        (0, 1),
        (0.6, 1.0),
        "Whether each latent depends on at most one factor (noise still scores about 0.6-0.7).",
        "Ridgeway & Mozer, NeurIPS 2018; " + _DL,
    ),
    needs=("factors",),
    min_samples=10,
    stochastic=True,
)
def _modularity(ctx, seed):
    from latentviz.metrics._binning import discrete_mutual_info, discretize
    from latentviz.metrics._modularity import _modularity_per_latent

    z, f = ctx.train(seed)
    per_latent = _modularity_per_latent(discrete_mutual_info(discretize(z), f))
    return {"modularity": float(per_latent.mean())}, {"per_latent": per_latent}


@_metric(
    (
        "explicitness",
        _DIS,
        True,
        (0, 1),
        (0.5, 1.0),
        "Test ROC AUC of a logistic regression predicting each factor from all latents (0.5 is chance).",
        "Ridgeway & Mozer, NeurIPS 2018; " + _DL,
    ),
    needs=("factors",),
    min_samples=10,
    stochastic=True,
)
def _explicitness(ctx, seed):
    from latentviz.metrics._modularity import _explicitness_detail

    d = _explicitness_detail(*_split_inputs(ctx, seed), seed)
    return {"explicitness": d.pop("explicitness")}, d


@_metric(
    (
        "irs",
        _DIS,
        True,
        (0, 1),
        (0.3, 0.9),
        "How little each latent moves when the factors it does not encode change.",
        "Suter et al., ICML 2019; " + _DL,
    ),
    needs=("factors",),
    min_samples=10,
    stochastic=True,
)
def _irs(ctx, seed):
    from latentviz.metrics._irs import irs

    return {"irs": irs(*ctx.train(seed))}, {}


# -- independence (on the training split) ---------------------------------------------------------


@_metric(
    (
        "total_correlation",
        _UNS,
        False,
        (0, math.inf),
        (0.0, 5.0),
        "Dependence between latents under a gaussian fit, in nats (0 for uncorrelated latents).",
        "Locatello et al., ICML 2019; " + _DL,
    ),
    min_samples=3,
    stochastic=True,
)
def _total_correlation(ctx, seed):
    from latentviz.metrics._unsupervised import total_correlation

    value = total_correlation(ctx.train(seed)[0])
    return {"total_correlation": value}, (
        {"why_inf": "the covariance is singular (duplicate or dependent latents)"} if np.isinf(value) else {}
    )


@_metric(
    (
        "gaussian_wasserstein_correlation",
        _UNS,
        False,
        (0, math.inf),
        (0.0, 5.0),
        "Squared Wasserstein distance between the codes' gaussian and the product of its marginals.",
        "Locatello et al., ICML 2019; " + _DL,
    ),
    min_samples=3,
    stochastic=True,
)
def _wasserstein(ctx, seed):
    from latentviz.metrics._unsupervised import gaussian_wasserstein_correlation

    z = ctx.train(seed)[0]
    return (
        {"gaussian_wasserstein_correlation": gaussian_wasserstein_correlation(z)},
        {"normalized": gaussian_wasserstein_correlation(z, normalize=True)},
    )


@_metric(
    (
        "mutual_info_score",
        _UNS,
        False,
        (0, math.log(20)),
        (0.0, 0.5),
        "Mean mutual information between pairs of discretised latents, in nats.",
        "Locatello et al., ICML 2019; " + _DL,
    ),
    needs=("two_dims",),
    min_samples=3,
    stochastic=True,
)
def _mi_score(ctx, seed):
    from latentviz.metrics._unsupervised import mutual_info_score

    return {"mutual_info_score": mutual_info_score(ctx.train(seed)[0])}, {}


# -- regularity -----------------------------------------------------------------------------------


@_metric(
    (
        "active_units",
        _REG,
        True,
        (0, math.inf),
        (1, 64),
        "Number of latents whose posterior mean varies over the data (variance above 0.01).",
        "Burda et al., ICLR 2016; tested against numpy variances",
    ),
    (
        "active_units_fraction",
        _REG,
        True,
        (0, 1),
        (0.2, 1.0),
        "Fraction of the latents that are active units.",
        "Burda et al., ICLR 2016",
    ),
    min_samples=3,
)
def _active_units(ctx, seed):
    from latentviz.metrics._regularity import active_units

    d = active_units(ctx.z)
    return {"active_units": d["count"], "active_units_fraction": d["fraction"]}, {"variance": d["variance"]}


@_metric(
    (
        "kl_total",
        _REG,
        None,
        (0, math.inf),
        (1.0, 100.0),
        "Mean KL divergence of the posterior from the prior, summed over latents, in nats.",
        "Kingma & Welling, ICLR 2014; tested against the closed form",
    ),
    (
        "collapsed_units",
        _REG,
        False,
        (0, math.inf),
        (0, 10),
        "Number of latents whose posterior equals the prior (KL below 0.01 nats): posterior collapse.",
        "Lucas et al., NeurIPS 2019",
    ),
    needs=("logvar",),
)
def _kl(ctx, seed):
    from latentviz.metrics._regularity import collapsed_dims, kl_per_dim

    kl = kl_per_dim(ctx.z, ctx.logvar)
    collapsed = collapsed_dims(kl)
    return (
        {"kl_total": float(kl.sum()), "collapsed_units": int(collapsed.sum())},
        {"kl_per_dim": kl, "collapsed": collapsed.tolist()},
    )


@_metric(
    (
        "prior_kl",
        _REG,
        False,
        (0, math.inf),
        (0.0, 10.0),
        "KL divergence from the gaussian fitted to the codes to the N(0, I) prior, in nats.",
        "closed form; tested against scipy",
    ),
    (
        "prior_ks_max",
        _REG,
        False,
        (0, 1),
        (0.0, 0.3),
        "Largest Kolmogorov-Smirnov distance of a latent's codes to N(0, 1).",
        "scipy.stats.kstest",
    ),
    min_samples=3,
)
def _prior(ctx, seed):
    from latentviz.metrics._regularity import prior_fit

    d = prior_fit(ctx.z)
    return {"prior_kl": d.pop("kl"), "prior_ks_max": d.pop("ks_max")}, d


_VENNA = "Venna & Kaski, 2006; tested against sklearn.manifold.trustworthiness"


@_metric(
    (
        "trustworthiness",
        _REG,
        True,
        (0, 1),
        (0.8, 1.0),
        "Whether points close in the latent space were close in the input space too.",
        _VENNA,
    ),
    (
        "continuity",
        _REG,
        True,
        (0, 1),
        (0.8, 1.0),
        "Whether points close in the input space stay close in the latent space.",
        _VENNA,
    ),
    (
        "knn_preservation",
        _REG,
        True,
        (0, 1),
        (0.05, 0.5),
        "Mean overlap of each point's 10 nearest neighbours in the input and latent spaces.",
        "tested against a naive loop",
    ),
    needs=("inputs",),
    stochastic=True,
)
def _neighbourhood(ctx, seed):
    from latentviz.metrics._neighborhood import continuity, knn_preservation, trustworthiness

    x, z = ctx.input_space(seed), ctx.z[ctx.neighbour_rows(seed)]
    k = min(10, (len(z) - 1) // 2)
    return (
        {
            "trustworthiness": trustworthiness(x, z, k, neighbors=ctx.latent_graph),
            "continuity": continuity(x, z, k),
            "knn_preservation": knn_preservation(x, z, k),
        },
        {"k": k, "n_points": len(z), "input_dims": x.shape[1]},
    )


@_metric(
    (
        "intrinsic_dimension",
        _REG,
        None,
        (0, math.inf),
        (1.0, 32.0),
        "Degrees of freedom the codes really use (TwoNN estimate); compare with the latent size.",
        "Facco et al., Sci. Rep. 2017",
    ),
    min_samples=3,
    stochastic=True,
)
def _intrinsic(ctx, seed):
    from latentviz.metrics._regularity import intrinsic_dimension

    z = ctx.z[ctx.neighbour_rows(seed)]
    return {"intrinsic_dimension": intrinsic_dimension(z, neighbors=ctx.latent_graph)}, {"n_points": len(z)}


@_metric(
    (
        "effective_rank",
        _REG,
        None,
        (0, math.inf),
        (1.0, 64.0),
        "Number of directions the codes spread over (exp of the entropy of the singular values).",
        "Roy & Vetterli, EUSIPCO 2007",
    ),
    min_samples=3,
)
def _effective_rank(ctx, seed):
    from latentviz.metrics._regularity import effective_rank

    return {"effective_rank": effective_rank(ctx.z)}, {}


@_metric(
    (
        "mean_abs_correlation",
        _REG,
        False,
        (0, 1),
        (0.0, 0.3),
        "Mean absolute Pearson correlation between pairs of latents.",
        "numpy.corrcoef",
    ),
    needs=("two_dims",),
    min_samples=3,
)
def _correlation(ctx, seed):
    from latentviz.metrics._regularity import latent_correlation

    corr = latent_correlation(ctx.z)
    off = ~np.eye(len(corr), dtype=bool)
    return {"mean_abs_correlation": float(np.abs(corr[off]).mean())}, {"matrix": corr}


# -- decoder --------------------------------------------------------------------------------------


@_metric(
    (
        "reconstruction_error",
        _DEC,
        False,
        (0, math.inf),
        (0.0, 0.05),
        "Mean squared error between inputs and their reconstructions, per value.",
        "closed form",
    ),
    needs=("decoder", "inputs"),
    stochastic=True,
)
def _reconstruction(ctx, seed):
    from latentviz.errors import InputError
    from latentviz.metrics._decoder import reconstruction_error

    _, decode = ctx.model_calls()
    rows = ctx.neighbour_rows(seed)[:DECODER_SAMPLE]
    x = ctx.raw_inputs(rows)
    x_hat = decode(ctx.z[rows])
    if x_hat.size != x.size:
        raise InputError(f"the decoder's outputs {x_hat.shape[1:]} do not match the inputs {x.shape[1:]}")
    d = reconstruction_error(x.reshape(len(x), -1), x_hat.reshape(len(x), -1))
    per_sample = d.pop("per_sample")
    return {"reconstruction_error": d.pop("mean")}, {**d, "n_samples": len(per_sample)}


@_metric(
    (
        "consistency",
        _DEC,
        False,
        (0, math.inf),
        (0.0, 0.5),
        "Relative distance between encode(decode(z)) and z for data codes.",
        "closed form",
    ),
    (
        "consistency_prior",
        _DEC,
        False,
        (0, math.inf),
        (0.0, 1.0),
        "Relative distance between encode(decode(z)) and z for samples of the prior.",
        "closed form",
    ),
    needs=("decoder",),
    stochastic=True,
)
def _consistency(ctx, seed):
    from latentviz.metrics._decoder import consistency

    encode, decode = ctx.model_calls()
    rs = np.random.RandomState(seed)
    rows = rs.choice(len(ctx.z), min(DECODER_SAMPLE, len(ctx.z)), replace=False)
    data = consistency(ctx.z[rows], encode, decode)
    prior = consistency(rs.randn(min(DECODER_SAMPLE, len(ctx.z)), ctx.z.shape[1]), encode, decode)
    return {"consistency": data, "consistency_prior": prior}, {"n_samples": len(rows)}


@_metric(
    (
        "interpolation_smoothness",
        _DEC,
        False,
        (1, math.inf),
        (1.0, 3.0),
        "Largest over mean step of decoded straight-line interpolations (1 = perfectly even change).",
        "closed form",
    ),
    (
        "path_length",
        _DEC,
        False,
        (0, math.inf),
        (0.0, 10.0),
        "Perceptual-path-length analogue of the decoded interpolations, in mean squared output change.",
        "Karras et al., CVPR 2019 (MSE in place of LPIPS)",
    ),
    needs=("decoder",),
    stochastic=True,
)
def _interpolation(ctx, seed):
    """Smoothness of the traversal stage's decoded paths (``traversals/paths.npz``), else of new ones."""
    from latentviz.metrics._decoder import _smoothness_from_steps, interpolation_smoothness
    from latentviz.run import TRAVERSAL_PATHS, TRAVERSALS

    stored = f"{TRAVERSALS}/{TRAVERSAL_PATHS}"
    shared = ctx.run.traversal_paths()
    _, decode = ctx.model_calls()
    if shared is not None and "lerp_step_sizes" in shared and shared["lerp_step_sizes"].shape[1] >= 2:
        outputs = shared.get("lerp_outputs")
        n_values = int(np.prod(outputs.shape[2:])) if outputs is not None else int(decode(ctx.z[:1]).size)
        d = _smoothness_from_steps(shared["lerp_step_sizes"], n_values)
        source = f"{stored} (lerp)"
        n_paths, steps = shared["lerp_step_sizes"].shape[0], shared["lerp_step_sizes"].shape[1] + 1
    else:
        rs = np.random.RandomState(seed)
        pairs = rs.randint(len(ctx.z), size=(N_PATHS, 2))
        t = np.linspace(0.0, 1.0, PATH_STEPS)[None, :, None]
        path_codes = ctx.z[pairs[:, 0]][:, None] * (1 - t) + ctx.z[pairs[:, 1]][:, None] * t
        decoded = decode(path_codes.reshape(-1, ctx.z.shape[1]))
        d = interpolation_smoothness(decoded.reshape(N_PATHS, PATH_STEPS, -1))
        source, n_paths, steps = f"decoded here (no {stored})", N_PATHS, PATH_STEPS
    return (
        {"interpolation_smoothness": d["smoothness"], "path_length": d["path_length"]},
        {"n_paths": n_paths, "steps": steps, "paths": source, "per_path": d["per_path"]},
    )


# -- labels ---------------------------------------------------------------------------------------

_SKLEARN_CV = "sklearn cross_val_score"


@_metric(
    (
        "linear_probe_accuracy",
        _LAB,
        True,
        (0, 1),
        (0.5, 1.0),
        "Cross-validated accuracy of a logistic regression predicting the label from the latents.",
        _SKLEARN_CV,
    ),
    needs=("labels",),
    stochastic=True,
)
def _linear_probe(ctx, seed):
    from latentviz.metrics._labels import linear_probe_accuracy

    return {"linear_probe_accuracy": linear_probe_accuracy(ctx.z, ctx.labels.astype(str), seed=seed)}, {}


@_metric(
    (
        "knn_accuracy",
        _LAB,
        True,
        (0, 1),
        (0.5, 1.0),
        "Cross-validated accuracy of a 5-nearest-neighbour classifier predicting the label.",
        _SKLEARN_CV,
    ),
    needs=("labels",),
    stochastic=True,
)
def _knn_accuracy(ctx, seed):
    from latentviz.metrics._labels import knn_accuracy

    return {"knn_accuracy": knn_accuracy(ctx.z, ctx.labels.astype(str), seed=seed)}, {}


@_metric(
    (
        "silhouette",
        _LAB,
        True,
        (-1, 1),
        (-0.1, 0.5),
        "How much closer points are to their own label's points than to the nearest other label's.",
        "sklearn.metrics.silhouette_score",
    ),
    needs=("labels",),
    stochastic=True,
)
def _silhouette(ctx, seed):
    from latentviz.metrics._labels import silhouette

    return {"silhouette": silhouette(ctx.z, ctx.labels.astype(str), seed=seed)}, {}


#: Every key ``metrics.json`` can hold, by its flat name, with its facts.
REGISTRY: dict[str, MetricInfo] = {info.name: info for entry in ENTRIES for info in entry.keys}
