"""The run folder: the one hand-off between stages, and the one place that knows file names.

A run folder holds::

    manifest.json         provenance, parameters, per-stage timings, ``complete`` written last
    latents.parquet       id, metadata (label, factor_<name>, ...), z_0..z_{d-1}, logvar_0.. (optional)
    thumbnails.parquet    id, png (longest side <= 64 px) for image inputs
    projections.parquet   id, pca_0.., tsne_0.., umap_0..
    neighbors.npz         k-nearest-neighbour graph of the latents (self excluded, ascending distance)
    metrics.json          flat metric names, ``detail``, ``timings``
    clusters.parquet      id, cluster (-1 = outlier), probability, outlier (the cluster stage)
    clusters.json         how the clusters were found and each cluster's facts
    drift.json            drift of this run from a reference run (``latentviz drift REF RUN``)
    traversals/           PNG grids, GIFs, traversals.json and paths.npz (decoded interpolation paths)
    shards/               partial results of an encode in progress (removed when it completes)
    .lock                 the writer's pid, host and command while a stage writes (see :func:`locked`)

Every write is atomic: a temporary file in the same folder, then ``os.replace``. A stage's outputs
are committed together (:meth:`Run.stage`): written to ``.stage-*`` first, then renamed into place
with the manifest last, under a journal (``.commit.json``) that the next writer or reader rolls
forward if the commit was cut short, so no one ever sees the outputs of half a stage. A complete run
is replaced (``--overwrite``) the same way, from a new run built beside it in ``.NAME.new``
(:func:`new_run`), so an interrupted overwrite leaves the old run whole.

This module owns the schema: the file names above, the column names (:data:`Z_PREFIX`, ``{method}_{i}``
through :func:`projection_columns`), the table of projection methods (:data:`PROJECTION_METHODS`) and
the readers of each file (:meth:`Run.projection`, :meth:`Run.neighbors`, :meth:`Run.traversal_paths`,
:meth:`Run.shard_path`, ...). No other module spells one; ``tests/test_run_schema.py`` checks that.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import re
import secrets
import shutil
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from latentviz.errors import InputError
from latentviz.projectors import PROJECTORS

MANIFEST = "manifest.json"
LATENTS = "latents.parquet"
THUMBNAILS = "thumbnails.parquet"
PROJECTIONS = "projections.parquet"
NEIGHBORS = "neighbors.npz"
METRICS = "metrics.json"
CLUSTERS = "clusters.parquet"
CLUSTER_COLUMNS = ("id", "cluster", "probability", "outlier")  # clusters.parquet's, in order
CLUSTER_FACTS = "clusters.json"
DRIFT = "drift.json"
TRAVERSALS = "traversals"
TRAVERSAL_INDEX = "traversals.json"
TRAVERSAL_PATHS = "paths.npz"  # inside traversals/: decoded interpolation paths (see latentviz.traversal)
SHARDS = "shards"
REPORT = "report.html"
#: Every entry of a run, the manifest last: what a replacement installs or removes and :meth:`Run.clear` removes.
ENTRIES = (
    LATENTS,
    THUMBNAILS,
    PROJECTIONS,
    NEIGHBORS,
    METRICS,
    CLUSTERS,
    CLUSTER_FACTS,
    DRIFT,
    REPORT,
    TRAVERSALS,
    SHARDS,
    MANIFEST,
)
LOCK = ".lock"
COMMIT = ".commit.json"  # the journal of a commit in progress: where from, what to install and remove
STAGE_PREFIX = ".stage-"  # a stage's outputs before they are committed
TRASH = ".replaced"  # inside a staging place: the folders a commit replaced, removed with it
COMMIT_WAIT = 30.0  # seconds a reader waits for another process to finish a commit

_STEP_PATTERN = re.compile(r"(?:step|epoch|iter|iteration|ckpt|checkpoint)[-_=]?(\d+)", re.IGNORECASE)

Z_PREFIX = "z_"
LOGVAR_PREFIX = "logvar_"
FACTOR_PREFIX = "factor_"

#: The projection methods in their canonical order (tables, reports, menus), each with its display name,
#: read from their table (:data:`latentviz.projectors.PROJECTORS`), where a method is added.
PROJECTION_METHODS: dict[str, str] = {name: entry.label for name, entry in PROJECTORS.items()}
SHARD_KINDS = ("latents", "thumbs")  # the two files an encode shard writes (see :meth:`Run.shard_path`)


def _damaged(path: Path, what: str, exc: BaseException) -> InputError:
    reason = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return InputError(f"{path} is not {what} ({reason}); re-run the stage that wrote it")


def _json_object(path: Path) -> dict:
    """A run's JSON file, which holds an object: anything else is a damaged file (someone else's folder, a copy
    cut short), bad input said in one line."""
    try:
        value = json.loads(path.read_text())
    except (ValueError, OSError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        raise _damaged(path, "valid JSON", exc) from exc
    if not isinstance(value, dict):
        raise InputError(f"{path} holds a JSON {type(value).__name__}, not an object; re-run the stage that wrote it")
    return value


@contextlib.contextmanager
def _reading_table(path: Path) -> Iterator[None]:
    """Around a read of a run's parquet table: one pyarrow cannot parse is a damaged file, as in :func:`_json_object`."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:  # ArrowInvalid (a ValueError), ArrowIOError (an OSError)
        raise _damaged(path, "a readable parquet table", exc) from exc


def method_label(method: str) -> str:
    """The display name of a projection method (``"tsne"`` -> ``"t-SNE"``); an unknown one is its own name."""
    return PROJECTION_METHODS.get(method, method)


def projection_columns(method: str, dims: int) -> list[str]:
    """The ``projections.parquet`` columns of a ``dims``-D map: ``umap_0``, ``umap_1``, ..."""
    return [f"{method}_{i}" for i in range(dims)]


def parse_projection_column(column: str) -> tuple[str, int] | None:
    """``"umap_1"`` -> ``("umap", 1)``; None for a column that holds no coordinate (``id``)."""
    method, _, index = column.rpartition("_")
    return (method, int(index)) if method and index.isdigit() else None


def projection_methods(table) -> dict[str, int]:
    """The maps a projections table holds, method -> number of components (``{"pca": 3, "umap": 2}``).

    A map's components are its columns ``_0``, ``_1``, ... without a gap. Methods come in the canonical
    order of :data:`PROJECTION_METHODS`, any others after them by name.
    """
    indices: dict[str, set[int]] = {}
    for column in table.columns:
        parsed = parse_projection_column(str(column))
        if parsed:
            indices.setdefault(parsed[0], set()).add(parsed[1])
    dims = {m: next(d for d in range(len(found) + 1) if d not in found) for m, found in indices.items()}
    return {m: dims[m] for m in _in_order(dims) if dims[m]}


def projection_table(ids, maps: dict[str, np.ndarray]):
    """A projections table (a DataFrame): ``id``, then each (n, dims) map's columns, methods in canonical order."""
    import pandas as pd

    columns = {"id": ids}
    for method in _in_order(maps):
        xy = np.asarray(maps[method])
        columns.update(zip(projection_columns(method, xy.shape[1]), xy.T, strict=True))
    return pd.DataFrame(columns)


def _in_order(methods) -> list[str]:
    """``methods`` in the canonical order, unknown ones after them by name."""
    return [m for m in PROJECTION_METHODS if m in methods] + sorted(m for m in methods if m not in PROJECTION_METHODS)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temporary file is created with mode 0666 less the umask, like any ordinary file.
    """
    path = Path(path)
    if path.is_dir():  # os.replace onto a folder fails with IsADirectoryError (--junit DIR, --out DIR)
        raise InputError(f"cannot write {path}: it is a folder; give the path of a file inside it")
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write strict JSON atomically, with sorted keys so equal content gives equal bytes.

    NaN and infinities become ``null`` (JSON has no such numbers; whoever produced one says why
    in a ``detail`` or ``caveats`` entry).
    """
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_table(path: str | os.PathLike, table) -> None:
    """Write a pandas DataFrame or a pyarrow Table as Parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_traversal_paths(folder: str | os.PathLike, arrays: dict[str, Any]) -> str:
    """Write ``paths.npz`` (compressed, atomically) into a ``traversals`` folder; return its file name.

    The decoded interpolation paths between sample pairs, kept so that the metrics stage measures
    interpolation smoothness on the outputs the traversal figures show: ``ids`` (P, 2) str, the endpoint
    sample ids; ``group`` (P,) str, ``"ids"`` (pairs given with ``--ids``) or ``"random"``; ``t`` (T,) the
    path positions in [0, 1]; ``output_size`` (scalar), the number of values in one decoded output; and for
    each method ``m`` in ``lerp``, ``slerp``: ``m_z`` (P, T, d) float32, the codes on the path;
    ``m_step_sizes`` (P, T-1) float64, the L2 norm of the decoded output's change between consecutive steps;
    ``m_outputs`` (P, T, *output_shape) float16, the decoded outputs (left out above 64 MB;
    ``traversals.json`` says whether they are there). Read it with :meth:`Run.traversal_paths`.
    """
    with atomic_path(Path(folder) / TRAVERSAL_PATHS) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return TRAVERSAL_PATHS


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


# -- the writer lock --------------------------------------------------------------------------------
class RunBusyError(InputError):
    """Another process holds the run folder's writer lock."""


_held: dict[Path, list] = {}  # resolved folder -> [lock file descriptor, depth]: the locks this process holds


@contextlib.contextmanager
def locked(folder: str | os.PathLike, command: str) -> Iterator[None]:
    """Hold ``folder``'s writer lock for the block; a second writer is refused in one line.

    ``.lock`` names the holder (pid, host, command) for that message; ``flock`` on it is what
    excludes, and the kernel drops it when the holder dies, so a stale lock (a dead pid) is simply
    taken over. A lock written on another host is refused, since its pid cannot be checked from
    here. Re-entrant within a process. Taking the lock first finishes a commit cut short
    (:func:`_recover`).
    """
    folder = Path(folder)
    key = folder.resolve()
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    fd = _acquire(folder, command)
    _held[key] = [fd, 1]
    try:
        _recover(key)
        yield
    finally:
        del _held[key]
        (key / LOCK).unlink(missing_ok=True)
        os.close(fd)


def _acquire(folder: Path, command: str) -> int:
    import fcntl

    path = folder / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # a link would be written through
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError(
                    f"{path} is a symbolic link, which a run's lock file never is; remove it and try again"
                ) from None
            raise InputError(
                f"cannot write to the run folder {folder} ({exc.strerror}); "
                "copy it somewhere you may write, or ask its owner to run this"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunBusyError(_busy(folder, holder)) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file while we opened it: lock the new one
    holder = _holder(fd)
    if holder.get("host") and holder["host"] != socket.gethostname():
        os.close(fd)
        raise RunBusyError(_busy(folder, holder))
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command}).encode(), 0)
    return fd


def _holder(fd: int) -> dict:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _busy(folder: Path, holder: dict) -> str:
    host = holder.get("host")
    who = f"pid {holder.get('pid', '?')} ({holder.get('command', 'latentviz')})"
    if host and host != socket.gethostname():
        who += f" on host {host}"
    return f"run {folder} is being written by {who}; wait for it or remove {folder / LOCK} if that process is gone"


# -- commits --------------------------------------------------------------------------------------
def _replacement(folder: Path) -> Path:
    """Where a new run that replaces ``folder`` is built: beside it, on the same file system."""
    folder = folder.resolve()
    return folder.parent / f".{folder.name}.new"


def _commit(folder: Path, staging: Path, install: list[str], remove: list[str] | None = None) -> None:
    """Move ``install`` from ``staging`` into ``folder`` and delete ``remove`` there, all or nothing.

    The journal written first is the point of no return: from then on a commit cut short is rolled
    forward by whoever takes the lock next, so the run folder never keeps half of one. The caller holds
    the lock; the manifest goes last.
    """
    install, remove = list(install), list(remove or [])
    if len(install) + len(remove) > 1:
        write_json(folder / COMMIT, {"staging": staging.name, "install": install, "remove": remove})
    _roll_forward(folder, staging, install, remove)


def _roll_forward(folder: Path, staging: Path, install: list[str], remove: list[str]) -> None:
    """Carry out a commit; every step can be repeated, so a commit cut short at any point resumes here."""
    if staging.is_dir():
        trash = staging / TRASH
        order = [n for n in install if n != MANIFEST] + remove + [n for n in install if n == MANIFEST]
        for name in order:
            source, target = staging / name, folder / name
            if name in install and not source.exists():
                continue  # installed before the cut
            if target.is_symlink():
                target.unlink()  # a link is replaced, never followed
            elif target.is_dir():
                trash.mkdir(exist_ok=True)
                shutil.rmtree(trash / name, ignore_errors=True)
                target.rename(trash / name)
            if name in install:
                os.replace(source, target)
            else:
                target.unlink(missing_ok=True)
        shutil.rmtree(staging)
    (folder / COMMIT).unlink(missing_ok=True)


def _recover(folder: Path) -> None:
    """With the lock just taken: finish a commit that was cut short, and drop the outputs of stages that never
    committed (their writers are gone)."""
    _finish(folder)
    for leftover in folder.glob(STAGE_PREFIX + "*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _finish(folder: Path) -> None:
    """With the lock held: roll forward the commit that the journal describes, if there is one."""
    journal = folder / COMMIT
    if journal.exists():
        try:
            entry = json.loads(journal.read_text())
            name, install, remove = str(entry["staging"]), list(entry["install"]), list(entry["remove"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{journal} is damaged ({exc}); remove it and re-run the last stage") from None
        # the journal comes from a file: it may only name run entries and the two staging places
        if name == _replacement(folder).name:
            staging = _replacement(folder)
        elif name.startswith(STAGE_PREFIX) and "/" not in name and "\\" not in name:
            staging = folder / name
        else:
            staging = None
        if staging is None or not set(install) | set(remove) <= set(ENTRIES) or staging.is_symlink():
            raise InputError(
                f"{journal} names files outside the run folder's schema; remove it and re-run the last stage"
            )
        trash = staging / TRASH
        replaced = list(trash.iterdir()) if trash.is_dir() and not trash.is_symlink() else []
        links = [p for p in [*(staging / name for name in install), trash, *replaced] if p.is_symlink()]
        if links:
            raise InputError(
                f"{journal} would follow or move in the symbolic link {links[0].relative_to(folder)}; "
                "remove the journal and re-run the last stage"
            )
        _roll_forward(folder, staging, install, remove)


def _settle(folder: Path) -> None:
    """Before reading: wait for (or finish) a commit in progress, so a reader never sees half a stage."""
    if folder.resolve() in _held:  # this process writes here: only its own commit, cut short, can be pending
        _finish(folder.resolve())
        return
    deadline = time.monotonic() + COMMIT_WAIT
    while (folder / COMMIT).exists():
        try:
            with locked(folder, "latentviz (finishing an interrupted commit)"):
                pass  # taking the lock rolls the commit forward
        except RunBusyError:
            if time.monotonic() > deadline:
                raise InputError(
                    f"run {folder} is being committed by another process and it does not finish; try again in a moment"
                ) from None
            time.sleep(0.05)


class Stage:
    """A stage's outputs on their way into a run folder: see :meth:`Run.stage`."""

    def __init__(self, run: Run, name: str):
        self.run, self.name = run, name
        self.staging = run.path / f"{STAGE_PREFIX}{name}-{secrets.token_hex(4)}"
        self._fields: list[dict] = []

    def path(self, name: str) -> Path:
        """Where to write the output ``name`` (a file, or a folder such as ``traversals``) until the commit."""
        if name not in ENTRIES or name == MANIFEST:
            raise ValueError(f"{name!r} is not a stage output; use update_manifest for the manifest")
        self.staging.mkdir(exist_ok=True)
        return self.staging / name

    def update_manifest(self, **fields: Any) -> None:
        """Merge ``fields`` into the manifest (dicts one level deep) when the stage commits."""
        self._fields.append(fields)

    def record_stage(self, seconds: float, **params: Any) -> None:
        """Record the stage's wall time (and its parameters, when given) in the manifest."""
        fields: dict[str, Any] = {"timings": {self.name: round(float(seconds), 4)}}
        if params:
            fields["parameters"] = {self.name: params}
        self.update_manifest(**fields)

    def commit(self) -> None:
        install = [name for name in ENTRIES if (self.staging / name).exists()]
        if self._fields:
            self.run.invalidate("manifest")
            manifest = dict(self.run.manifest) if self.run.has(MANIFEST) else {}
            for fields in self._fields:
                for key, value in fields.items():
                    if isinstance(value, dict) and isinstance(manifest.get(key), dict):
                        manifest[key] = {**manifest[key], **value}
                    else:
                        manifest[key] = value
            write_json(self.staging / MANIFEST, manifest)
            install.append(MANIFEST)
        if install:
            _commit(self.run.path, self.staging, install)
        self.run.invalidate()  # whatever the stage replaced is reread on next use


class Run:
    """A run folder, opened lazily: each property reads its file on first use and caches it.

    >>> run = Run("runs/demo")            # doctest: +SKIP
    >>> run.z.shape, run.latent_dim       # doctest: +SKIP
    ((4608, 8), 8)
    """

    def __init__(self, path: str | os.PathLike, *, must_exist: bool = True):
        self.path = Path(path)
        if must_exist:
            if not self.path.is_dir():
                raise InputError(
                    f"run folder {self.path} does not exist; create it with 'latentviz encode' or 'latentviz import'"
                )
            _settle(self.path)
            if not (self.path / MANIFEST).is_file():
                raise InputError(f"{self.path} is not a run folder (no {MANIFEST}); create it with 'latentviz encode'")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- file locations -------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def traversal_dir(self) -> Path:
        return self.path / TRAVERSALS

    @property
    def shard_dir(self) -> Path:
        return self.path / SHARDS

    def shard_path(self, index: int, kind: str) -> Path:
        """The file of shard ``index`` of an encode in progress; ``kind`` is one of :data:`SHARD_KINDS`."""
        if kind not in SHARD_KINDS:
            raise ValueError(f"shard kind {kind!r} is not one of {SHARD_KINDS}")
        return self.shard_dir / f"{kind}-{index:05d}.parquet"

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    # -- manifest ------------------------------------------------------------------------
    @functools.cached_property
    def manifest(self) -> dict:
        _settle(self.path)
        return _json_object(self.path / MANIFEST)

    def update_manifest(self, **fields: Any) -> dict:
        """Merge ``fields`` into the manifest (dicts one level deep) and write it atomically, under the lock."""
        with self.stage("manifest") as stage:
            stage.update_manifest(**fields)
        return self.manifest

    def record_stage(self, stage: str, seconds: float, **params: Any) -> None:
        """Record a stage's wall time (and its parameters, when given) in the manifest."""
        with self.stage(stage) as writing:
            writing.record_stage(seconds, **params)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Write a stage's outputs together or not at all, holding the run's lock.

        >>> with run.stage("metrics") as stage:                      # doctest: +SKIP
        ...     write_json(stage.path(METRICS), scores)
        ...     stage.record_stage(seconds, seed=0)

        Outputs go to ``stage.path(name)``; when the block ends they replace the old ones and
        the manifest is updated, last. When it raises (or the process dies), the old outputs
        and manifest stay as they were.
        """
        with locked(self.path, f"latentviz {name}"):
            stage = Stage(self, name)
            try:
                yield stage
                stage.commit()
            finally:
                if not (self.path / COMMIT).exists():  # once the journal is written, the commit is rolled forward
                    shutil.rmtree(stage.staging, ignore_errors=True)

    @property
    def step(self) -> float | None:
        """The run's position in a checkpoint series: the manifest's ``step``/``epoch`` (as recorded
        from the checkpoint), else a ``step``/``epoch``/``iter``/``ckpt`` number in the checkpoint's
        or the folder's name (``epoch=3-step=1200.ckpt`` -> 1200); None when there is none."""
        manifest = self.manifest
        model = manifest.get("model") or {}
        for key in ("step", "global_step", "epoch"):
            value = manifest.get(key, model.get(key))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        for name in (Path(str(model.get("checkpoint", ""))).stem, self.path.resolve().name):
            matches = _STEP_PATTERN.findall(name)
            if matches:
                return float(matches[-1])
        return None

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    def require_complete(self) -> None:
        if not self.complete:
            raise InputError(
                f"run {self.path} is incomplete (an encode was interrupted?); finish it with 'latentviz encode ... --resume'"
            )

    # -- latents -------------------------------------------------------------------------
    @functools.cached_property
    def latents(self):
        """The whole ``latents.parquet`` as a pandas DataFrame (the stages read only the columns they need)."""
        import pandas as pd

        self.latent_columns  # noqa: B018 -- the run is complete and has the file
        with _reading_table(self.file(LATENTS)):
            return pd.read_parquet(self.file(LATENTS))

    @functools.cached_property
    def latent_columns(self) -> list[str]:
        """The columns of ``latents.parquet``, from the file's footer (no rows are read)."""
        self.require_complete()
        if not self.has(LATENTS):
            raise InputError(f"run {self.path} has no {LATENTS}")
        return self.columns_of(LATENTS)

    def columns_of(self, name: str) -> list[str]:
        """The columns of the run's table ``name``, from the file's footer (no rows are read)."""
        import pyarrow.parquet as pq

        with _reading_table(self.file(name)):
            return pq.read_schema(self.file(name)).names

    def read_columns(self, name: str, columns):
        """Only ``columns`` of the run's table ``name`` (:data:`LATENTS`, :data:`PROJECTIONS`, ...) as a pyarrow
        Table, memory-mapped and not cached: a reader that needs a few columns of a large run reads only those."""
        import pyarrow.parquet as pq

        with _reading_table(self.file(name)):
            return pq.read_table(self.file(name), columns=list(columns), memory_map=True)

    @functools.cached_property
    def z_columns(self) -> list[str]:
        return _numbered(self.latent_columns, Z_PREFIX)

    @functools.cached_property
    def logvar_columns(self) -> list[str]:
        return _numbered(self.latent_columns, LOGVAR_PREFIX)

    @functools.cached_property
    def z(self) -> np.ndarray:
        """Latent codes, float32 array of shape (n, d)."""
        if not self.z_columns:
            raise InputError(f"run {self.path}: {LATENTS} has no latent columns ({Z_PREFIX}0, {Z_PREFIX}1, ...)")
        return self._numbers(self.z_columns)

    @functools.cached_property
    def logvar(self) -> np.ndarray | None:
        """Posterior log variances (n, d), or None when the model gives none."""
        cols = self.logvar_columns
        return self._numbers(cols) if cols else None

    def _numbers(self, columns: list[str]) -> np.ndarray:
        """Numeric ``columns`` of ``latents.parquet`` as one float32 (n, len(columns)) array, read a column of a
        row group at a time: no DataFrame beside it (at 1M x 64 the DataFrame held 0.9 GiB more than the array)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.latent_columns  # noqa: B018 -- the run is complete and has the file
        with _reading_table(self.file(LATENTS)):
            file = pq.ParquetFile(self.file(LATENTS), memory_map=True)
            for name in columns:
                kind = file.schema_arrow.field(name).type
                if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                    raise InputError(f"run {self.path}: {LATENTS} column {name} holds {kind}, not numbers")
            out = np.empty((file.metadata.num_rows, len(columns)), dtype=np.float32)
            start = 0
            for group in range(file.num_row_groups):
                stop = start + file.metadata.row_group(group).num_rows
                for j, name in enumerate(columns):
                    column = file.read_row_group(group, columns=[name]).column(0)
                    out[start:stop, j] = column.to_numpy()  # nulls read as NaN
                start = stop
        return out

    def _latent_column(self, name: str):
        """One column of ``latents.parquet`` as a pandas Series, read without the others."""
        return self._latent_table([name])[name]

    @property
    def ids(self) -> np.ndarray:
        return self._id_column.to_pandas().astype(str).to_numpy()

    @functools.cached_property
    def _id_column(self):
        """The latents' ids as read (an Arrow column): :attr:`ids` and :meth:`holds_latent_rows` read them once."""
        self.latent_columns  # noqa: B018 -- the run is complete and has the file
        return self.read_columns(LATENTS, ["id"]).column(0)

    @property
    def n(self) -> int:
        import pyarrow.parquet as pq

        self.latent_columns  # noqa: B018 -- the run is complete and has the file
        with _reading_table(self.file(LATENTS)):
            return pq.ParquetFile(self.file(LATENTS)).metadata.num_rows

    @property
    def latent_dim(self) -> int:
        return len(self.z_columns)

    @property
    def labels(self) -> np.ndarray | None:
        return self._latent_column("label").to_numpy() if "label" in self.latent_columns else None

    @functools.cached_property
    def factor_names(self) -> list[str]:
        return [c[len(FACTOR_PREFIX) :] for c in self.latent_columns if c.startswith(FACTOR_PREFIX)]

    @property
    def factors(self) -> np.ndarray | None:
        """Ground-truth factor levels (n, n_factors) in ``factor_names`` order, or None."""
        if not self.factor_names:
            return None
        return self._latent_table([FACTOR_PREFIX + f for f in self.factor_names]).to_numpy()

    @property
    def metadata_columns(self) -> list[str]:
        """Every column that is not a latent or a log variance (id first)."""
        skip = set(self.z_columns) | set(self.logvar_columns)
        return [c for c in self.latent_columns if c not in skip]

    @functools.cached_property
    def metadata(self):
        """The :attr:`metadata_columns` of ``latents.parquet`` as a DataFrame, read without the codes."""
        return self._latent_table(self.metadata_columns)

    def _latent_table(self, columns: list[str]):
        self.latent_columns  # noqa: B018 -- the run is complete and has the file
        return self.read_columns(LATENTS, columns).to_pandas()

    # -- later stages ----------------------------------------------------------------------
    @functools.cached_property
    def thumbnails(self) -> dict[str, bytes]:
        """id -> PNG bytes; empty when the inputs were not images."""
        import pyarrow as pa

        path = self.path / THUMBNAILS
        if not path.exists():
            return {}
        table = self.read_columns(THUMBNAILS, ["id", "png"])
        kind = table.schema.field("png").type
        if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
            raise InputError(f"{path} column png holds {kind}, not bytes; re-run 'latentviz encode'")
        return dict(zip(table.column("id").to_pandas().astype(str), table.column("png").to_pylist(), strict=True))

    @functools.cached_property
    def projections(self):
        """``projections.parquet`` as a DataFrame (rows in latents order), or None before ``project``."""
        import pandas as pd

        path = self.path / PROJECTIONS
        if not path.exists():
            return None
        with _reading_table(path):
            table = pd.read_parquet(path)
        coordinates = [c for c in table.columns if parse_projection_column(str(c))]
        return self._over_latents(PROJECTIONS, table, numeric=coordinates, stage="project")

    @functools.cached_property
    def projection_methods(self) -> dict[str, int]:
        """The maps ``projections.parquet`` holds, method -> components, in canonical order; {} before ``project``."""
        return projection_methods(self.projections) if self.projections is not None else {}

    def projection(self, method: str, dims: int | None = None) -> np.ndarray:
        """The (n, dims) float32 coordinates of ``method``'s map (every component by default), rows in latents order."""
        stored = self.projection_methods.get(method, 0)
        dims = stored if dims is None else dims
        if not stored or dims > stored:
            what = f"{method} projection" + (f" in {dims}-D" if stored else "")
            raise InputError(
                f"run {self.path} has no {what}; run 'latentviz project {self.path} --methods {method}"
                + (f" --dims {dims}'" if stored else "'")
            )
        return self.projections[projection_columns(method, dims)].to_numpy(dtype=np.float32)

    def neighbors(self, k: int | None = None):
        """The kNN graph of ``neighbors.npz`` (:class:`latentviz.neighbors.Neighbors`, the nearest ``k``), or None
        when the run has none. A graph of another number of points than the latents is refused (InputError)."""
        from latentviz.neighbors import Neighbors

        path = self.path / NEIGHBORS
        return Neighbors.load(path, k=k, n=self.n) if path.exists() else None

    def traversal_paths(self) -> dict[str, np.ndarray] | None:
        """The arrays of ``traversals/paths.npz`` (see :func:`write_traversal_paths`), or None before ``traverse``."""
        path = self.traversal_dir / TRAVERSAL_PATHS
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise _damaged(path, "a readable .npz archive", exc) from exc

    @functools.cached_property
    def metrics(self) -> dict:
        path = self.path / METRICS
        return _json_object(path) if path.exists() else {}

    @functools.cached_property
    def clusters(self):
        """``clusters.parquet`` (:data:`CLUSTER_COLUMNS`) as a DataFrame (rows in latents order), or None before
        ``cluster``."""
        import pandas as pd

        path = self.path / CLUSTERS
        if not path.exists():
            return None
        with _reading_table(path):
            table = pd.read_parquet(path)
        return self._over_latents(CLUSTERS, table, numeric=CLUSTER_COLUMNS[1:], stage="cluster")

    @contextlib.contextmanager
    def reading(self, name: str) -> Iterator[None]:
        """Around code that reads the run's JSON result ``name`` (a report section): a value of another shape than
        its stage writes (a hand-edited file, another version's) is a damaged file, said in one line."""
        try:
            yield
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(
                f"{self.path / name} is not shaped as its stage writes it ({type(exc).__name__}: {exc}); "
                "re-run the stage that wrote it"
            ) from exc

    def holds_latent_rows(self, name: str) -> bool:
        """Whether the run's table ``name`` holds the latents' ids in their order, as a result over its rows
        must: the two id columns alone are read and compared by Arrow (10M rows in a fraction of a second)."""
        import pyarrow as pa

        ours, theirs = self._id_column, self.read_columns(name, ["id"]).column(0)
        if len(ours) != len(theirs):
            return False
        try:
            return theirs.cast(pa.string()).equals(ours.cast(pa.string()))
        except pa.ArrowException:  # ids that are not text: never ours
            return False

    def _over_latents(self, name: str, table, *, numeric, stage: str):
        """``table``, read from the run's file ``name``, as a result over the latents' rows: its ids are theirs, in
        their order, and its ``numeric`` columns hold numbers. Anything else is stale or from another run
        (InputError): a result is never joined to the wrong rows."""
        from pandas.api.types import is_numeric_dtype

        again = f"re-run 'latentviz {stage} {self.path}'"
        missing = [c for c in ("id", *numeric) if c not in table.columns]
        if missing:
            raise InputError(f"{self.path / name} has no column {', '.join(missing)}; {again}")
        wrong = [c for c in numeric if not is_numeric_dtype(table[c])]
        if wrong:
            raise InputError(
                f"{self.path / name} column {wrong[0]} holds {table[wrong[0]].dtype}, not numbers; {again}"
            )
        if not self.holds_latent_rows(name):
            raise InputError(
                f"{self.path / name} does not hold the rows of {LATENTS} in their order (stale, or another run's); {again}"
            )
        return table

    @functools.cached_property
    def cluster_facts(self) -> dict:
        """``clusters.json``: how the clusters were found and each one's facts; empty before ``cluster``."""
        path = self.path / CLUSTER_FACTS
        return _json_object(path) if path.exists() else {}

    @functools.cached_property
    def drift(self) -> dict:
        """``drift.json``: this run's drift from a reference run; empty before ``latentviz drift``."""
        path = self.path / DRIFT
        return _json_object(path) if path.exists() else {}

    @functools.cached_property
    def traversals(self) -> dict:
        path = self.traversal_dir / TRAVERSAL_INDEX
        return _json_object(path) if path.exists() else {}

    def clear(self) -> None:
        """Remove every file a run folder holds, so a fresh run never mixes with an old one."""
        with locked(self.path, "latentviz (clearing a run)"):
            for name in ENTRIES:
                if self.file(name).is_dir() and not self.file(name).is_symlink():
                    shutil.rmtree(self.file(name), ignore_errors=True)
                else:
                    self.file(name).unlink(missing_ok=True)
        self.invalidate()

    def invalidate(self, *names: str) -> None:
        """Forget cached properties so the next access rereads them from disk."""
        for name in names or list(self.__dict__):
            if name in ("path",):
                continue
            self.__dict__.pop(name, None)

    def load_model(self, *, device: str = "auto", trust_checkpoint: bool = False):
        """Reload the model the manifest names (for decoding); None for imported latents.

        Code it names runs only with ``trust_checkpoint`` or this machine's record that its user
        created the run with those files (:mod:`latentviz.trust`); the manifest never decides.
        """
        from latentviz.models import load_from_spec

        spec = self.manifest.get("model")
        if not spec:
            return None
        return load_from_spec(spec, device=device, trust_checkpoint=trust_checkpoint)


def _numbered(columns, prefix: str) -> list[str]:
    found = [c for c in columns if c.startswith(prefix) and c[len(prefix) :].isdigit()]
    return sorted(found, key=lambda c: int(c[len(prefix) :]))


@contextlib.contextmanager
def new_run(
    path: str | os.PathLike, *, command: str, overwrite: bool = False, resume: bool = False, keep_partial: bool = False
) -> Iterator[Run]:
    """Hold ``path``'s lock and give the :class:`Run` to build a new run in.

    A complete run already there is refused unless ``overwrite`` or ``resume``. With ``overwrite``
    the new run is built beside it, in ``.NAME.new``, and replaces it (every entry, through the
    journal of :func:`_commit`) only when the block completes, so an interrupted overwrite leaves the
    old run whole. If the block fails the partial run is removed, or kept with ``keep_partial`` (an
    encode: ``--overwrite --resume`` continues it there; ``--overwrite`` alone starts it afresh).
    Otherwise the run is built in place, where there is no complete run to lose and ``--resume``
    finds the shards of an interrupted encode; the caller clears what is there.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} exists and is not a folder; choose another path")
    path.mkdir(parents=True, exist_ok=True)
    with locked(path, command):
        run = Run(path, must_exist=False)
        complete = run.has(MANIFEST) and run.complete
        if complete and not (overwrite or resume):
            raise InputError(
                f"--out {path} already holds a complete run; pass --overwrite to replace it or choose another folder"
            )
        if not (complete and overwrite):
            yield run
            return
        partial = _replacement(path)
        if partial.is_symlink():  # never build the new run where a link leads
            partial.unlink()
        if not (resume and keep_partial):
            shutil.rmtree(partial, ignore_errors=True)
        try:
            partial.mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"--overwrite builds the new run beside {path}, in {partial}, which cannot be created "
                f"({exc.strerror}); choose another --out"
            ) from None
        if partial.stat().st_dev != path.stat().st_dev:
            shutil.rmtree(partial, ignore_errors=True)
            raise InputError(
                f"--overwrite: {path} is a mount point, so the new run cannot be built beside it and "
                "moved in; choose a folder inside it as --out"
            )
        try:
            yield Run(partial, must_exist=False)
        except BaseException:
            if not keep_partial:
                shutil.rmtree(partial, ignore_errors=True)
            raise
        install = [name for name in ENTRIES if (partial / name).exists()]
        _commit(path.resolve(), partial, install, [name for name in ENTRIES if name not in install and run.has(name)])
