"""The ``project`` stage: every projection of a run, over one shared neighbour graph."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import threading
import time
from typing import TYPE_CHECKING, cast

import numpy as np

from latentviz._numba_cache import import_cached
from latentviz._validation import Integer, Options, ParameterError, validate_params
from latentviz.errors import InputError
from latentviz.neighbors import Neighbors, knn, resolve_method, search_index
from latentviz.projection._align import align_procrustes
from latentviz.projection._pca import PCA
from latentviz.projection._quality import QualitySample
from latentviz.projection._sample import stratified_sample
from latentviz.projection._tsne import TSNE
from latentviz.projection._umap import UMAP
from latentviz.projectors import PROJECTORS, ProjectorOptions
from latentviz.run import projection_columns, projection_methods, projection_table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pandas as pd

METHODS = tuple(PROJECTORS)  # the names of the table of methods, in its order
ALIGNMENTS = ("auto", "transform", "procrustes")
#: t-SNE and UMAP are fitted on a seeded sample of this many points when a run has more, and the
#: rest are placed by transform. Measured on 2 cores (benchmarks/RESULTS.md).
DEFAULT_SAMPLE = 50_000
#: Neighbours found for each placed point: UMAP's 15 and openTSNE's 3 x perplexity 5.
TRANSFORM_K = 15
# Points placed per transform call (bounds the memory of the affinities of new points).
_PLACE_CHUNK = 200_000
# A transform that places blocks on every core (UMAP) takes smaller ones, so that the cores stay busy to the
# end: with 200k-point blocks the last one held one core alone for 20 s at 1M. Its seeded epochs depend on
# the block a point is placed in, so a Dask shard is such a block too (the same map on the cluster).
_THREADED_PLACE_CHUNK = 50_000


def _place_rows(projector) -> int:
    """Points per transform call (and per Dask shard) for ``projector``."""
    return _THREADED_PLACE_CHUNK if projector.transform_in_threads else _PLACE_CHUNK


# With --dask, from this many points the shared graph is built on the workers (faiss IVF, approximate); below
# it the driver's exact search is cheap (EXACT_MAX_N) and the graph equals the single-process one.
_SHARDED_GRAPH_MIN_N = 80_000


@dataclasses.dataclass
class ProjectionResult:
    """What :func:`project` wrote: the table, the shared graph, each method's manifest entry and model."""

    table: pd.DataFrame
    neighbors: Neighbors
    methods: dict
    projectors: dict

    def coordinates(self, method: str) -> np.ndarray:
        """The (n, dims) coordinates of ``method``; NaN rows for excluded points."""
        return self.table[projection_columns(method, projection_methods(self.table)[method])].to_numpy()


def parse_methods(methods) -> tuple[str, ...]:
    """``"pca,tsne"`` or a sequence of names -> a checked tuple in the given order."""
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    for name in names:
        if name not in METHODS:
            raise ParameterError("project", "methods", f"unknown projection {name!r}; choose from {', '.join(METHODS)}")
    if not names:
        raise ParameterError("project", "methods", f"give at least one of {', '.join(METHODS)}")
    return tuple(dict.fromkeys(names))


def project(
    run,
    *,
    methods=METHODS,
    dims: int = 2,
    sample: int | None = None,
    seed: int = 0,
    k: int = 30,
    quiet: bool = False,
    reference=None,
    align: str = "auto",
    tsne_backend: str = "opentsne",
    perplexity: float = 30.0,
    n_neighbors: int = 15,
    metric: str = "euclidean",
    device: str = "auto",
    dask: str | None = None,
) -> ProjectionResult:
    """Project a run with PCA, t-SNE and UMAP over one shared kNN graph, and write the results.

    Writes ``projections.parquet`` (``id``, ``pca_0``.., ``tsne_0``.., ``umap_0``..; NaN for rows
    with NaN/inf latents, which are excluded and counted), ``neighbors.npz`` (the graph of the
    finite latents, indices into the run's rows, excluded rows all -1) and, in the manifest,
    each method's parameters (as given and as used), time and quality (trustworthiness and
    kNN preservation at k = 10 on a seeded sample of at most 5,000 points). The three are committed
    together (:meth:`Run.stage`): an interrupted projection leaves the old ones as they were.

    Parameters
    ----------
    run : Run or path
    methods : str or sequence of {"pca", "tsne", "umap"}
    dims : {2, 3}
    sample : int, optional
        Above this many points t-SNE and UMAP are fitted on a seeded sample (stratified by
        label) and place the rest by transform; PCA always uses every point.
        Default :data:`DEFAULT_SAMPLE`.
    seed : int
    k : int, default=30
        Neighbours per point in the shared graph (t-SNE's perplexity is at most k / 3).
    reference : Run or path, optional
        Put this run into the reference run's frame: ``align="transform"`` fits on the reference
        and places this run's points into its map; ``"procrustes"`` projects this run and
        rotates each map onto the reference's stored one by shared ids; ``"auto"`` transforms
        when the latent spaces match and every method can, else uses Procrustes.
    tsne_backend : {"opentsne", "sklearn"}
    perplexity, n_neighbors : requested t-SNE perplexity and UMAP neighbours (they adapt to n).
    metric : {"euclidean", "cosine"}
    device : str
        For the exact kNN search and PCA.
    dask : str, optional
        ``"local:N"`` (a local cluster of N worker processes) or a running ``dask.distributed``
        scheduler's address: PCA and the placement of the points outside the sample run over
        row-shards on its workers (:mod:`latentviz.projection._dask`), with the same result.
    quiet : bool

    Returns
    -------
    ProjectionResult
    """
    from latentviz.run import Run

    started = time.perf_counter()
    run = run if isinstance(run, Run) else Run(run)
    run.require_complete()
    methods = parse_methods(methods)
    sample = DEFAULT_SAMPLE if sample is None else sample
    validate_params(
        "project",
        {"dims": dims, "tsne_backend": tsne_backend, "align": align, "k": k, "sample": sample},
        {
            "dims": [Integer(2, 3)],
            "tsne_backend": [Options("opentsne", "sklearn")],
            "align": [Options(*ALIGNMENTS)],
            "k": [Integer(1, None)],
            "sample": [Integer(10, None)],
        },
    )

    options = ProjectorOptions(
        dims=dims, seed=seed, device=device, perplexity=perplexity, tsne_backend=tsne_backend, n_neighbors=n_neighbors
    )
    with run.stage("project") as stage, _client(dask, methods, options) as client:
        return _project(
            run,
            stage,
            started=started,
            methods=methods,
            options=options,
            sample=sample,
            k=k,
            quiet=quiet,
            reference=reference,
            align=align,
            metric=metric,
            client=client,
        )


def _client(dask: str | None, methods, options: ProjectorOptions):
    """The Dask client of ``--dask`` for the stage's duration (its workers importing what placement needs), or none."""
    if dask is None:
        return contextlib.nullcontext()
    from latentviz.projection._dask import dask_client

    return dask_client(dask, preload=tuple(PROJECTORS[m].worker_module(options) for m in methods))


def _project(
    run,
    stage,
    *,
    started,
    methods,
    options: ProjectorOptions,
    sample,
    k,
    quiet,
    reference,
    align,
    metric,
    client=None,
) -> ProjectionResult:
    """The work of :func:`project`, writing its outputs and manifest entries into ``stage``."""
    from latentviz.progress import say
    from latentviz.run import NEIGHBORS, PROJECTIONS, Run, write_table

    dims, seed, device, tsne_backend = options.dims, options.seed, options.device, options.tsne_backend
    data = _Latents.of(run) if client is None else _Latents.streamed(run, client)
    say(
        f"project: {data.n_finite} points ({data.n - data.n_finite} with NaN/inf excluded), "
        f"methods {', '.join(methods)}",
        quiet=quiet,
    )
    sharded = client is not None and data.n_finite >= _SHARDED_GRAPH_MIN_N

    def whole_graph() -> tuple[Neighbors, float]:
        tick = time.perf_counter()
        if sharded:
            graph = _sharded_graph(client, data, k, metric=metric, seed=seed, quiet=quiet)
        else:
            graph = _graph(np.asarray(data.z), k, metric=metric, seed=seed, device=device, quiet=quiet)
        return graph, time.perf_counter() - tick

    # Fitted on a sample, the maps need only the sample's graph: in one process the run's whole graph is
    # built on a thread beside the sample's graph and the placement search (its numba compilation and its
    # last steps hold one core; 1M x 64 on 2 cores: about 25 s saved), and awaited before t-SNE and UMAP
    # start, so that its working memory is freed before theirs is taken.
    beside = client is None and data.n_finite > sample
    whole_method = "ivf" if sharded else resolve_method("auto", data.n_finite, device=device)
    if beside and whole_method == "pynndescent":  # imported here: the two threads never import it at once
        import_cached("pynndescent", purpose="approximate nearest-neighbour search")
    graph_job = _beside(whole_graph) if beside else _now(whole_graph)

    ref = None
    if reference is not None:
        ref = reference if isinstance(reference, Run) else Run(reference)
        ref.require_complete()
        align = _resolve_alignment(align, methods, tsne_backend, data, ref)
    if ref is not None and align == "transform":
        source = _Latents.of(ref)
        plan = _Plan.build(
            source,
            lambda: _graph(source.z, k, metric=metric, seed=seed, device=device, quiet=True),
            sample,
            k,
            metric=metric,
            seed=seed,
            device=device,
            place=data.z,
            client=client,
            sample_method=resolve_method("auto", source.n_finite, device=device),
        )
    else:
        plan = _Plan.build(
            data,
            lambda: graph_job.result()[0],
            sample,
            k,
            metric=metric,
            seed=seed,
            device=device,
            client=client,
            sample_method=whole_method,
        )
    graph, graph_seconds = graph_job.result()
    full_graph = data.full_graph(graph)
    full_graph.save(stage.path(NEIGHBORS))

    quality_sample = QualitySample(data.z, labels=data.labels, random_state=seed, metric=metric)

    def one(method: str):
        tick = time.perf_counter()
        init = PROJECTORS[method].init
        if ref is not None and align == "procrustes" and init is not None:
            init = _reference_layout(ref, method, dims, data.ids[data.rows[plan.fit_rows]], init)
        projector = PROJECTORS[method].build(options, init)
        placed = plan.run(projector, quiet=quiet)
        entry = {"seconds": round(time.perf_counter() - tick, 4), **_describe(projector, plan)}
        if ref is not None:
            placed, entry["aligned_to"] = _align(placed, method, align, data, ref)
        entry.update(quality_sample.score(placed))
        quality = entry["trustworthiness"]
        say(
            f"project: {method} in {entry['seconds']:.1f}s, trustworthiness "
            f"{'n/a' if quality is None else f'{quality:.3f}'}",
            quiet=quiet,
        )
        return placed, entry, projector

    umap_beside = _umap_beside_tsne(methods, tsne_backend, lambda: one("umap"))
    done = {method: one(method) for method in methods if umap_beside is None or method != "umap"}
    if umap_beside is not None:
        done["umap"] = umap_beside.result()
        done["umap"][1]["beside_tsne"] = True  # its seconds overlap t-SNE's
    coordinates, entries, projectors = ({method: done[method][i] for method in methods} for i in range(3))

    table = _table(run, data, coordinates, dims)
    write_table(stage.path(PROJECTIONS), table)
    stage.update_manifest(
        projections=entries,
        neighbors={
            "k": graph.k,
            "k_requested": int(k),
            "metric": metric,
            "method": graph.method,
            "n": data.n_finite,
            "seconds": round(graph_seconds, 4),
            "file": NEIGHBORS,
        },
    )
    stage.record_stage(
        time.perf_counter() - started,
        methods=list(methods),
        dims=dims,
        sample=int(sample),
        seed=seed,
        k=int(k),
        tsne_backend=tsne_backend,
        metric=metric,
        excluded_nonfinite=data.n - data.n_finite,
        reference=None if ref is None else {"run": str(ref.path), "align": align},
    )
    return ProjectionResult(table=table, neighbors=full_graph, methods=entries, projectors=projectors)


def _umap_beside_tsne(methods, tsne_backend: str, fit_umap) -> concurrent.futures.Future | None:
    """Start ``fit_umap`` on a thread when openTSNE runs too; None otherwise (UMAP then runs in its turn).

    On 2 cores the two overlap: openTSNE's FFTs run on one thread and its gradient loop releases
    the GIL, and UMAP's seeded epochs run on one thread without the GIL (``_umap``). The main
    thread first imports what t-SNE and the quality figures need, so the threads never import
    the same modules at once.
    """
    if not {"tsne", "umap"} <= set(methods) or tsne_backend != "opentsne":
        return None
    import scipy.spatial.distance  # noqa: F401 - embedding quality

    import latentviz.metrics  # noqa: F401 - embedding quality
    from latentviz._optional import require

    require("openTSNE", purpose="t-SNE")
    return _beside(fit_umap, name="latentviz-umap")


def _beside(work, *, name: str = "latentviz-graph") -> concurrent.futures.Future:
    """``work()`` started on a daemon thread: an interrupted stage (Ctrl-C) exits without waiting for it;
    its result, or its exception, comes from the future."""
    future: concurrent.futures.Future = concurrent.futures.Future()

    def target():
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - raised in the waiting thread by future.result()
            future.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def _now(work) -> concurrent.futures.Future:
    """``work()`` done here, as a finished future (what :func:`_beside` gives)."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_result(work())
    return future


@dataclasses.dataclass
class _Latents:
    """A run's finite latents, with the map back to its rows."""

    z: np.ndarray
    rows: np.ndarray
    n: int
    ids: np.ndarray
    labels: np.ndarray | None

    @classmethod
    def of(cls, run) -> _Latents:
        z = run.z
        finite = np.isfinite(z).all(axis=1)
        labels = run.labels
        return cls(
            z=z if finite.all() else z[finite],  # no copy of a run without NaN (256 MB at 1M x 64)
            rows=np.flatnonzero(finite),
            n=len(z),
            ids=run.ids,
            labels=None if labels is None else np.asarray(labels)[finite],
        )

    @classmethod
    def streamed(cls, run, client) -> _Latents:
        """The same, with ``z`` a lazy view of ``latents.parquet`` (its finite rows found on the workers)."""
        from latentviz.projection._shards import LatentShards, finite_rows
        from latentviz.run import LATENTS

        z = LatentShards.of(run.file(LATENTS), run.z_columns)
        rows = finite_rows(client, z)
        labels = run.read_columns(LATENTS, ["label"])["label"].to_numpy() if "label" in run.latent_columns else None
        return cls(
            z=cast(np.ndarray, z[rows]),  # used as an array: indexing gives views, np.asarray reads
            rows=rows,
            n=len(z),
            ids=run.read_columns(LATENTS, ["id"])["id"].to_numpy().astype(str),
            labels=None if labels is None else labels[rows],
        )

    @property
    def n_finite(self) -> int:
        return len(self.rows)

    def full_graph(self, graph: Neighbors) -> Neighbors:
        """The graph of the finite rows renumbered to the run's rows; excluded rows get -1 and inf."""
        if self.n_finite == self.n:  # every row finite: the rows are the run's already (no copy: 3.6 GB at 10M)
            return graph
        indices = np.full((self.n, graph.k), -1, dtype=np.int64)
        distances = np.full((self.n, graph.k), np.inf, dtype=np.float32)
        indices[self.rows] = self.rows[graph.indices]
        distances[self.rows] = graph.distances
        return Neighbors(indices, distances, metric=graph.metric, method=graph.method)

    def spread(self, coords: np.ndarray, dims: int) -> np.ndarray:
        full = np.full((self.n, dims), np.nan)
        full[self.rows] = coords
        return full


def _graph(z: np.ndarray, k: int, *, metric: str, seed: int, device: str, quiet: bool) -> Neighbors:
    """The shared graph; k shrinks to n - 1 for tiny runs (an empty graph below two points)."""
    if len(z) < 2:
        return Neighbors(np.zeros((len(z), 0), np.int64), np.zeros((len(z), 0), np.float32), metric=metric)
    return knn(z, min(k, len(z) - 1), metric=metric, random_state=seed, device=device, quiet=quiet)


def _sharded_graph(client, data: _Latents, k: int, *, metric: str, seed: int, quiet: bool) -> Neighbors:
    """The shared graph built on the Dask workers (:func:`~latentviz.projection._shards.sharded_graph`),
    its IVF quantizer trained on a seeded sample read here."""
    from latentviz._ivf import training_rows
    from latentviz.projection._shards import LatentShards, sharded_graph

    train = stratified_sample(data.n_finite, training_rows(data.n_finite), labels=data.labels, random_state=seed)
    return sharded_graph(
        client,
        cast(LatentShards, data.z),
        min(k, data.n_finite - 1),
        train=np.asarray(data.z[train]),
        metric=metric,
        seed=seed,
        quiet=quiet,
    )


@dataclasses.dataclass
class _Plan:
    """Which points each projector is fitted on and which it places by transform."""

    source: _Latents
    fit_rows: np.ndarray  # into source.z
    fit_graph: Neighbors | None
    place: np.ndarray  # points to place (rows of the run being projected)
    place_neighbors: Neighbors | None
    self_rows: tuple[np.ndarray, np.ndarray] | None  # projecting a run into its own map: its (fitted, placed) rows
    client: object = None  # a Dask client: PCA and placement run on its workers, neighbours searched there
    place_index: object = None  # with a client: the search index over the fitted rows, queried per shard
    on_dask: dict = dataclasses.field(default_factory=dict)  # method -> how its placement ran on the cluster

    @classmethod
    def build(
        cls,
        source: _Latents,
        graph: Callable[[], Neighbors],
        sample: int,
        k: int,
        *,
        metric: str,
        seed: int,
        device: str,
        sample_method: str,
        place: np.ndarray | None = None,
        client=None,
    ) -> _Plan:
        """``graph`` gives the source's whole graph, asked for only when every point is fitted; ``sample_method``
        is how that graph is searched (once pynndescent's, its compilation is paid: the sample's graph is too)."""
        n = source.n_finite
        method = "pynndescent" if sample_method == "pynndescent" else "auto"
        if n > sample:
            fit_rows = stratified_sample(n, sample, labels=source.labels, random_state=seed)
            fit_graph = knn(
                source.z[fit_rows],
                min(k, len(fit_rows) - 1),
                metric=metric,
                method=method,
                random_state=seed,
                device=device,
            )
        else:
            fit_rows, fit_graph = np.arange(n), graph()
        self_rows = None
        if place is None:  # the run's own map: the points outside the sample are placed
            rest = np.setdiff1d(np.arange(n), fit_rows)
            place, self_rows = source.z[rest], (fit_rows, rest)
        place_neighbors = index = None
        if len(place) and len(fit_rows) > TRANSFORM_K:
            index = search_index(
                source.z[fit_rows], metric=metric, random_state=seed, device=device, n_queries=len(place)
            )
            if client is None:
                place_neighbors = index.query(place, TRANSFORM_K)
        return cls(source, fit_rows, fit_graph, place, place_neighbors, self_rows, client, index)

    def run(self, projector, *, quiet: bool = True) -> np.ndarray:
        """Fit ``projector`` and return coordinates for the finite rows of the run being projected.

        Unless ``quiet``, t-SNE and UMAP show their iterations and the placement its points on stderr.
        """
        if isinstance(projector, PCA) and self.client is not None:
            from latentviz.projection import _dask

            _dask.fit_pca(self.client, projector, self.source.z, shard_rows=_PLACE_CHUNK)
            points = self.source.z if self.self_rows is not None else self.place
            return _dask.place(
                self.client, projector, points, None, k=TRANSFORM_K, shard_rows=_PLACE_CHUNK, quiet=quiet
            )
        if isinstance(projector, PCA):  # PCA is cheap: it always sees every point
            projector.fit(self.source.z)
            return projector.embedding_ if self.self_rows is not None else projector.transform(self.place)
        projector.fit(self.source.z[self.fit_rows], neighbors=self.fit_graph, quiet=quiet)
        placed = self._place(projector, quiet)
        if self.self_rows is None:
            return placed
        fit_rows, rest = self.self_rows
        out = np.empty((self.source.n_finite, projector.embedding_.shape[1]))
        out[fit_rows] = projector.embedding_
        out[rest] = placed
        return out

    def _place(self, projector, quiet: bool) -> np.ndarray:
        if not len(self.place):
            return np.empty((0, projector.embedding_.shape[1]))
        if not projector.supports_transform:
            raise InputError(
                f"{projector.name}: {projector._no_transform_reason()}; or raise --sample above {self.source.n_finite}"
            )
        if self.client is not None:
            from latentviz.projection._dask import place

            record: dict = {}
            self.on_dask[projector.name] = record
            return place(
                self.client,
                projector,
                self.place,
                self.place_index,
                k=TRANSFORM_K,
                shard_rows=_place_rows(projector),
                record=record,
                quiet=quiet,
            )
        from latentviz.progress import progress

        def place_block(block: slice) -> np.ndarray:
            known = None
            if self.place_neighbors is not None:
                known = Neighbors(
                    self.place_neighbors.indices[block],
                    self.place_neighbors.distances[block],
                    metric=self.place_neighbors.metric,
                    method=self.place_neighbors.method,
                )
            return projector.transform(self.place[block], neighbors=known)

        rows = _place_rows(projector)
        blocks = [slice(start, start + rows) for start in range(0, len(self.place), rows)]
        # a GIL-free single-thread transform (UMAP) places blocks on every core: a core t-SNE leaves idle is used
        threads = min(len(blocks), os.cpu_count() or 1) if projector.transform_in_threads else 1
        parts = []
        with (
            progress(total=len(self.place), desc=f"{projector.name}: placing", unit="pt", quiet=quiet) as bar,
            contextlib.ExitStack() as stack,
        ):
            placed: Iterator[np.ndarray] = map(place_block, blocks)  # one thread: here, Ctrl-C stops it at once
            if threads > 1:
                pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="place")
                stack.callback(pool.shutdown, wait=False, cancel_futures=True)  # on Ctrl-C no further block starts
                placed = pool.map(place_block, blocks)
            for part in placed:
                parts.append(part)
                bar.update(len(part))
                bar.refresh()  # each block's count is shown, however quickly it was placed
        return np.vstack(parts)


def _describe(projector, plan: _Plan) -> dict:
    """Parameters as given, as used, and the notes a reader needs."""
    params = {
        key: "reference map" if isinstance(value, np.ndarray) else value
        for key, value in projector.get_params().items()
    }
    entry = {
        "params": params,
        "fitted_on": int(plan.source.n_finite if isinstance(projector, PCA) else len(plan.fit_rows)),
    }
    entry["placed_by_transform"] = (
        int(len(plan.place)) if not isinstance(projector, PCA) or plan.self_rows is None else 0
    )
    if projector.name in plan.on_dask:
        entry["placed_on_dask"] = plan.on_dask[projector.name]
    notes = []
    if isinstance(projector, PCA):
        entry["explained_variance_ratio"] = [float(v) for v in projector.explained_variance_ratio_]
    else:
        entry["n_neighbors_used"] = int(projector.n_neighbors_)
        if projector.fallback_:
            notes.append(f"{len(plan.fit_rows)} points are too few for {projector.name}; the map is the scaled PCA")
    if isinstance(projector, TSNE) and not projector.fallback_:
        entry["perplexity_used"] = projector.perplexity_
        entry["iterations_used"] = projector.n_iter_  # early exaggeration included; fewer when the KL stopped falling
        if projector.kl_divergence_ is not None:
            entry["kl_divergence"] = round(projector.kl_divergence_, 6)
        if projector.perplexity_ < projector.perplexity:
            notes.append(
                f"perplexity {projector.perplexity:g} -> {projector.perplexity_:.4g}: the graph holds "
                f"{projector.n_neighbors_} neighbours per point (raise --k for a larger perplexity)"
            )
    if isinstance(projector, UMAP) and not projector.fallback_ and projector.n_neighbors_ < projector.n_neighbors:
        notes.append(
            f"n_neighbors {projector.n_neighbors} -> {projector.n_neighbors_}: only {len(plan.fit_rows)} points"
        )
    if notes:
        entry["notes"] = notes
    return entry


def _reference_layout(ref, method: str, dims: int, ids: np.ndarray, default):
    """The reference map's coordinates of ``ids`` as a starting layout, when it has all of them.

    Starting from the reference's arrangement keeps clusters where the reference put them, so the
    Procrustes fit that follows only has to undo a rotation, not a reshuffle of clusters.
    """
    stored = ref.projections
    columns = projection_columns(method, dims)
    if stored is None or not set(columns) <= set(stored.columns):
        return default
    position = dict(zip(stored["id"].astype(str), range(len(stored)), strict=True))
    rows = [position.get(i, -1) for i in ids]
    layout = stored[columns].to_numpy(dtype=np.float64)[rows] if rows else None
    if layout is None or min(rows) < 0 or not np.isfinite(layout).all():
        return default
    return layout


def _resolve_alignment(align: str, methods, tsne_backend: str, data: _Latents, ref) -> str:
    same_space = ref.latent_dim == data.z.shape[1]
    can = same_space and not ("tsne" in methods and tsne_backend == "sklearn")
    if align == "transform" and not can:
        why = (
            f"the runs' latent spaces differ ({ref.latent_dim} vs {data.z.shape[1]} dimensions)"
            if not same_space
            else "the sklearn t-SNE backend cannot place new points"
        )
        raise InputError(
            f"--reference: cannot place this run into the reference's map: {why}; use Procrustes alignment"
        )
    if align == "auto":
        return "transform" if can else "procrustes"
    return align


def _align(placed: np.ndarray, method: str, align: str, data: _Latents, ref) -> tuple[np.ndarray, dict]:
    info = {"run": str(ref.path), "how": align}
    if align == "transform":
        return placed, info
    stored = ref.projections
    columns = projection_columns(method, placed.shape[1])
    if stored is None or not set(columns) <= set(stored.columns):
        raise InputError(
            f"--reference {ref.path}: it has no {method} projection in {placed.shape[1]}-D; "
            f"run 'latentviz project {ref.path} --methods {method} --dims {placed.shape[1]}' first"
        )
    aligned, fit = align_procrustes(
        placed,
        stored[columns].to_numpy(),
        moving_ids=data.ids[data.rows],
        reference_ids=stored["id"].astype(str).to_numpy(),
    )
    return aligned, {**info, **fit}


def _table(run, data: _Latents, coordinates: dict, dims: int):
    """The new projections.parquet, keeping other methods' columns from an earlier call on the same rows."""
    try:
        kept = run.projection_methods
    except InputError:  # stale, or another run's: replaced whole
        kept = {}
    maps = {method: run.projection(method) for method in kept if method not in coordinates}
    for method, coords in coordinates.items():
        maps[method] = data.spread(coords, dims).astype(np.float32)
    return projection_table(data.ids, maps)
