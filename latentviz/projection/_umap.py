"""UMAP with umap-learn, seeded, fed by the shared kNN graph."""

from __future__ import annotations

import copy
import sys
import warnings

import numpy as np

from latentviz.errors import InputError
from latentviz.projection._base import Projector, check_n_components

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
        from latentviz.neighbors import _check_points, knn
        from latentviz.projection._pca import PCA
        from latentviz.projection._tsne import _check_init, _scaled

        n_out = check_n_components(self.n_components, most=MAX_COMPONENTS)
        if (
            isinstance(self.n_neighbors, bool)
            or not isinstance(self.n_neighbors, (int, np.integer))
            or self.n_neighbors < 2
        ):
            raise InputError(f"UMAP: n_neighbors must be an integer >= 2; got {self.n_neighbors!r}")
        x = _check_points(z, "UMAP")
        n = x.shape[0]
        self.n_features_in_ = x.shape[1]
        self.fallback_ = None
        self._model = None
        if n < MIN_POINTS:
            self.n_neighbors_, self.fallback_ = 0, "pca"
            self.embedding_ = _scaled(PCA(n_out).fit_transform(x), 1.0)
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
        init = self.init if isinstance(self.init, str) else _check_init(self.init, n, n_out)
        indices, distances = graph.to_umap()
        self._model = umap.UMAP(
            n_components=n_out,
            n_neighbors=self.n_neighbors_,
            min_dist=self.min_dist,
            n_epochs=self.n_epochs,
            metric=graph.metric,
            init=init,
            random_state=self.random_state,
            force_approximation_algorithm=True,
            precomputed_knn=(indices, distances, _SearchAdapter(x, graph.metric, self.random_state)),
            tqdm_kwds={"desc": "UMAP epochs", "disable": quiet, "file": sys.stderr, "leave": False},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the seeded single-thread notice; disconnected duplicates
            self.embedding_ = self._model.fit_transform(x.astype(np.float32)).astype(np.float64)
        return self

    def __getstate__(self) -> dict:
        """Pickled (to a Dask worker) without the progress bar's stream, which only this process can write to."""
        state = self.__dict__.copy()
        model = state.get("_model")
        if model is not None and "file" in (model.tqdm_kwds or {}):
            state["_model"] = copy.copy(model)
            state["_model"].tqdm_kwds = {key: value for key, value in model.tqdm_kwds.items() if key != "file"}
        return state

    def transform(self, z, *, neighbors=None) -> np.ndarray:
        """Place new points into the fitted map (umap-learn's transform, training points fixed).

        ``neighbors`` may give each new point's neighbours among the training points; otherwise
        they are searched here.
        """
        x = self._check_new_points(z)
        if self._model is None:
            raise InputError("UMAP: fitted on fewer than 4 points; there is no map to place new points into")
        adapter = self._model._knn_search_index
        adapter.answer = neighbors
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                placed = self._model.transform(x.astype(np.float32))
        finally:
            adapter.answer = None
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


class _SearchAdapter:
    """Stands in for umap-learn's pynndescent search index: ``query`` answered by our search."""

    _angular_trees = False

    def __init__(self, reference: np.ndarray, metric: str, random_state):
        self.reference = reference
        self.metric = metric
        self.random_state = random_state
        self.answer = None
        self._search = None

    def query(self, points, k, epsilon=None):
        if self.answer is not None and self.answer.n == len(points):
            found = self.answer.head(k)
        else:
            from latentviz.neighbors import search_index

            if self._search is None:
                self._search = search_index(self.reference, metric=self.metric, random_state=self.random_state)
            found = self._search.query(points, k)
        return found.indices.astype(np.int32), found.distances.astype(np.float32)
