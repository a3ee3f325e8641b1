"""Projections of the latent space: PCA, t-SNE and UMAP over one shared neighbour graph.

Projectors follow scikit-learn's estimator contract (``fit``, ``fit_transform``, ``transform``
where ``supports_transform`` says so). :func:`project`, the run-folder stage, lives in
:mod:`latentviz.stages.project` and is re-exported here lazily, so the library never imports its stage.
"""

from typing import TYPE_CHECKING, Any

from latentviz.projection._align import align_procrustes
from latentviz.projection._pca import PCA
from latentviz.projection._quality import embedding_quality
from latentviz.projection._sample import stratified_sample
from latentviz.projection._tsne import TSNE
from latentviz.projection._umap import UMAP

if TYPE_CHECKING:
    from latentviz.stages.project import DEFAULT_SAMPLE, METHODS, ProjectionResult, parse_methods, project

_STAGE_NAMES = ("DEFAULT_SAMPLE", "METHODS", "ProjectionResult", "parse_methods", "project")

__all__ = [
    "DEFAULT_SAMPLE",
    "METHODS",
    "PCA",
    "ProjectionResult",
    "TSNE",
    "UMAP",
    "align_procrustes",
    "embedding_quality",
    "parse_methods",
    "project",
    "stratified_sample",
]


def __getattr__(name: str) -> Any:
    if name in _STAGE_NAMES:
        from latentviz.stages import project as stage

        return getattr(stage, name)
    raise AttributeError(f"module 'latentviz.projection' has no attribute {name!r}")
