"""``latentviz import``: precomputed latents (no model) -> a run folder every later stage can use."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from latentviz import run as runfolder
from latentviz.errors import InputError
from latentviz.latent_stats import LatentStats


def read_latents(path: Path, *, columns: list[str] | None = None):
    """(z, metadata DataFrame with id first) from .npy / .npz / .parquet / .csv."""
    import pandas as pd

    if not path.is_file():
        raise InputError(f"LATENTS {path}: no such file")
    suffix = path.suffix.lower()
    meta = pd.DataFrame()
    if suffix == ".npy":
        z = _load_np(path)
    elif suffix == ".npz":
        archive = _load_np(path)
        key = next((k for k in ("z", "latents", "embeddings", "x") if k in archive), None)
        if key is None:
            raise InputError(f"LATENTS {path}: the .npz has no array 'z' (it has {', '.join(archive.files)})")
        z = archive[key]
        label = next((archive[k] for k in ("labels", "label", "y") if k in archive), None)
        if label is not None:
            meta["label"] = np.asarray(label).reshape(-1)
        if "factors" in archive:
            factors = np.asarray(archive["factors"]).reshape(len(z), -1)
            names = [str(n) for n in archive["factor_names"]] if "factor_names" in archive else [str(i) for i in range(factors.shape[1])]
            if len(names) != factors.shape[1]:
                raise InputError(f"LATENTS {path}: {len(names)} factor_names for {factors.shape[1]} factor columns")
            for j, name in enumerate(names):
                meta[f"{runfolder.FACTOR_PREFIX}{name}"] = factors[:, j]
    elif suffix in (".parquet", ".csv"):
        try:
            frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:
            raise InputError(f"LATENTS {path}: cannot read the table ({type(exc).__name__}: {exc})") from exc
        if columns:
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise InputError(f"--columns: no column(s) {', '.join(missing)} in {path}")
        else:
            columns = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
                       and not pd.api.types.is_bool_dtype(frame[c]) and c not in ("id", "label")
                       and not str(c).startswith(runfolder.FACTOR_PREFIX)]
        if not columns:
            raise InputError(f"LATENTS {path}: no numeric columns to use as latents; name them with --columns a,b,c")
        z = frame[columns].to_numpy(dtype=np.float32)
        meta = frame[[c for c in frame.columns if c not in columns]].reset_index(drop=True)
    else:
        raise InputError(f"LATENTS {path}: unsupported type '{suffix}'; use .npy, .npz, .parquet or .csv")
    z = np.asarray(z)
    if z.ndim != 2 or len(z) == 0:
        raise InputError(f"LATENTS {path}: latents must be a non-empty 2-D array (n, d); got shape {z.shape}")
    if not np.issubdtype(z.dtype, np.number):
        raise InputError(f"LATENTS {path}: latents must be numeric; got {z.dtype}")
    if len(meta) and len(meta) != len(z):
        raise InputError(f"LATENTS {path}: {len(meta)} metadata rows for {len(z)} latents")
    ids = meta.pop("id").astype(str).to_numpy() if "id" in meta.columns else np.arange(len(z)).astype(str)
    meta.insert(0, "id", ids)
    return z.astype(np.float32), meta


def _load_np(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"LATENTS {path}: not a readable numpy file ({exc})") from exc


def import_latents(path, out, *, columns: list[str] | None = None, overwrite: bool = False) -> runfolder.Run:
    """Write a complete run folder from precomputed latents."""
    from latentviz.encode import versions

    started = time.perf_counter()
    path = Path(path)
    z, meta = read_latents(path, columns=columns)
    run = runfolder.create_run(out, overwrite=overwrite)
    run.clear()
    table = meta.copy()
    for j in range(z.shape[1]):
        table[f"{runfolder.Z_PREFIX}{j}"] = z[:, j]
    stats = LatentStats(z.shape[1])
    stats.update(z)
    run.update_manifest(complete=False)
    runfolder.write_table(run.file(runfolder.LATENTS), table)
    run.update_manifest(versions=versions(), model=None, kind="imported", latent_dim=int(z.shape[1]), latent_shape=None,
                        data={"spec": str(path), "kind": "latents", "n": len(z)}, n=len(z), device=None, seed=None,
                        parameters={"import": {"columns": columns}}, latent_stats=stats.compute(),
                        timings={"import": round(time.perf_counter() - started, 4)})
    run.update_manifest(complete=True)
    run.invalidate()
    return run
