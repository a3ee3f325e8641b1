"""Latents streamed from a run's Parquet row groups, and the kNN graph over them built on Dask workers.

Used by ``project --dask`` so that neither the driver nor any worker holds all n latents:

- :class:`LatentShards` is a lazy view of some rows of ``latents.parquet``'s ``z`` columns (like a
  memory map): slicing or indexing gives another view, ``np.asarray`` reads just the row groups
  those rows live in. Views are small to pickle, so a worker is sent a view and reads its shard
  itself; the driver reads only what it asks for (the fitting sample, the quality sample).
- :func:`sharded_graph` builds the run's shared kNN graph with faiss's IVF-Flat: a coarse
  quantizer trained on a sample in the driver, then the points split into blocks; block ``j``'s
  inverted lists are built once on the worker that owns ``j`` and every block's queries are
  searched against it, and the driver keeps each query's best ``k`` over all blocks. A task
  holds one index block and one query block, whatever n is.

Why IVF and not pynndescent per shard (measured at 1M x 64, one thread, this box; RESULTS.md):
IVF1024 trains and fills in 6 s and answers 4,700 queries/s at nprobe 4, 1,300/s at nprobe 16;
pynndescent's build on the same points takes minutes plus its numba compilation on every fresh
worker, and its per-shard graphs cannot be merged without querying every other shard's index,
which is IVF's block search with a slower build. IVF's recall is set by ``nprobe``; with
``nprobe >= nlist`` it is exact (the test compares that with the exact graph).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from latentviz.neighbors import Neighbors, for_metric

# Rows per index block of the sharded graph (64-d float32: 256 MB) and per query block (its answers at k = 30: 72 MB).
GRAPH_BLOCK_ROWS = 1_000_000
QUERY_BLOCK_ROWS = 200_000
# Inverted lists probed per query: recall@15 0.62 at 16 on the benchmark's 64-d mixture (RESULTS.md).
NPROBE = 16
_MAX_NLIST = 1024
_TRAIN_PER_LIST = 39  # faiss's minimum training points per centroid


@dataclasses.dataclass(frozen=True)
class LatentShards:
    """Rows ``rows`` (sorted run rows) of the ``columns`` of the Parquet file ``path``, read on demand."""

    path: str
    columns: tuple[str, ...]
    group_starts: np.ndarray  # first run row of each row group, then the row count
    rows: np.ndarray

    @classmethod
    def of(cls, path, columns) -> LatentShards:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return cls(str(path), tuple(columns), starts, np.arange(starts[-1]))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.columns)

    def __getitem__(self, index) -> LatentShards:
        return dataclasses.replace(self, rows=self.rows[index])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Read the row groups holding these rows, one at a time, keeping only these rows."""
        import pyarrow.parquet as pq

        out = np.empty(self.shape, np.float32)
        groups = np.searchsorted(self.group_starts, self.rows, side="right") - 1
        file = pq.ParquetFile(self.path)
        for group in np.unique(groups):
            table = file.read_row_group(int(group), columns=list(self.columns))
            block = np.column_stack([table.column(c).to_numpy() for c in self.columns]).astype(np.float32)
            mine = groups == group
            out[mine] = block[self.rows[mine] - self.group_starts[group]]
        return out if dtype is None else out.astype(dtype, copy=False)

    def row_groups(self) -> list[LatentShards]:
        """One view per row group of the file (all its rows)."""
        return [self[self.group_starts[g] : self.group_starts[g + 1]] for g in range(len(self.group_starts) - 1)]


def finite_rows(client, z: LatentShards) -> np.ndarray:
    """The rows of ``z`` whose latents are all finite, checked on the workers one row group at a time."""
    masks = client.gather([client.submit(_finite, part, pure=False) for part in z.row_groups()])
    return np.flatnonzero(np.concatenate(masks)) if masks else np.zeros(0, np.int64)


def _finite(part: LatentShards) -> np.ndarray:
    return np.isfinite(np.asarray(part)).all(axis=1)


def sharded_graph(
    client,
    z: LatentShards,
    k: int,
    *,
    train: np.ndarray,
    metric: str,
    quiet: bool = True,
) -> Neighbors:
    """The ``k`` nearest other points of each of ``z`` (faiss IVF-Flat, the quantizer trained on ``train``).

    Block ``j`` of the index is built on worker ``j mod W`` only, and all its queries run there,
    so each block's inverted lists are built once and a worker holds one of them at a time.
    """
    from distributed import as_completed

    from latentviz._optional import require
    from latentviz.progress import progress

    faiss = require("faiss", purpose="the kNN graph on Dask")
    n, d = z.shape
    block_rows, query_rows = GRAPH_BLOCK_ROWS, QUERY_BLOCK_ROWS
    nlist = int(max(1, min(_MAX_NLIST, len(train) // _TRAIN_PER_LIST)))
    nprobe = min(NPROBE, nlist)
    quantizer = faiss.IndexFlatL2(d)
    trained = faiss.IndexIVFFlat(quantizer, d, nlist)
    trained.train(np.ascontiguousarray(for_metric(np.asarray(train, np.float32), metric)))
    centroids = quantizer.reconstruct_n(0, nlist)
    centres = client.scatter(centroids, broadcast=True, hash=False)
    source = client.scatter(z, broadcast=True, hash=False)  # once per worker: tasks carry only their row ranges

    starts = range(0, n, block_rows)
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    indices = np.full((n, k), -1, np.int64)
    distances = np.full((n, k), np.inf, np.float32)
    tasks = (
        client.submit(
            _search_block,
            centres,
            source,
            (i_start, min(i_start + block_rows, n)),
            (q_start, min(q_start + query_rows, n)),
            k,
            metric,
            nprobe,
            workers=[workers[j % len(workers)]],
            allow_other_workers=False,
            pure=False,
        )
        for j, i_start in enumerate(starts)
        for q_start in range(0, n, query_rows)
    )
    # as_completed drops each future once yielded: a block's result leaves the workers when merged here
    pairs = len(starts) * -(-n // query_rows)
    with progress(total=pairs, desc="kNN graph: index x query blocks", unit="block", quiet=quiet) as bar:
        for _, (q_start, found, dist) in as_completed(tasks, with_results=True):
            rows = slice(q_start, q_start + len(found))
            both_i = np.concatenate([indices[rows], found], axis=1)
            both_d = np.concatenate([distances[rows], dist], axis=1)
            order = np.argsort(both_d, axis=1, kind="stable")[:, :k]
            indices[rows] = np.take_along_axis(both_i, order, axis=1)
            distances[rows] = np.take_along_axis(both_d, order, axis=1)
            bar.update(1)
            bar.refresh()
    if metric == "cosine":  # unit vectors: squared Euclidean = 2 (1 - cos)
        distances /= 2
    else:
        np.sqrt(distances, out=distances)
    return Neighbors(indices, distances, metric=metric, method=f"faiss-ivf{nlist}-nprobe{nprobe}")


_BLOCK_CACHE: dict = {}  # on a worker: the index block it built last (its (start, rows) and the faiss index)


def _search_block(centroids, z: LatentShards, block_range, query_range, k: int, metric: str, nprobe: int):
    """The ``k`` nearest rows of ``z`` in ``block_range`` (self excluded) to those in ``query_range``.

    Returns the first query row, the neighbours' rows in ``z`` and their squared distances.
    """
    import faiss

    start, q_start = block_range[0], query_range[0]
    block, queries = z[slice(*block_range)], z[slice(*query_range)]

    faiss.omp_set_num_threads(1)  # the worker's one thread: its cores are the other workers'
    key = (block_range, block.path, metric)
    if _BLOCK_CACHE.get("key") != key:
        _BLOCK_CACHE.clear()
        quantizer = faiss.IndexFlatL2(centroids.shape[1])
        quantizer.add(centroids)
        index = faiss.IndexIVFFlat(quantizer, centroids.shape[1], len(centroids))
        index.is_trained = True
        index.add(np.ascontiguousarray(for_metric(np.asarray(block), metric)))
        _BLOCK_CACHE.update(key=key, index=index, quantizer=quantizer)
    index = _BLOCK_CACHE["index"]
    index.nprobe = nprobe
    wanted = min(k + 1, len(block))
    dist, found = index.search(np.ascontiguousarray(for_metric(np.asarray(queries), metric)), wanted)
    found = np.where(found >= 0, found + start, -1)
    own = found == (q_start + np.arange(len(queries)))[:, None]
    dist = np.where(own | (found < 0), np.inf, dist).astype(np.float32)
    keep = np.argsort(dist, axis=1, kind="stable")[:, :k]
    dist, found = np.take_along_axis(dist, keep, axis=1), np.take_along_axis(found, keep, axis=1)
    if dist.shape[1] < k:  # a block smaller than k: pad with no neighbour
        pad = k - dist.shape[1]
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
        found = np.pad(found, ((0, 0), (0, pad)), constant_values=-1)
    return q_start, found, dist
