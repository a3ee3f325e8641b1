"""Placement on a Dask cluster (``latentviz project RUN --dask ADDRESS|local:N``).

t-SNE and UMAP are fitted on the sample in this process, as without Dask; the fitted model and
the search index over the sample are then scattered to every worker once (``broadcast=True``),
and the points outside the sample are placed over row-shards, each shard on one worker: its
neighbours among the sample are searched there and the model's ``transform`` places it. The
shards are the blocks the single-process path places one after another (umap-learn's transform
depends on its batch: its epoch count and edge weights are taken per call), so the result is the
same as without Dask. At most two shards per worker are in flight, and each result is written into
the output array as it arrives, so a worker holds at most two shards and their results. A shard is
either an array scattered from here or, in the stage, a :class:`~latentviz.projection._shards.LatentShards`
view that the worker reads from ``latents.parquet`` itself: the driver then holds only the samples, the
graph and the output coordinates, never all latents. PCA is fitted from shard statistics (count, mean
and centred scatter matrix, combined exactly) and applied per shard. The run's shared kNN graph is
built on the workers too (:func:`~latentviz.projection._shards.sharded_graph`).

The kNN index used for placement is the one the single-process path uses
(:func:`latentviz.neighbors.search_index` over the fitted sample), built once in this process and
scattered with the model, so the result does not depend on where a shard runs. It indexes the
sample (50,000 points by default), not the n points, so it fits on every worker whatever n is and
needs no sharding; only the queries are sharded. Above ``EXACT_MAX_N**2`` query-sample pairs it
is faiss's IVF (:class:`latentviz.neighbors.IVFIndex`): no compilation on a fresh worker, recall@15
0.987 on the benchmark's data, where pynndescent's index needed 157 s of numba compilation per
worker and reached 0.58 to 0.84. The run's graph over all points is IVF too, routed by list
(:mod:`latentviz.projection._shards`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Iterator

import numpy as np

from latentviz.errors import InputError

LOCAL = "local:"
# Shards in flight per worker: one running, one waiting, so a worker never idles between shards.
_IN_FLIGHT_PER_WORKER = 2


@contextlib.contextmanager
def dask_client(spec: str, *, preload: tuple[str, ...] = ()) -> Iterator:
    """A ``dask.distributed`` client for ``--dask``: ``local:N`` or a running scheduler's address.

    ``local:N`` starts a ``LocalCluster`` of N worker processes (one thread each, no dashboard,
    bound to 127.0.0.1) for the duration of the block; an address connects to that scheduler, whose
    workers need the same latentviz installed (they unpickle its projectors and indexes).
    The workers import the packages in ``preload`` in the background (numba ones through the
    kernel cache) while this process fits the models.
    """
    from latentviz._optional import require

    distributed = require("distributed", purpose="--dask")
    cluster = None
    if spec.startswith(LOCAL):
        count = spec[len(LOCAL) :]
        if not count.isdigit() or int(count) < 1:
            raise InputError(
                f"--dask {spec}: give local:N with N >= 1 workers, or a scheduler address (tcp://HOST:PORT)"
            )
        cluster = distributed.LocalCluster(
            n_workers=int(count),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        )
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(spec, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                f"--dask {spec}: no dask scheduler answered there ({type(exc).__name__}); start one "
                "with 'dask scheduler' and workers with 'dask worker ADDRESS', or use local:N"
            ) from None
    try:
        if not client.scheduler_info(n_workers=-1)["workers"]:
            client.wait_for_workers(1, timeout=60)
        if preload:  # one task per worker, ahead of the placement tasks on its single thread
            distributed.fire_and_forget(
                [
                    client.submit(_import_cached, list(preload), workers=[worker], pure=False)
                    for worker in client.scheduler_info(n_workers=-1)["workers"]
                ]
            )
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def place(
    client,
    projector,
    points: np.ndarray,
    index,
    *,
    k: int,
    shard_rows: int,
    record: dict | None = None,
    quiet: bool = True,
) -> np.ndarray:
    """``projector.transform`` of ``points`` over row-shards on the workers, in the order given.

    ``index`` answers each shard's ``k`` neighbours among the fitted points (None: the projector
    needs none, PCA, or searches itself). The projector and index reach each worker once.
    ``record``, when given, receives the workers, shards, seconds and points placed per second per busy worker.
    Unless ``quiet``, a bar on stderr counts the points placed.
    """
    import time

    from latentviz.progress import progress

    started = time.perf_counter()

    _import_cached_on_workers(client, projector, index)
    model = client.scatter((projector, index), broadcast=True, hash=False)
    out = np.empty((len(points), _output_dims(projector)))

    def submit(start: int):
        return client.submit(_place_shard, model, _shard(client, points, start, shard_rows), k, start, pure=False)

    with progress(total=len(points), desc=f"{projector.name}: placing on Dask", unit="pt", quiet=quiet) as bar:
        for start, coords in bounded(client, range(0, len(points), shard_rows), submit):
            out[start : start + len(coords)] = coords
            bar.update(len(coords))
            bar.refresh()  # each shard's count is shown, however quickly it came back
    if record is not None:
        workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        seconds = time.perf_counter() - started
        shards = -(-len(points) // shard_rows)
        busy = min(workers, shards)  # fewer shards than workers: only that many worked
        record.update(
            workers=workers,
            shards=shards,
            seconds=round(seconds, 3),
            points_per_second_per_worker=round(len(points) / seconds / busy, 1) if seconds > 0 else None,
        )
    return out


def bounded(client, items, submit) -> Iterator:
    """The results of ``submit(item)`` for each of ``items``, as they complete, with at most
    ``_IN_FLIGHT_PER_WORKER`` tasks per worker submitted at a time (so workers hold a bounded number
    of inputs and results, and a result leaves the cluster once yielded)."""
    from distributed import as_completed

    items = iter(items)
    workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    running = as_completed(
        [submit(item) for item in itertools.islice(items, _IN_FLIGHT_PER_WORKER * workers)], with_results=True
    )
    for _, result in running:
        following = next(items, None)
        if following is not None:
            running.add(submit(following))
        yield result


def fit_pca(client, pca, z: np.ndarray, *, shard_rows: int):
    """Fit ``pca`` from per-shard moments computed on the workers (the same axes as ``pca.fit(z)``)."""
    if len(z) < 2:
        return pca.fit(z)
    futures = [
        client.submit(_moments, _shard(client, z, s, shard_rows), pure=False) for s in range(0, len(z), shard_rows)
    ]
    n, mean, scatter = 0, np.zeros(z.shape[1]), np.zeros((z.shape[1], z.shape[1]))
    for part in client.gather(futures):  # Chan et al.'s pairwise update: exact, no cancellation
        m, part_mean, part_scatter = part
        delta = part_mean - mean
        total = n + m
        scatter = scatter + part_scatter + np.outer(delta, delta) * (n * m / total)
        mean = mean + delta * (m / total)
        n = total
    return pca.fit_moments(n, mean, scatter)


def _shard(client, points, start: int, rows: int):
    """Rows ``start`` .. ``start + rows`` of ``points`` for a task: an array is scattered from here, while a
    :class:`~latentviz.projection._shards.LatentShards` view travels as itself and the worker reads its rows."""
    from latentviz.projection._shards import LatentShards

    part = points[start : start + rows]
    return part if isinstance(part, LatentShards) else client.scatter(np.ascontiguousarray(part), hash=False)


def _moments(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    return len(x), mean, centred.T @ centred


def _place_shard(model, shard: np.ndarray, k: int, start: int) -> tuple[int, np.ndarray]:
    from latentviz.neighbors import IVFIndex

    projector, index = model
    if isinstance(index, IVFIndex):
        import faiss

        faiss.omp_set_num_threads(1)  # the worker's one thread: its cores are the other workers'
    shard = np.asarray(shard, np.float32)  # a LatentShards view is read here, on the worker
    if index is None:
        return start, projector.transform(shard)
    return start, projector.transform(shard, neighbors=index.query(shard, k))


def _import_cached_on_workers(client, projector, index) -> None:
    """Import the numba-compiled packages the model needs through the on-disk kernel cache on every worker.

    Unpickling the model would import them plainly, and each worker would compile every kernel
    again (about a minute on a loaded 2-core machine); see :mod:`latentviz._numba_cache`.
    """
    from latentviz.neighbors import PyNNDescentIndex
    from latentviz.projection._umap import UMAP

    packages = [
        name
        for name, used in (("umap", isinstance(projector, UMAP)), ("pynndescent", isinstance(index, PyNNDescentIndex)))
        if used
    ]
    if packages:
        client.run(_import_cached, packages)


def _import_cached(packages: list[str]) -> None:
    import importlib

    from latentviz._numba_cache import import_cached

    for package in packages:
        if package in ("umap", "pynndescent"):
            import_cached(package, purpose="placement on a Dask worker")
        else:
            importlib.import_module(package)


def _output_dims(projector) -> int:
    return projector.embedding_.shape[1] if hasattr(projector, "embedding_") else projector.components_.shape[0]
