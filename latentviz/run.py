"""The run folder: the one hand-off between stages, and the one place that knows file names.

A run folder holds::

    manifest.json         provenance, parameters, per-stage timings, ``complete`` written last
    latents.parquet       id, metadata (label, factor_<name>, ...), z_0..z_{d-1}, logvar_0.. (optional)
    thumbnails.parquet    id, png (longest side <= 64 px) for image inputs
    projections.parquet   id, pca_0.., tsne_0.., umap_0..
    neighbors.npz         k-nearest-neighbour graph of the latents (self excluded, ascending distance)
    metrics.json          flat metric names, ``detail``, ``timings``
    traversals/           PNG grids, GIFs, traversals.json and paths.npz (decoded interpolation paths)
    shards/               partial results of an encode in progress (removed when it completes)

Every write is atomic: a temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from latentviz.errors import InputError

MANIFEST = "manifest.json"
LATENTS = "latents.parquet"
THUMBNAILS = "thumbnails.parquet"
PROJECTIONS = "projections.parquet"
NEIGHBORS = "neighbors.npz"
METRICS = "metrics.json"
TRAVERSALS = "traversals"
TRAVERSAL_INDEX = "traversals.json"
TRAVERSAL_PATHS = "paths.npz"  # inside traversals/: decoded interpolation paths (see latentviz.traversal)
SHARDS = "shards"
REPORT = "report.html"

_STEP_PATTERN = re.compile(r"(?:step|epoch|iter|iteration|ckpt|checkpoint)[-_=]?(\d+)", re.IGNORECASE)

Z_PREFIX = "z_"
LOGVAR_PREFIX = "logvar_"
FACTOR_PREFIX = "factor_"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temporary file is created with mode 0666 less the umask, like any ordinary file.
    """
    path = Path(path)
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
                raise InputError(f"run folder {self.path} does not exist; create it with 'latentviz encode' or 'latentviz import'")
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

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    # -- manifest ------------------------------------------------------------------------
    @functools.cached_property
    def manifest(self) -> dict:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{self.path / MANIFEST} is not valid JSON ({exc}); re-run the stage that wrote it") from exc

    def update_manifest(self, **fields: Any) -> dict:
        """Merge ``fields`` into the manifest (dicts one level deep) and write it atomically."""
        manifest = dict(self.manifest) if (self.path / MANIFEST).exists() else {}
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(manifest.get(key), dict):
                manifest[key] = {**manifest[key], **value}
            else:
                manifest[key] = value
        write_json(self.path / MANIFEST, manifest)
        self.__dict__["manifest"] = json.loads((self.path / MANIFEST).read_text())
        return self.manifest

    def record_stage(self, stage: str, seconds: float, **params: Any) -> None:
        """Record a stage's wall time (and its parameters, when given) in the manifest."""
        fields: dict[str, Any] = {"timings": {stage: round(float(seconds), 4)}}
        if params:
            fields["parameters"] = {stage: params}
        self.update_manifest(**fields)

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
        """The whole ``latents.parquet`` as a pandas DataFrame."""
        import pandas as pd

        self.require_complete()
        path = self.path / LATENTS
        if not path.exists():
            raise InputError(f"run {self.path} has no {LATENTS}")
        return pd.read_parquet(path)

    @functools.cached_property
    def z_columns(self) -> list[str]:
        return _numbered(self.latents.columns, Z_PREFIX)

    @functools.cached_property
    def logvar_columns(self) -> list[str]:
        return _numbered(self.latents.columns, LOGVAR_PREFIX)

    @functools.cached_property
    def z(self) -> np.ndarray:
        """Latent codes, float32 array of shape (n, d)."""
        return self.latents[self.z_columns].to_numpy(dtype=np.float32)

    @functools.cached_property
    def logvar(self) -> np.ndarray | None:
        """Posterior log variances (n, d), or None when the model gives none."""
        cols = self.logvar_columns
        return self.latents[cols].to_numpy(dtype=np.float32) if cols else None

    @property
    def ids(self) -> np.ndarray:
        return self.latents["id"].astype(str).to_numpy()

    @property
    def n(self) -> int:
        return len(self.latents)

    @property
    def latent_dim(self) -> int:
        return len(self.z_columns)

    @property
    def labels(self) -> np.ndarray | None:
        return self.latents["label"].to_numpy() if "label" in self.latents.columns else None

    @functools.cached_property
    def factor_names(self) -> list[str]:
        return [c[len(FACTOR_PREFIX):] for c in self.latents.columns if c.startswith(FACTOR_PREFIX)]

    @property
    def factors(self) -> np.ndarray | None:
        """Ground-truth factor levels (n, n_factors) in ``factor_names`` order, or None."""
        if not self.factor_names:
            return None
        return self.latents[[FACTOR_PREFIX + f for f in self.factor_names]].to_numpy()

    @property
    def metadata_columns(self) -> list[str]:
        """Every column that is not a latent or a log variance (id first)."""
        skip = set(self.z_columns) | set(self.logvar_columns)
        return [c for c in self.latents.columns if c not in skip]

    # -- later stages ----------------------------------------------------------------------
    @functools.cached_property
    def thumbnails(self) -> dict[str, bytes]:
        """id -> PNG bytes; empty when the inputs were not images."""
        import pandas as pd

        path = self.path / THUMBNAILS
        if not path.exists():
            return {}
        table = pd.read_parquet(path)
        return dict(zip(table["id"].astype(str), table["png"]))

    @functools.cached_property
    def projections(self):
        """``projections.parquet`` as a DataFrame (rows in latents order), or None."""
        import pandas as pd

        path = self.path / PROJECTIONS
        return pd.read_parquet(path) if path.exists() else None

    @functools.cached_property
    def metrics(self) -> dict:
        path = self.path / METRICS
        return json.loads(path.read_text()) if path.exists() else {}

    @functools.cached_property
    def traversals(self) -> dict:
        path = self.traversal_dir / TRAVERSAL_INDEX
        return json.loads(path.read_text()) if path.exists() else {}

    def clear(self) -> None:
        """Remove every file a run folder holds, so a fresh run never mixes with an old one."""
        for name in (LATENTS, THUMBNAILS, PROJECTIONS, NEIGHBORS, METRICS, REPORT, MANIFEST):
            self.file(name).unlink(missing_ok=True)
        for folder in (SHARDS, TRAVERSALS):
            shutil.rmtree(self.file(folder), ignore_errors=True)
        self.invalidate()

    def invalidate(self, *names: str) -> None:
        """Forget cached properties so the next access rereads them from disk."""
        for name in names or list(self.__dict__):
            if name in ("path",):
                continue
            self.__dict__.pop(name, None)

    def load_model(self, *, device: str = "auto", trust_checkpoint: bool | None = None):
        """Reload the model the manifest names (for live decoding); None for imported latents."""
        from latentviz.models import load_from_spec

        spec = self.manifest.get("model")
        if not spec:
            return None
        return load_from_spec(spec, device=device, trust_checkpoint=trust_checkpoint)


def _numbered(columns, prefix: str) -> list[str]:
    found = [c for c in columns if c.startswith(prefix) and c[len(prefix):].isdigit()]
    return sorted(found, key=lambda c: int(c[len(prefix):]))


def create_run(path: str | os.PathLike, *, overwrite: bool = False, resume: bool = False) -> Run:
    """Prepare ``path`` for a run. A complete run already there is refused unless ``overwrite``
    (the caller then clears it) or ``resume`` (there is nothing left to do)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} exists and is not a folder; choose another path")
    path.mkdir(parents=True, exist_ok=True)
    run = Run(path, must_exist=False)
    if run.has(MANIFEST) and run.manifest.get("complete") and not (overwrite or resume):
        raise InputError(f"--out {path} already holds a complete run; pass --overwrite to replace it or choose another folder")
    return run
