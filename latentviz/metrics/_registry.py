"""Facts about every metric ``metrics.json`` can hold: direction, range, requirements, reference.

The report draws arrows and ranges from these entries, ``audit`` reads the direction, and
``latentviz metrics`` uses the ``needs_*`` flags to say why a metric was skipped.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class MetricInfo:
    """One metric: its ``metrics.json`` name and the facts a reader needs to interpret a value.

    ``bounds`` is the mathematical range (``math.inf`` when unbounded); ``typical`` the range
    seen on trained models; ``higher_is_better`` is None for a descriptive figure with no
    better direction. ``stochastic`` metrics change with the seed, if only on large runs (a seeded
    sample, split or draw; ``--repeats`` gives their spread).
    """

    name: str
    group: str
    higher_is_better: bool | None
    bounds: tuple[float, float]
    typical: tuple[float, float]
    explanation: str
    reference: str
    function: str
    needs_factors: bool = False
    needs_logvar: bool = False
    needs_decoder: bool = False
    needs_inputs: bool = False
    needs_labels: bool = False
    stochastic: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_DIS, _UNS, _REG, _DEC, _LAB = "disentanglement", "independence", "regularity", "decoder", "labels"
_DL = "disentanglement_lib (Locatello et al., 2019), re-implemented and tested side by side"

_ENTRIES = [
    MetricInfo("beta_vae", _DIS, True, (0, 1), (0.6, 1.0),
               "Accuracy of a linear classifier naming which factor two batches of codes share (chance 1/#factors).",
               "Higgins et al., ICLR 2017; " + _DL, "beta_vae_score", needs_factors=True, stochastic=True),
    MetricInfo("factor_vae", _DIS, True, (0, 1), (0.5, 1.0),
               "How often the least-varying latent, in a batch with one factor fixed, names that factor.",
               "Kim & Mnih, ICML 2018; " + _DL, "factor_vae_score", needs_factors=True, stochastic=True),
    MetricInfo("mig", _DIS, True, (0, 1), (0.0, 0.5),
               "Gap in mutual information between the best and second-best latent for each factor, over its entropy.",
               "Chen et al., NeurIPS 2018; " + _DL, "mig", needs_factors=True),
    MetricInfo("dci_disentanglement", _DIS, True, (0, 1), (0.1, 0.8),
               "Whether each latent matters for only one factor, from gradient-boosted tree importances.",
               "Eastwood & Williams, ICLR 2018; " + _DL, "dci", needs_factors=True, stochastic=True),
    MetricInfo("dci_completeness", _DIS, True, (0, 1), (0.1, 0.8),
               "Whether each factor is captured by only one latent, from the same importances.",
               "Eastwood & Williams, ICLR 2018; " + _DL, "dci", needs_factors=True, stochastic=True),
    MetricInfo("dci_informativeness", _DIS, True, (0, 1), (0.3, 1.0),
               "Test accuracy of the boosted trees predicting each factor from the latents, averaged.",
               "Eastwood & Williams, ICLR 2018; " + _DL, "dci", needs_factors=True, stochastic=True),
    MetricInfo("sap", _DIS, True, (0, 1), (0.0, 0.2),
               "Gap in single-latent linear classification accuracy between the two best latents per factor.",
               "Kumar et al., ICLR 2018; " + _DL, "sap", needs_factors=True, stochastic=True),
    MetricInfo("modularity", _DIS, True, (0, 1), (0.6, 1.0),
               "Whether each latent depends on at most one factor (noise still scores about 0.6-0.7).",
               "Ridgeway & Mozer, NeurIPS 2018; " + _DL, "modularity", needs_factors=True),
    MetricInfo("explicitness", _DIS, True, (0, 1), (0.5, 1.0),
               "Test ROC AUC of a logistic regression predicting each factor from all latents (0.5 is chance).",
               "Ridgeway & Mozer, NeurIPS 2018; " + _DL, "explicitness", needs_factors=True, stochastic=True),
    MetricInfo("irs", _DIS, True, (0, 1), (0.3, 0.9),
               "How little each latent moves when the factors it does not encode change.",
               "Suter et al., ICML 2019; " + _DL, "irs", needs_factors=True),
    MetricInfo("total_correlation", _UNS, False, (0, math.inf), (0.0, 5.0),
               "Dependence between latents under a gaussian fit, in nats (0 for uncorrelated latents).",
               "Locatello et al., ICML 2019; " + _DL, "total_correlation"),
    MetricInfo("gaussian_wasserstein_correlation", _UNS, False, (0, math.inf), (0.0, 5.0),
               "Squared Wasserstein distance between the codes' gaussian and the product of its marginals.",
               "Locatello et al., ICML 2019; " + _DL, "gaussian_wasserstein_correlation"),
    MetricInfo("mutual_info_score", _UNS, False, (0, math.log(20)), (0.0, 0.5),
               "Mean mutual information between pairs of discretised latents, in nats.",
               "Locatello et al., ICML 2019; " + _DL, "mutual_info_score"),
    MetricInfo("active_units", _REG, True, (0, math.inf), (1, 64),
               "Number of latents whose posterior mean varies over the data (variance above 0.01).",
               "Burda et al., ICLR 2016; tested against numpy variances", "active_units"),
    MetricInfo("active_units_fraction", _REG, True, (0, 1), (0.2, 1.0),
               "Fraction of the latents that are active units.",
               "Burda et al., ICLR 2016", "active_units"),
    MetricInfo("kl_total", _REG, None, (0, math.inf), (1.0, 100.0),
               "Mean KL divergence of the posterior from the prior, summed over latents, in nats.",
               "Kingma & Welling, ICLR 2014; tested against the closed form", "kl_per_dim", needs_logvar=True),
    MetricInfo("collapsed_units", _REG, False, (0, math.inf), (0, 10),
               "Number of latents whose posterior equals the prior (KL below 0.01 nats): posterior collapse.",
               "Lucas et al., NeurIPS 2019", "kl_per_dim", needs_logvar=True),
    MetricInfo("prior_kl", _REG, False, (0, math.inf), (0.0, 10.0),
               "KL divergence from the gaussian fitted to the codes to the N(0, I) prior, in nats.",
               "closed form; tested against scipy", "prior_fit"),
    MetricInfo("prior_ks_max", _REG, False, (0, 1), (0.0, 0.3),
               "Largest Kolmogorov-Smirnov distance of a latent's codes to N(0, 1).",
               "scipy.stats.kstest", "prior_fit"),
    MetricInfo("trustworthiness", _REG, True, (0, 1), (0.8, 1.0),
               "Whether points close in the latent space were close in the input space too.",
               "Venna & Kaski, 2006; tested against sklearn.manifold.trustworthiness", "trustworthiness",
               needs_inputs=True),
    MetricInfo("continuity", _REG, True, (0, 1), (0.8, 1.0),
               "Whether points close in the input space stay close in the latent space.",
               "Venna & Kaski, 2006; tested against sklearn.manifold.trustworthiness", "continuity",
               needs_inputs=True),
    MetricInfo("knn_preservation", _REG, True, (0, 1), (0.05, 0.5),
               "Mean overlap of each point's 10 nearest neighbours in the input and latent spaces.",
               "tested against a naive loop", "knn_preservation", needs_inputs=True),
    MetricInfo("intrinsic_dimension", _REG, None, (0, math.inf), (1.0, 32.0),
               "Degrees of freedom the codes really use (TwoNN estimate); compare with the latent size.",
               "Facco et al., Sci. Rep. 2017", "intrinsic_dimension"),
    MetricInfo("effective_rank", _REG, None, (0, math.inf), (1.0, 64.0),
               "Number of directions the codes spread over (exp of the entropy of the singular values).",
               "Roy & Vetterli, EUSIPCO 2007", "effective_rank"),
    MetricInfo("mean_abs_correlation", _REG, False, (0, 1), (0.0, 0.3),
               "Mean absolute Pearson correlation between pairs of latents.",
               "numpy.corrcoef", "latent_correlation"),
    MetricInfo("reconstruction_error", _DEC, False, (0, math.inf), (0.0, 0.05),
               "Mean squared error between inputs and their reconstructions, per value.",
               "closed form", "reconstruction_error", needs_decoder=True, needs_inputs=True),
    MetricInfo("consistency", _DEC, False, (0, math.inf), (0.0, 0.5),
               "Relative distance between encode(decode(z)) and z for data codes.",
               "closed form", "consistency", needs_decoder=True, stochastic=True),
    MetricInfo("consistency_prior", _DEC, False, (0, math.inf), (0.0, 1.0),
               "Relative distance between encode(decode(z)) and z for samples of the prior.",
               "closed form", "consistency", needs_decoder=True, stochastic=True),
    MetricInfo("interpolation_smoothness", _DEC, False, (1, math.inf), (1.0, 3.0),
               "Largest over mean step of decoded straight-line interpolations (1 = perfectly even change).",
               "closed form", "interpolation_smoothness", needs_decoder=True, stochastic=True),
    MetricInfo("path_length", _DEC, False, (0, math.inf), (0.0, 10.0),
               "Perceptual-path-length analogue of the decoded interpolations, in mean squared output change.",
               "Karras et al., CVPR 2019 (MSE in place of LPIPS)", "interpolation_smoothness",
               needs_decoder=True, stochastic=True),
    MetricInfo("linear_probe_accuracy", _LAB, True, (0, 1), (0.5, 1.0),
               "Cross-validated accuracy of a logistic regression predicting the label from the latents.",
               "sklearn cross_val_score", "linear_probe_accuracy", needs_labels=True, stochastic=True),
    MetricInfo("knn_accuracy", _LAB, True, (0, 1), (0.5, 1.0),
               "Cross-validated accuracy of a 5-nearest-neighbour classifier predicting the label.",
               "sklearn cross_val_score", "knn_accuracy", needs_labels=True, stochastic=True),
    MetricInfo("silhouette", _LAB, True, (-1, 1), (-0.1, 0.5),
               "How much closer points are to their own label's points than to the nearest other label's.",
               "sklearn.metrics.silhouette_score", "silhouette", needs_labels=True, stochastic=True),
]

#: Every metric ``metrics.json`` can hold, by its flat name.
REGISTRY: dict[str, MetricInfo] = {entry.name: entry for entry in _ENTRIES}
