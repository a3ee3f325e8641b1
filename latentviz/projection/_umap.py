"""UMAP with umap-learn, seeded, fed by the shared kNN graph."""

from __future__ import annotations

import copy
import sys
import warnings
from typing import Any

import numpy as np

from latentviz._validation import RANDOM_STATE, Integer, Options, Real, check_points
from latentviz.errors import InputError
from latentviz.projection._base import LAYOUT, Projector, check_init, scale_layout

# Fewer points than this have no manifold to learn: the map is the scaled PCA.
MIN_POINTS = 4
#: Components at most: maps have 2 or 3, the space the cluster stage clusters in has more.
MAX_COMPONENTS = 10


class UMAP(Projector):
    """Uniform manifold approximation and projection (umap-learn), reproducible for a given seed.

    The fuzzy graph is built from the k-nearest-neighbour graph passed to :meth:`fit` as
    ``neighbors`` (the run's shared graph) or from one computed with
    :func:`latentviz.neighbors.knn`. ``n_neighbors_ = min(n_neighbors, k + 1, n)`` (umap-learn
    counts the point itself). Seeding makes umap-learn run its optimisation on one thread.

    Parameters
    ----------
    n_components : int, default=2
    n_neighbors : int, default=15
    min_dist : float, default=0.1
    n_epochs : int or None, default=None
        None: umap-learn's choice (200 for large data, 500 for small).
    init : "spectral" or ndarray of shape (n_samples, n_components), default="spectral"
        Starting layout; an array carries a reference map's arrangement into this one.
    random_state : int, default=0

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
    n_neighbors_ : int
        Neighbours used (the point itself included, as umap-learn counts).
    fallback_ : str or None
        ``"pca"`` when there were too few points for UMAP.
    """

    name = "umap"
    supports_transform = True
    transform_in_threads = True  # seeded epochs on one thread, compiled without the GIL (_release_gil_in_epochs)
    constraints = {
        "n_components": [Integer(1, MAX_COMPONENTS)],
        "n_neighbors": [Integer(2, None)],
        "min_dist": [Real(0, 1)],  # umap-learn's spread is 1
        "n_epochs": [None, Integer(1, None)],
        "init": [Options("spectral"), LAYOUT],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        n_components: int = 2,
        *,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        n_epochs: int | None = None,
        init="spectral",
        random_state=0,
    ):
        self.n_components = n_components
        self.init = init
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.n_epochs = n_epochs
        self.random_state = random_state

    def fit(self, z, y=None, *, neighbors=None, quiet: bool = True) -> UMAP:
        """Embed ``z``; ``neighbors`` is its kNN graph (a :class:`~latentviz.neighbors.Neighbors`).

        Unless ``quiet``, a bar on stderr counts the epochs (of this fit and of later transforms).
        """
        from latentviz._numba_cache import import_cached
        from latentviz.neighbors import PrecomputedKNN, knn
        from latentviz.projection._pca import PCA

        self.check_params()
        n_out = int(self.n_components)
        x = check_points(z, whom="UMAP")
        n = x.shape[0]
        self.n_features_in_ = x.shape[1]
        self.fallback_ = None
        self._model: Any = None  # the fitted umap-learn model
        self._neighbours = None
        if n < MIN_POINTS:
            self.n_neighbors_, self.fallback_ = 0, "pca"
            self.embedding_ = scale_layout(PCA(n_out).fit_transform(x), 1.0)
            return self
        self.n_neighbors_ = int(min(self.n_neighbors, n - 1 if neighbors is None else neighbors.k + 1, n))
        if neighbors is None:
            neighbors = knn(x, self.n_neighbors_ - 1, random_state=self.random_state)
        elif neighbors.n != n:
            raise InputError(f"UMAP: the neighbour graph has {neighbors.n} points but z has {n}")
        graph = neighbors.head(self.n_neighbors_ - 1)
        umap = import_cached("umap", purpose="UMAP")
        _release_gil_in_epochs()
        _vectorise_transform_start()
        init = (
            self.init
            if isinstance(self.init, str)
            else check_init(self.init, n, n_out, whom="UMAP", default="spectral")
        )
        indices, distances = graph.to_umap()
        self._neighbours = PrecomputedKNN(graph, x, random_state=self.random_state)
        self._model = umap.UMAP(
            n_components=n_out,
            n_neighbors=self.n_neighbors_,
            min_dist=self.min_dist,
            n_epochs=self.n_epochs,
            metric=graph.metric,
            init=init,
            random_state=self.random_state,
            force_approximation_algorithm=True,
            precomputed_knn=(indices, distances, self._neighbours),
            tqdm_kwds={"desc": "UMAP epochs", "disable": quiet, "file": sys.stderr, "leave": False},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the seeded single-thread notice; disconnected duplicates
            self.embedding_ = self._model.fit_transform(x.astype(np.float32)).astype(np.float64)
        return self

    def __getstate__(self) -> dict:
        """Pickled (to a Dask worker) without the progress bar, whose stream only this process can write to:
        the driver counts the points placed instead."""
        state = self.__dict__.copy()
        model = state.get("_model")
        if model is not None and model.tqdm_kwds:
            state["_model"] = copy.copy(model)
            state["_model"].tqdm_kwds = {"desc": model.tqdm_kwds.get("desc"), "disable": True}
        return state

    def transform(self, z, *, neighbors=None) -> np.ndarray:
        """Place new points into the fitted map (umap-learn's transform, training points fixed).

        ``neighbors`` may give each new point's neighbours among the training points; otherwise
        they are searched here.
        """
        x = self._check_new_points(z)
        if self._neighbours is None:  # the PCA fallback: nothing to place new points by
            raise InputError("UMAP: fitted on fewer than 4 points; there is no map to place new points into")
        _vectorise_transform_start()  # here too: a model unpickled on a Dask worker was not fitted there
        with self._neighbours.answering(neighbors), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            placed = self._model.transform(x.astype(np.float32))
        return np.asarray(placed, dtype=np.float64)


def _release_gil_in_epochs() -> None:
    """Compile umap-learn's (seeded, single-thread) epoch kernel with ``nogil`` so UMAP can run on a
    thread beside t-SNE: numba holds the GIL by default, which would stall t-SNE between its C calls.

    The kernel is the same Python function compiled under another name, so its on-disk cache
    (:mod:`latentviz._numba_cache`) is kept apart from the GIL-holding original's.
    """
    import types

    import numba
    from umap import layouts

    if getattr(layouts, "_latentviz_nogil", False):
        return
    original = layouts._optimize_layout_euclidean_single_epoch
    renamed = types.FunctionType(
        original.__code__,
        original.__globals__,
        original.__name__ + "_nogil",
        original.__defaults__,
        original.__closure__,
    )
    renamed.__qualname__ = renamed.__name__
    layouts._nb_optimize_layout_euclidean_single_epoch = numba.njit(renamed, fastmath=True, nogil=True, cache=True)
    layouts._latentviz_nogil = True


def _vectorise_transform_start() -> None:
    """Give umap-learn's ``transform`` the starting positions of new points computed on the whole graph at
    once: its own ``init_graph_transform`` loops over the points in Python (about 0.1 ms each, 95 s of
    placing 950k points, holding the GIL)."""
    from umap import umap_

    umap_.init_graph_transform = _transform_start


def _transform_start(graph, embedding: np.ndarray) -> np.ndarray:
    """umap-learn's ``init_graph_transform``, vectorised: each new point at the weighted mean of its
    neighbours' positions, at the first neighbour of weight 1 when it has one, NaN when it has none."""
    import scipy.sparse

    graph = scipy.sparse.csr_matrix(graph)
    counts = np.diff(graph.indptr)
    sums = np.asarray(graph.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
    start = (scipy.sparse.diags(scale) @ graph @ embedding.astype(np.float64)).astype(np.float32)
    ones = np.flatnonzero(graph.data == 1)
    rows = np.repeat(np.arange(graph.shape[0]), counts)[ones]
    rows, first = np.unique(rows, return_index=True)  # the first weight-1 entry of each row, as the loop stops there
    start[rows] = embedding[graph.indices[ones[first]]]
    start[counts == 0] = np.nan
    return start
