"""Metrics of a latent space: pure functions on arrays and a registry of facts.

Disentanglement scores follow disentanglement_lib's definitions (see ``shared/METRICS.md``);
regularity, label and similarity scores are defined in their docstrings. Every function takes
``z`` of shape (n_samples, n_latents) and returns Python floats or dicts of them. :func:`compute_run_metrics`, the run-folder stage, lives in
:mod:`latentviz.stages.metrics` and is re-exported here lazily, so the library never imports its stage.
"""

from typing import TYPE_CHECKING, Any

from latentviz.metrics._binning import discretize, mutual_info_matrix
from latentviz.metrics._common import MetricWarning
from latentviz.metrics._dci import dci
from latentviz.metrics._decoder import consistency, interpolation_smoothness, reconstruction_error
from latentviz.metrics._irs import irs
from latentviz.metrics._labels import knn_accuracy, linear_probe_accuracy, silhouette
from latentviz.metrics._mig import mig
from latentviz.metrics._modularity import explicitness, modularity
from latentviz.metrics._neighborhood import continuity, knn_preservation, trustworthiness
from latentviz.metrics._registry import REGISTRY, MetricInfo
from latentviz.metrics._regularity import (
    active_units,
    effective_rank,
    intrinsic_dimension,
    kl_per_dim,
    latent_correlation,
    prior_fit,
)
from latentviz.metrics._sampling import beta_vae_score, factor_vae_score
from latentviz.metrics._sap import sap
from latentviz.metrics._similarity import linear_cka, mutual_knn, procrustes_distance, rbf_cka, svcca
from latentviz.metrics._unsupervised import gaussian_wasserstein_correlation, mutual_info_score, total_correlation

if TYPE_CHECKING:
    from latentviz.stages.metrics import compute_run_metrics

__all__ = [
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "dci",
    "sap",
    "modularity",
    "explicitness",
    "irs",
    "mutual_info_matrix",
    "total_correlation",
    "gaussian_wasserstein_correlation",
    "mutual_info_score",
    "active_units",
    "kl_per_dim",
    "prior_fit",
    "trustworthiness",
    "continuity",
    "knn_preservation",
    "intrinsic_dimension",
    "effective_rank",
    "latent_correlation",
    "reconstruction_error",
    "consistency",
    "interpolation_smoothness",
    "linear_probe_accuracy",
    "knn_accuracy",
    "silhouette",
    "linear_cka",
    "rbf_cka",
    "svcca",
    "procrustes_distance",
    "mutual_knn",
    "discretize",
    "REGISTRY",
    "MetricInfo",
    "MetricWarning",
    "compute_run_metrics",
]


def __getattr__(name: str) -> Any:
    if name == "compute_run_metrics":
        from latentviz.stages.metrics import compute_run_metrics

        return compute_run_metrics
    raise AttributeError(f"module 'latentviz.metrics' has no attribute {name!r}")
