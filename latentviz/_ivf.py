"""IVF-Flat search computed as dense blocks: the in-process and the Dask kNN graph share it.

faiss's k-means trains a coarse quantizer; every reference point joins the list of its nearest
centroid and every query probes its ``nprobe`` nearest lists. Instead of faiss's
``IndexIVFFlat.search`` (query by query, 1.3 GFLOP/s on one thread here), the queries probing a
list are searched against that list's members at once with faiss's brute-force ``knn`` (BLAS,
22 GFLOP/s on one thread; benchmarks/RESULTS.md), and each query keeps its best ``k`` over its
lists. The candidates are IVF-Flat's exactly (every probed list scanned whole): with
``nprobe >= nlist`` the search is exact. The work is queries x nprobe x list size distances,
linear in n for a fixed list size.
"""

from __future__ import annotations

import numpy as np

#: The whole-run graph's lists: a query scans about nprobe x this many points.
LIST_ROWS = 2048
#: Lists probed per query of the graph.
NPROBE = 16
#: Placing new points against a fitted sample (50,000 x 64 by default): 4,096 candidates per query, in
#: lists big enough for BLAS to run at speed. Measured on the benchmark's 1M mixture, 950k queries
#: (benchmarks/RESULTS.md): recall@15 0.987 at 36,500 queries per CPU-second; lists of 512 with 8 probed
#: 0.994 at 26,300; pynndescent (its default epsilon) 0.844 at 13,900 queries/s on two threads.
SEARCH_LIST_ROWS = 1024
SEARCH_NPROBE = 4
_MAX_NLIST = 8192
TRAIN_PER_LIST = 39  # faiss's minimum training points per centroid


def list_count(n: int, list_rows: int = 0) -> int:
    """The number of inverted lists for ``n`` reference points (lists of ``list_rows``, by default :data:`LIST_ROWS`)."""
    return int(np.clip(n // (list_rows or LIST_ROWS), 1, _MAX_NLIST))


def training_rows(n: int, list_rows: int = 0) -> int:
    """How many of ``n`` points train the quantizer: faiss's minimum for :func:`list_count` centroids."""
    return min(n, list_count(n, list_rows) * TRAIN_PER_LIST)


def train_centroids(train: np.ndarray, nlist: int, *, seed: int = 0) -> np.ndarray:
    """``nlist`` k-means centroids of ``train`` (fewer when ``train`` is too small for faiss's minimum)."""
    faiss = _faiss()
    nlist = max(1, min(nlist, len(train) // TRAIN_PER_LIST))
    kmeans = faiss.Kmeans(train.shape[1], nlist, niter=20, seed=seed, verbose=False)
    kmeans.train(np.ascontiguousarray(train, dtype=np.float32))
    return kmeans.centroids


def nearest_lists(centroids: np.ndarray, x: np.ndarray, nprobe: int) -> np.ndarray:
    """The ``nprobe`` nearest lists of each row of ``x``, nearest first (int32)."""
    faiss = _faiss()
    quantizer = faiss.IndexFlatL2(centroids.shape[1])
    quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return quantizer.search(np.ascontiguousarray(x, dtype=np.float32), nprobe)[1].astype(np.int32)


def search_lists(
    reference: np.ndarray,
    reference_list: np.ndarray,
    queries: np.ndarray,
    query_lists: np.ndarray,
    k: int,
    *,
    query_self: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's ``k`` nearest rows of ``reference`` among the lists it probes.

    ``reference_list`` is each reference row's list; ``query_lists`` each query's probed lists
    (-1: none). ``query_self`` is a query's own row in ``reference`` (-1: not there), excluded
    from its answer. Returns rows of ``reference`` (-1 where fewer than ``k`` were found) and
    squared distances (inf there), nearest first.
    """
    faiss = _faiss()
    by_list = np.argsort(reference_list, kind="stable")
    lists, first = np.unique(reference_list[by_list], return_index=True)
    ends = np.append(first[1:], len(by_list))
    span = dict(zip(lists.tolist(), zip(first.tolist(), ends.tolist(), strict=True), strict=True))
    query, slot = np.nonzero(query_lists >= 0)
    probed = query_lists[query, slot]
    by_probe = np.argsort(probed, kind="stable")
    probed_lists, probe_first = np.unique(probed[by_probe], return_index=True)
    probe_ends = np.append(probe_first[1:], len(by_probe))

    best = faiss.ResultHeap(len(queries), k)
    for lst, lo, hi in zip(probed_lists.tolist(), probe_first, probe_ends, strict=True):
        if lst not in span:  # an empty list
            continue
        members = by_list[slice(*span[lst])]
        asking = query[by_probe[lo:hi]]
        dist, found = faiss.knn(
            np.ascontiguousarray(queries[asking]), np.ascontiguousarray(reference[members]), min(k + 1, len(members))
        )
        found = members[found]
        if query_self is not None:
            dist[found == query_self[asking][:, None]] = np.inf
        best.add_result_subset(asking, dist, found)
    best.finalize()
    best.D[best.I < 0] = np.inf  # faiss leaves its heaps' neutral value where nothing was found
    return best.I, best.D


def _faiss():
    from latentviz._optional import require

    return require("faiss", purpose="the IVF neighbour search")
