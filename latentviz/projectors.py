"""The table of projection methods: one entry per method, the one place that names it.

Each :class:`ProjectionMethod` says what the run folder, the CLI, the report and the dashboard call the
method (``name``, ``label``: read through :data:`latentviz.run.PROJECTION_METHODS`) and what the
``project`` stage needs to run it (``build``, ``init``, ``worker_module``). The projector classes are
imported inside ``build``, so this module, and with it :mod:`latentviz.run`, stays light.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class ProjectorOptions:
    """The ``project`` stage's options that a projector may take (each entry's ``build`` picks its own)."""

    dims: int = 2
    seed: int = 0
    device: str = "auto"
    perplexity: float = 30.0
    tsne_backend: str = "opentsne"
    n_neighbors: int = 15


@dataclasses.dataclass(frozen=True)
class ProjectionMethod:
    """One projection method: its names, how to build its projector, and what its projector starts from."""

    name: str  # the run folder's column prefix and manifest key (``umap`` -> ``umap_0``)
    label: str  # the display name in tables, menus and figures
    build: Callable[[ProjectorOptions, Any], Any]  # (options, starting layout) -> an unfitted projector
    init: str | None  # the default starting layout; None: the projector takes none (nor a reference's)
    worker_module: Callable[[ProjectorOptions], str]  # what a Dask worker imports to place its points


def _pca(options: ProjectorOptions, init) -> Any:
    from latentviz.projection._pca import PCA

    return PCA(options.dims, device=options.device)


def _tsne(options: ProjectorOptions, init) -> Any:
    from latentviz.projection._tsne import TSNE

    return TSNE(
        options.dims,
        perplexity=options.perplexity,
        backend=options.tsne_backend,
        init=init,
        random_state=options.seed,
    )


def _umap(options: ProjectorOptions, init) -> Any:
    from latentviz.projection._umap import UMAP

    return UMAP(options.dims, n_neighbors=options.n_neighbors, init=init, random_state=options.seed)


#: Every projection method, in canonical order (tables, reports, menus, ``--methods``' default).
PROJECTORS: dict[str, ProjectionMethod] = {
    entry.name: entry
    for entry in (
        ProjectionMethod("pca", "PCA", _pca, None, lambda options: "latentviz.projection._pca"),
        ProjectionMethod(
            "tsne",
            "t-SNE",
            _tsne,
            "pca",
            lambda options: "openTSNE" if options.tsne_backend == "opentsne" else "sklearn",
        ),
        ProjectionMethod("umap", "UMAP", _umap, "spectral", lambda options: "umap"),
    )
}
