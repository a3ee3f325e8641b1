"""The k-nearest-neighbour graph of a run, computed once and reused everywhere.

One convention holds for every :class:`Neighbors`: row ``i`` lists the ``k`` nearest *other*
points of point ``i`` (the point itself is excluded by index, so exact duplicates are each
other's neighbours at distance 0), sorted by ascending distance, ties by ascending index.

The graph feeds UMAP (:meth:`Neighbors.to_umap`), openTSNE (:meth:`Neighbors.to_opentsne`),
scikit-learn's ``metric="precomputed"`` estimators (:meth:`Neighbors.to_sparse`),
trustworthiness and continuity, and the dashboard's "nearest neighbours of this point".

Search is exact (in chunks: numpy on the CPU, torch on the GPU when there is one) up to
:data:`EXACT_MAX_N` points and approximate above: pynndescent for a whole graph, faiss's IVF-Flat
with its lists scanned as BLAS blocks (:class:`IVFIndex`, :mod:`latentviz._ivf`) for new points
against a reference; ``benchmarks/projections.py`` measured the cross-over, the speeds and the
recalls (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from latentviz._validation import check_points
from latentviz.devices import resolve_device
from latentviz.errors import InputError

#: Above this many points ``method="auto"`` switches from exact to approximate search on the
#: CPU. Measured on 2 cores, d = 32, k = 30, each in a new process (benchmarks/RESULTS.md,
#: 2026-12-04): exact search (faiss's brute force, re-ranked in float64) takes 12.0 s at 80k and
#: 40.9 s at 160k (O(n^2 d)); pynndescent 15.0 s and 16.5 s, most of it the numba compilation it
#: repeats in every new process (its on-disk cache does not cover it). The two cross near 90k.
EXACT_MAX_N = 80_000
#: On a GPU the exact search stays fast much longer (1M x 64 takes seconds).
EXACT_MAX_N_GPU = 2_000_000

METRICS = ("euclidean", "cosine")
METHODS = ("auto", "exact", "ivf", "pynndescent")

# Query rows per chunk: keeps a chunk's distance block (rows x n float32) near 256 MB.
_BLOCK_BYTES = 256 * 2**20
# Extra candidates kept from the float32 pass and re-ranked with exact float64 distances.
_RERANK_MARGIN = 8


@dataclasses.dataclass(frozen=True, eq=False)
class Neighbors:
    """A k-nearest-neighbour graph: row ``i`` holds the ``k`` nearest other points of point ``i``.

    Parameters
    ----------
    indices : ndarray of shape (n_samples, k), int
        Neighbour indices, the point itself excluded, nearest first.
    distances : ndarray of shape (n_samples, k), float32
        The matching distances, ascending along each row.
    metric : str
        ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity).
    method : str
        How the graph was found: ``"exact"``, ``"faiss-ivf{lists}-nprobe{probed}"``, ``"pynndescent"``
        or the name of a custom index.
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str = "euclidean"
    method: str = "exact"

    def __post_init__(self):
        if self.indices.shape != self.distances.shape or self.indices.ndim != 2:
            raise InputError(
                f"Neighbors: indices {self.indices.shape} and distances {self.distances.shape} "
                "must be two arrays of the same shape (n_samples, k)"
            )

    @property
    def n(self) -> int:
        """Number of points."""
        return self.indices.shape[0]

    @property
    def k(self) -> int:
        """Neighbours per point."""
        return self.indices.shape[1]

    def head(self, k: int) -> Neighbors:
        """The ``k`` nearest of each row; raises when the graph holds fewer (never recomputes)."""
        if k > self.k:
            raise InputError(
                f"neighbors: {k} neighbours asked but the graph holds {self.k}; "
                f"recompute it with k >= {k} (latentviz project --k {k})"
            )
        return dataclasses.replace(self, indices=self.indices[:, :k], distances=self.distances[:, :k])

    # -- adapters ---------------------------------------------------------------------------
    def to_umap(self) -> tuple[np.ndarray, np.ndarray]:
        """``(knn_indices, knn_dists)`` for ``umap.UMAP(precomputed_knn=...)``: self prepended at distance 0."""
        own = np.arange(self.n, dtype=self.indices.dtype)[:, None]
        indices = np.hstack([own, self.indices]).astype(np.int32)
        distances = np.hstack([np.zeros((self.n, 1), np.float32), self.distances]).astype(np.float32)
        return indices, distances

    def to_opentsne(self):
        """An ``openTSNE.nearest_neighbors.PrecomputedNeighbors`` holding this graph."""
        from latentviz._optional import require

        nn = require("openTSNE.nearest_neighbors", purpose="t-SNE")
        return nn.PrecomputedNeighbors(self.indices.astype(np.int64), self.distances.astype(np.float64))

    def to_sparse(self, *, mode: str = "distance", include_self: bool = False):
        """A ``scipy.sparse.csr_matrix`` (n, n) in scikit-learn's ``kneighbors_graph`` layout.

        ``mode="distance"`` stores distances, ``mode="connectivity"`` ones. ``include_self``
        stores each point as its own nearest neighbour at distance 0, which scikit-learn's
        ``metric="precomputed"`` estimators expect when they query the training set. Zero
        distances are stored explicitly, so duplicates are not mistaken for missing edges.
        """
        import scipy.sparse as sp

        graph = Neighbors(*self.to_umap()) if include_self else self
        if mode == "distance":
            data = graph.distances.astype(np.float64).ravel()
        elif mode == "connectivity":
            data = np.ones(graph.indices.size)
        else:
            raise InputError(f"to_sparse: unknown mode '{mode}'; choose from distance, connectivity")
        indptr = np.arange(0, graph.indices.size + 1, graph.k)
        return sp.csr_matrix((data, graph.indices.ravel(), indptr), shape=(self.n, self.n))

    # -- persistence ------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write ``neighbors.npz`` atomically (indices, distances, k, metric, method)."""
        from latentviz.run import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    indices=self.indices,
                    distances=self.distances,
                    k=np.int64(self.k),
                    metric=np.str_(self.metric),
                    method=np.str_(self.method),
                )

    @classmethod
    def load(cls, path, *, k: int | None = None, n: int | None = None) -> Neighbors:
        """Read ``neighbors.npz``; ``k`` keeps the nearest ``k``, ``n`` checks the number of points.

        Raises :class:`~latentviz.errors.InputError` when the file holds fewer than ``k``
        neighbours or a different number of points than ``n`` (a stale graph is never used).
        """
        try:
            with np.load(path) as data:
                graph = cls(
                    indices=data["indices"],
                    distances=data["distances"],
                    metric=str(data["metric"]),
                    method=str(data["method"]),
                )
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(
                f"{path}: not a readable neighbours file ({exc}); recompute it with 'latentviz project'"
            ) from exc
        if n is not None and graph.n != n:
            raise InputError(
                f"{path}: the graph has {graph.n} points but the run has {n}; it is stale, "
                "recompute it with 'latentviz project'"
            )
        return graph if k is None else graph.head(k)


def knn(
    z,
    k: int = 30,
    *,
    metric: str = "euclidean",
    method: Any = "auto",
    random_state=0,
    device: str = "auto",
    quiet: bool = True,
) -> Neighbors:
    """The ``k`` nearest neighbours of every row of ``z`` among the other rows.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Finite values (drop NaN/inf rows first).
    k : int, default=30
        Neighbours per point, at most ``n_samples - 1``.
    metric : {"euclidean", "cosine"}
        Cosine distance is ``1 - cos(a, b)``.
    method : {"auto", "exact", "ivf", "pynndescent"} or object
        ``"auto"`` is exact up to :data:`EXACT_MAX_N` points (:data:`EXACT_MAX_N_GPU` on a GPU)
        and pynndescent above (:func:`resolve_method`). An object with ``build() -> (indices, distances)`` (self excluded,
        like openTSNE's ``KNNIndex``) is used as given.
    random_state : int, default=0
        Seeds the approximate search.
    device : str, default="auto"
        Where the exact search runs (``"auto"``: CUDA, then MPS, then CPU).
    quiet : bool, default=True
        No progress bar.

    Returns
    -------
    Neighbors
        Self excluded, ascending distances.

    Examples
    --------
    >>> graph = knn([[0.0], [1.0], [3.0], [3.0]], k=2)
    >>> graph.indices.tolist()
    [[1, 2], [0, 2], [3, 1], [2, 1]]
    >>> graph.distances.tolist()
    [[1.0, 3.0], [1.0, 2.0], [0.0, 2.0], [0.0, 2.0]]
    """
    if hasattr(method, "build"):
        indices, distances = method.build()
        return Neighbors(
            np.asarray(indices), np.asarray(distances, np.float32), metric=metric, method=type(method).__name__
        )
    x = check_points(z, whom="knn")
    _check_metric(metric)
    _check_k(k, x.shape[0])
    resolved = resolve_method(method, x.shape[0], device=device)
    if resolved == "exact":
        found = ExactIndex(x, metric=metric, device=device).query(x, k, exclude_self=True, quiet=quiet)
    elif resolved == "ivf":
        found = IVFIndex(x, metric=metric, random_state=random_state).graph(k, quiet=quiet)
    else:
        found = _pynndescent_graph(x, k, metric=metric, random_state=random_state)
    return found


def resolve_method(method: str, n: int, *, device: str = "auto", n_queries: int | None = None) -> str:
    """``"auto"`` -> ``"exact"``, ``"pynndescent"`` or ``"ivf"`` by the work and the device.

    The exact search costs one distance per (query, reference) pair: it is chosen while there
    are at most ``EXACT_MAX_N**2`` pairs (n queries of the n points themselves, by default), so
    placing 950k points against a 50k sample goes approximate although 50k alone would not.
    Above that, a whole graph (``n_queries`` None) is pynndescent's and a search for new points
    IVF's. Measured at 1M x 64 on 2 cores (benchmarks/RESULTS.md): the graph takes pynndescent
    130 s at recall@30 0.70 and IVF 170 s at 0.83; placing 950k points against a 50k sample, IVF
    answers 36,500 queries per CPU-second at recall@15 0.987, pynndescent 13,900 per second on
    two threads at 0.844.
    """
    if method not in METHODS:
        raise InputError(f"knn: unknown method '{method}'; choose from {', '.join(METHODS)} or give a KNNIndex")
    if method != "auto":
        return method
    limit = EXACT_MAX_N_GPU if resolve_device(device).startswith("cuda") else EXACT_MAX_N
    if n * (n if n_queries is None else n_queries) <= limit * limit:
        return "exact"
    return "pynndescent" if n_queries is None else "ivf"


def search_index(
    reference,
    *,
    metric: str = "euclidean",
    method: str = "auto",
    random_state=0,
    device: str = "auto",
    n_queries: int | None = None,
):
    """An index over ``reference`` answering ``query(points, k) -> Neighbors`` (for transforms);
    ``n_queries``, when known, lets ``"auto"`` weigh the whole search (see :func:`resolve_method`)."""
    x = check_points(reference, whom="search_index")
    _check_metric(metric)
    resolved = resolve_method(method, x.shape[0], device=device, n_queries=n_queries)
    if resolved == "exact":
        return ExactIndex(x, metric=metric, device=device)
    if resolved == "ivf":
        from latentviz._ivf import SEARCH_LIST_ROWS, SEARCH_NPROBE

        return IVFIndex(x, metric=metric, random_state=random_state, list_rows=SEARCH_LIST_ROWS, nprobe=SEARCH_NPROBE)
    return PyNNDescentIndex(x, metric=metric, random_state=random_state)


class PrecomputedKNN:
    """The shared kNN graph as the neighbour source of openTSNE and umap-learn: one adapter for both.

    Passed through each library's public precomputed-kNN input: openTSNE's ``knn_index=`` (it calls
    ``build``, ``query(points, k)`` and reads ``k`` and ``n_samples``) and the search object of
    umap-learn's ``precomputed_knn=(indices, distances, search)`` (it calls ``query(points, k, epsilon)``).
    ``build`` answers the fit-time graph. ``query`` answers the neighbours given with :meth:`answering`
    for the points being placed, else searches ``reference`` with :func:`search_index` (built on first
    use). The projector keeps its own reference to the adapter, so it never reaches into the libraries.
    The answer is per thread: several threads may place blocks through one fitted model at once.

    Examples
    --------
    >>> z = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> adapter = PrecomputedKNN(knn(z, k=2), z)
    >>> adapter.query(np.array([[2.9]]), 2)[0].tolist()
    [[2, 1]]
    >>> with adapter.answering(Neighbors(np.array([[3, 2]]), np.zeros((1, 2), np.float32))):
    ...     adapter.query(np.array([[2.9]]), 1)[0].tolist()
    [[3]]
    """

    #: umap-learn reads this to choose the ``epsilon`` it passes to ``query``; our search ignores it.
    _angular_trees = False

    def __init__(self, graph: Neighbors, reference: np.ndarray, *, random_state=0):
        self.graph, self.reference, self.random_state = graph, reference, random_state
        self.k, self.n_samples = graph.k, graph.n
        self._local = threading.local()
        self._search: Any = None
        self._search_lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Pickled (to a Dask worker) without this process's threads' answers and lock."""
        return {key: value for key, value in self.__dict__.items() if key not in ("_local", "_search_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _local=threading.local(), _search_lock=threading.Lock())

    @property
    def _answer(self) -> Neighbors | None:
        return getattr(self._local, "answer", None)

    def build(self) -> tuple[np.ndarray, np.ndarray]:
        """The fit-time graph: ``(indices, distances)`` of the reference points, self excluded."""
        return self.graph.indices.astype(np.int64), self.graph.distances.astype(np.float64)

    @contextlib.contextmanager
    def answering(self, neighbors: Neighbors | None) -> Iterator[None]:
        """Within the block, ``query`` answers ``neighbors`` (of the points being placed) instead of searching."""
        self._local.answer = neighbors
        try:
            yield
        finally:
            self._local.answer = None

    def query(self, points, k: int, epsilon: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, distances)`` of the ``k`` nearest reference points of each of ``points``."""
        if self._answer is not None and self._answer.n == len(points):
            found = self._answer.head(k)
        else:
            with self._search_lock:
                if self._search is None:
                    self._search = search_index(
                        self.reference, metric=self.graph.metric, random_state=self.random_state
                    )
            found = self._search.query(points, k)
        return found.indices.astype(np.int64), found.distances.astype(np.float64)


def recall(approximate: Neighbors, exact: Neighbors) -> float:
    """Fraction of the exact neighbours the approximate graph found (mean over points).

    Examples
    --------
    >>> a = Neighbors(np.array([[1, 2], [0, 2]]), np.zeros((2, 2), np.float32))
    >>> b = Neighbors(np.array([[1, 3], [2, 0]]), np.zeros((2, 2), np.float32))
    >>> recall(a, b)
    0.75
    """
    k = min(approximate.k, exact.k)
    return mean_overlap(approximate.indices[:, :k], exact.indices[:, :k])


def overlap_per_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, how many entries two index arrays (n, k) share (rows without repeats)."""
    both = np.concatenate([a.astype(np.int64), b.astype(np.int64)], axis=1)
    both.sort(axis=1)
    return np.count_nonzero(both[:, 1:] == both[:, :-1], axis=1)


def mean_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over rows of |a_i ∩ b_i| / k, for index arrays without repeats in a row."""
    return float(overlap_per_point(a, b).mean() / a.shape[1])


def neighbourhood_agreement(a: np.ndarray, b: np.ndarray, k: int = 10) -> np.ndarray:
    """Per point, the Jaccard index of its k nearest neighbours in space ``a`` and in space ``b``.

    Rows of ``a`` and ``b`` are the same samples; 1 means the point has the same neighbours in
    both spaces, 0 none in common. This is where two latent spaces (or a space and its map) agree.
    """
    return neighbour_jaccard(knn(a, k).indices, knn(b, k).indices)


def neighbour_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the Jaccard index of two (n, k) neighbour index arrays (rows without repeats)."""
    common = overlap_per_point(a, b)
    return common / (2 * a.shape[1] - common)


class ExactIndex:
    """Exact search: squared distances in float32 blocks, then a float64 re-rank.

    The float32 pass (numpy on the CPU, torch on a GPU) keeps ``k + 8`` candidates per query;
    their distances are then recomputed exactly in float64, so the order matches a brute-force
    reference even where float32 cancellation would swap near-ties.
    """

    def __init__(self, reference: np.ndarray, *, metric: str = "euclidean", device: str = "auto"):
        from latentviz.devices import array_engine

        self.metric = metric
        self.reference = for_metric(np.asarray(reference, np.float64), metric)
        self.engine = array_engine(device)

    def query(self, points, k: int, *, exclude_self: bool = False, quiet: bool = True) -> Neighbors:
        """The ``k`` nearest reference rows of each of ``points`` (itself excluded when ``exclude_self``)."""
        from latentviz.progress import progress

        queries = self.reference if exclude_self else for_metric(np.asarray(points, np.float64), self.metric)
        n_ref = self.reference.shape[0]
        if k > n_ref - int(exclude_self):
            raise InputError(f"knn: k={k} but only {n_ref - int(exclude_self)} other points exist")
        engine = self.engine
        center = self.reference.mean(axis=0)
        wanted = min(k + _RERANK_MARGIN, n_ref - int(exclude_self))
        chunk = max(1, min(len(queries), _BLOCK_BYTES // (4 * max(n_ref, 1))))
        candidates = np.empty((len(queries), wanted), dtype=np.int64)
        if engine.name == "cpu":  # faiss's brute force: BLAS tiles and a heap per query, no block of distances
            from latentviz._optional import require

            faiss = require("faiss", purpose="the exact neighbour search")
            ref = np.ascontiguousarray(self.reference - center, dtype=np.float32)
        else:
            ref = engine.asarray(self.reference - center)
            ref_sq = (ref * ref).sum(axis=1)
        with progress(total=len(queries), desc="neighbours", unit="pt", quiet=quiet) as bar:
            for start in range(0, len(queries), chunk):
                block = slice(start, start + chunk)
                if engine.name == "cpu":
                    q = np.ascontiguousarray(queries[block] - center, dtype=np.float32)
                    found = faiss.knn(q, ref, wanted + int(exclude_self))[1]
                    own = np.arange(start, start + len(q)) if exclude_self else None
                    candidates[block] = found if own is None else np.take(found, _other_columns(found, own, wanted))
                else:
                    q = engine.asarray(queries[block] - center)
                    d2 = q @ ref.T
                    d2 *= -2.0
                    d2 += ref_sq
                    d2 += (q * q).sum(axis=1, keepdims=True)
                    if exclude_self:
                        rows = np.arange(q.shape[0])
                        d2[rows, rows + start] = float("inf")
                    candidates[block] = engine.smallest(d2, wanted)
                bar.update(q.shape[0])
        return self._rerank(queries, candidates, k)

    def _rerank(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> Neighbors:
        distances = np.empty(candidates.shape, dtype=np.float64)
        for start in range(0, len(queries), 65536):
            block = slice(start, start + 65536)
            diff = self.reference[candidates[block]] - queries[block, None, :]
            distances[block] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        if self.metric == "cosine":  # rows are unit vectors: 1 - cos = |a - b|^2 / 2
            distances = distances**2 / 2.0
        order = np.lexsort((candidates, distances), axis=1)[:, :k]
        return Neighbors(
            np.take_along_axis(candidates, order, axis=1),
            np.take_along_axis(distances, order, axis=1).astype(np.float32),
            metric=self.metric,
            method="exact",
        )


class IVFIndex:
    """Approximate search with an IVF-Flat index (faiss's quantizer, the lists scanned as BLAS blocks:
    :mod:`latentviz._ivf`): lists of about ``list_rows`` points, ``nprobe`` of them scanned per query."""

    def __init__(
        self, reference: np.ndarray, *, metric: str = "euclidean", random_state=0, list_rows: int = 0, nprobe: int = 0
    ):
        from latentviz import _ivf

        self.metric = metric
        self.reference = np.ascontiguousarray(for_metric(np.asarray(reference, np.float32), metric))
        n = len(self.reference)
        seed = int(np.random.default_rng(random_state).integers(2**31))
        train = np.random.default_rng(seed).choice(n, _ivf.training_rows(n, list_rows), replace=False)
        self.centroids = _ivf.train_centroids(self.reference[np.sort(train)], _ivf.list_count(n, list_rows), seed=seed)
        self.nprobe = min(nprobe or _ivf.NPROBE, len(self.centroids))
        self.method = f"faiss-ivf{len(self.centroids)}-nprobe{self.nprobe}"

    def query(self, points, k: int) -> Neighbors:
        """The ``k`` approximate nearest reference rows of each of ``points``."""
        return self._search(for_metric(np.asarray(points, np.float32), self.metric), k, own=False)

    def graph(self, k: int, *, quiet: bool = True) -> Neighbors:
        """The ``k`` approximate nearest other reference rows of each reference row."""
        return self._search(self.reference, k, own=True, quiet=quiet)

    @functools.cached_property
    def reference_list(self) -> np.ndarray:
        """Each reference row's list."""
        from latentviz import _ivf

        starts = range(0, len(self.reference), _IVF_CHUNK)
        return np.concatenate(
            [_ivf.nearest_lists(self.centroids, self.reference[s : s + _IVF_CHUNK], 1)[:, 0] for s in starts]
        )

    def _search(self, queries: np.ndarray, k: int, *, own: bool, quiet: bool = True) -> Neighbors:
        """Queries in chunks, so that the (query, list) pairs held at once stay bounded; ``own``: the queries
        are the reference rows, each excluded from its own answer."""
        from latentviz import _ivf
        from latentviz.progress import progress

        found = np.empty((len(queries), k), np.int64)
        squared = np.empty((len(queries), k), np.float32)
        with progress(total=len(queries), desc="neighbours (IVF)", unit="pt", quiet=quiet) as bar:
            for start in range(0, len(queries), _IVF_CHUNK):
                rows = slice(start, start + _IVF_CHUNK)
                probes = _ivf.nearest_lists(self.centroids, queries[rows], self.nprobe)
                found[rows], squared[rows] = _ivf.search_lists(
                    self.reference,
                    self.reference_list,
                    queries[rows],
                    probes,
                    k,
                    query_self=np.arange(start, start + len(probes)) if own else None,
                )
                bar.update(len(probes))
        return from_squared(found, squared, metric=self.metric, method=self.method)


_IVF_CHUNK = 1 << 20  # queries searched at once: their (query, probed list) pairs take about 0.4 GB at nprobe 16


def from_squared(indices: np.ndarray, squared: np.ndarray, *, metric: str, method: str) -> Neighbors:
    """Neighbours from squared Euclidean distances between (for cosine: unit) vectors, each row already
    nearest first; ``squared`` (float32) becomes the distances in place, and only rows with tied
    distances are re-sorted (ties by index), so that a 10M-row graph is not copied."""
    distances = np.maximum(squared, 0, out=squared)
    if metric == "cosine":  # unit vectors: squared Euclidean = 2 (1 - cos)
        distances /= 2
    else:
        np.sqrt(distances, out=distances)
    indices = indices.astype(np.int64, copy=False)
    _sort_rows(indices, distances)
    return Neighbors(indices, distances, metric=metric, method=method)


def _sort_rows(indices: np.ndarray, distances: np.ndarray) -> None:
    """Order each row by (distance, index) in place, re-sorting only the rows not already strictly ascending
    (ties, or an unsorted answer): a search answers nearest first, so a whole graph is not sorted again."""
    unsorted = np.flatnonzero((distances[:, 1:] <= distances[:, :-1]).any(axis=1))
    if len(unsorted):
        order = np.lexsort((indices[unsorted], distances[unsorted]), axis=1)
        indices[unsorted] = np.take_along_axis(indices[unsorted], order, axis=1)
        distances[unsorted] = np.take_along_axis(distances[unsorted], order, axis=1)


class PyNNDescentIndex:
    """Approximate search with pynndescent (nearest-neighbour descent over random-projection trees)."""

    def __init__(
        self,
        reference: np.ndarray,
        *,
        metric: str = "euclidean",
        random_state=0,
        n_neighbors: int = 30,
        n_iters: int | None = None,
    ):
        from latentviz._numba_cache import import_cached

        pynndescent = import_cached("pynndescent", purpose="approximate nearest-neighbour search")
        self.metric = metric
        self.index = pynndescent.NNDescent(
            np.asarray(reference, np.float32),
            metric=metric,
            n_neighbors=n_neighbors,
            random_state=random_state,
            low_memory=True,
            n_iters=n_iters,
        )

    def query(self, points, k: int) -> Neighbors:
        """The ``k`` approximate nearest reference rows of each of ``points``."""
        indices, distances = self.index.query(np.asarray(points, np.float32), k=k)
        return Neighbors(
            indices.astype(np.int64), distances.astype(np.float32), metric=self.metric, method="pynndescent"
        )


#: Rounds of neighbour descent for a whole graph (pynndescent's default is log2(n): 20 at 1M). Measured at
#: 1M x 64 (benchmarks/RESULTS.md): recall@30 0.7034 after 8 rounds, 0.7043 after its 20, in 111 s instead of 138 s.
GRAPH_DESCENT_ROUNDS = 8


def _pynndescent_graph(x: np.ndarray, k: int, *, metric: str, random_state) -> Neighbors:
    # pynndescent's recall rises with the graph it builds; below 30 neighbours it falls off.
    index = PyNNDescentIndex(
        x, metric=metric, random_state=random_state, n_neighbors=max(k + 1, 30), n_iters=GRAPH_DESCENT_ROUNDS
    )
    indices, distances = index.index.neighbor_graph
    return _drop_self(indices, distances, k, metric=metric)


def _drop_self(indices: np.ndarray, distances: np.ndarray, k: int, *, metric: str) -> Neighbors:
    """From m > k neighbours that usually include the point itself, keep the k nearest others (self removed by index).

    The kept columns are gathered through flat positions (a 1M x 31 graph in about a second; a boolean mask
    and a sort of every row took 10 s), and only rows not already in (distance, index) order are re-sorted.
    """
    flat = _other_columns(indices, np.arange(len(indices)), k)
    kept_indices = np.take(indices, flat).astype(np.int64, copy=False)
    kept_distances = np.take(distances, flat).astype(np.float32, copy=False)
    _sort_rows(kept_indices, kept_distances)
    return Neighbors(kept_indices, kept_distances, metric=metric, method="pynndescent")


def _other_columns(indices: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Flat positions in ``indices`` (n, m > k) of each row's first ``k`` columns other than the one holding
    ``own`` (the row's own index); a row without it drops its last column (the farthest)."""
    n, m = indices.shape
    is_own = indices == own[:, None]
    own_column = np.where(is_own.any(axis=1), is_own.argmax(axis=1), m - 1)
    column = np.arange(k)
    flat = column + (column >= own_column[:, None])
    flat += np.arange(0, n * m, m)[:, None]
    return flat


def for_metric(x: np.ndarray, metric: str) -> np.ndarray:
    """Cosine search is Euclidean search between unit vectors (zero vectors stay at the origin)."""
    if metric != "cosine":
        return x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise InputError(f"knn: unknown metric '{metric}'; choose from {', '.join(METRICS)}")


def _check_k(k, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"knn: k must be a positive integer; got {k!r}")
    if k > n - 1:
        raise InputError(f"knn: k ({k}) must be smaller than n_samples ({n}); every point has at most {n - 1} others")
