"""Latents streamed from a run's Parquet row groups, and the kNN graph over them built on Dask workers.

Used by ``project --dask`` so that neither the driver nor any worker holds all n latents:

- :class:`LatentShards` is a lazy view of some rows of ``latents.parquet``'s ``z`` columns (like a
  memory map): slicing or indexing gives another view, ``np.asarray`` reads just the row groups
  those rows live in. Views are small to pickle, so a worker is sent a view and reads its shard
  itself; the driver reads only what it asks for (the fitting sample, the quality sample).
- :func:`sharded_graph` builds the run's shared kNN graph with :mod:`latentviz._ivf`'s IVF search,
  routed by list: faiss trains a coarse quantizer of about n / 2,048 centroids on a sample in the
  driver; the workers find each point's ``nprobe`` nearest centroids (its own list first); the
  lists are grouped into parts of about 250,000 points, neighbouring lists together; and each
  part's task reads its members and the points that probe its lists and searches them. The driver
  keeps each query's best ``k`` over the parts. The work grows as n x nprobe x 2,048, not n
  squared, and a task holds one part whatever n is.

Why IVF and not pynndescent per shard (measured at 1M x 64, one thread, this box; RESULTS.md):
faiss's quantizer trains in seconds and needs no numba compilation on fresh workers;
pynndescent's build takes minutes plus its compilation on every worker, and its per-shard graphs
cannot be merged without querying every other shard's index. IVF's recall is set by ``nprobe``;
with ``nprobe >= nlist`` it is exact (the test compares that with the exact graph).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from latentviz import _ivf
from latentviz.neighbors import Neighbors, for_metric, from_squared

# Points whose lists one task searches (64-d float32: 64 MB, plus the queries that probe them); a
# million points then make 4 or more tasks, enough for every worker of a small cluster.
PART_ROWS = 250_000
_ROUTE_ROWS = 1 << 20  # points per routing task


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
    seed: int = 0,
    quiet: bool = True,
) -> Neighbors:
    """The ``k`` nearest other points of each of ``z``: IVF-Flat, its quantizer trained on ``train``."""
    train = for_metric(np.asarray(train, np.float32), metric)
    centroids = _ivf.train_centroids(train, _ivf.list_count(len(z)), seed=seed)
    nprobe = min(_ivf.NPROBE, len(centroids))
    return routed_graph(client, z, k, centroids=centroids, nprobe=nprobe, metric=metric, quiet=quiet)


def routed_graph(
    client, z: LatentShards, k: int, *, centroids: np.ndarray, nprobe: int, metric: str, quiet: bool = True
) -> Neighbors:
    """IVF-Flat's ``k`` nearest other points of each of ``z`` (lists: the ``centroids``' cells), on the workers."""
    import faiss

    from latentviz.progress import progress
    from latentviz.projection._dask import bounded

    n = len(z)
    centres = client.scatter(np.asarray(centroids, np.float32), broadcast=True, hash=False)
    source = client.scatter(z, broadcast=True, hash=False)  # once per worker: tasks carry only their rows
    chunks = range(0, n, _ROUTE_ROWS)
    with progress(total=len(chunks), desc="kNN graph: routing to lists", unit="chunk", quiet=quiet) as bar:
        probes = np.empty((n, nprobe), np.int32)
        for start, found in bounded(
            client, chunks, lambda s: client.submit(_probe, centres, source, s, _ROUTE_ROWS, nprobe, metric, pure=False)
        ):
            probes[start : start + len(found)] = found
            bar.update(1)

    part_of = _partition(centroids, np.bincount(probes[:, 0], minlength=len(centroids)), PART_ROWS)

    def submit(part: int):
        members = np.flatnonzero(part_of[probes[:, 0]] == part)
        probing = part_of[probes] == part
        queries = np.flatnonzero(probing.any(axis=1))
        lists = np.where(probing[queries], probes[queries], -1)
        work = client.scatter((members, probes[members, 0], queries, lists), hash=False)
        return client.submit(_search_part, source, work, k, metric, pure=False)

    best = faiss.ResultHeap(n, k)  # each point's k nearest so far, merged in C as the parts arrive
    parts = range(int(part_of.max()) + 1)
    with progress(total=len(parts), desc="kNN graph: list groups", unit="part", quiet=quiet) as bar:
        for queries, found, squared in bounded(client, parts, submit):
            best.add_result_subset(queries, squared, found)
            bar.update(1)
    best.finalize()
    best.D[best.I < 0] = np.inf
    return from_squared(best.I, best.D, metric=metric, method=f"faiss-ivf{len(centroids)}-nprobe{nprobe}")


def _partition(centroids: np.ndarray, sizes: np.ndarray, rows: int) -> np.ndarray:
    """The part of each list: lists split in two along their centroids' principal axis, again and again,
    until a part holds at most ``rows`` points (or one list), so that a query's probed lists, which lie
    near each other, mostly fall in one part."""
    part_of = np.zeros(len(centroids), np.int32)  # indexed by n x nprobe probes: keep the temporaries small
    pending, parts = [np.arange(len(centroids))], 0
    while pending:
        lists = pending.pop()
        if sizes[lists].sum() <= rows or len(lists) == 1:
            part_of[lists] = parts
            parts += 1
            continue
        centred = centroids[lists] - centroids[lists].mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        order = lists[np.argsort(centred @ axis, kind="stable")]
        half = int(np.clip(np.searchsorted(np.cumsum(sizes[order]), sizes[lists].sum() / 2), 1, len(order) - 1))
        pending += [order[half:], order[:half]]
    return part_of


def _probe(centroids, z: LatentShards, start: int, rows: int, nprobe: int, metric: str) -> tuple[int, np.ndarray]:
    """The ``nprobe`` nearest lists of rows ``start`` .. ``start + rows`` of ``z``, nearest first."""
    import faiss

    faiss.omp_set_num_threads(1)  # the worker's one thread: its cores are the other workers'
    return start, _ivf.nearest_lists(centroids, for_metric(np.asarray(z[start : start + rows]), metric), nprobe)


def _search_part(z: LatentShards, work, k: int, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's ``k`` nearest among the members of its probed lists in this part (self excluded).

    ``work`` holds the part's members (rows of ``z``) and each member's list, and the queries and,
    per query, its probed lists in this part (-1 elsewhere). Returns the queries, the neighbours'
    rows and their squared distances.
    """
    import faiss

    members, member_list, queries, query_lists = work
    if not len(members):  # a part of empty lists
        return queries, np.full((len(queries), k), -1, np.int64), np.full((len(queries), k), np.inf, np.float32)
    faiss.omp_set_num_threads(1)
    rows = np.union1d(members, queries)  # each row group read once for both
    x = for_metric(np.asarray(z[rows]), metric)
    at_member = np.searchsorted(members, queries).clip(max=len(members) - 1)
    query_self = np.where(members[at_member] == queries, at_member, -1)
    found, squared = _ivf.search_lists(
        x[np.searchsorted(rows, members)],
        member_list,
        x[np.searchsorted(rows, queries)],
        query_lists,
        k,
        query_self=query_self,
    )
    return queries, np.where(found >= 0, members[found], -1), squared
