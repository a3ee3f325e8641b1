"""Projections of the latent space: PCA, t-SNE and UMAP over one shared neighbour graph.

Projectors follow scikit-learn's estimator contract (``fit``, ``fit_transform``, ``transform``
where ``supports_transform`` says so); :func:`project` is the run-folder stage.
"""

from latentviz.projection._align import align_procrustes
from latentviz.projection._pca import PCA
from latentviz.projection._project import DEFAULT_SAMPLE, METHODS, ProjectionResult, parse_methods, project
from latentviz.projection._quality import embedding_quality
from latentviz.projection._sample import stratified_sample
from latentviz.projection._tsne import TSNE
from latentviz.projection._umap import UMAP

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
