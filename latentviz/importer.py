"""``latentviz import``: precomputed latents (no model) -> a run folder every later stage can use."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from latentviz import run as runfolder
from latentviz._validation import NpzArrays, check_codes, check_per_row, dedupe_ids
from latentviz.data import word_vectors
from latentviz.errors import InputError
from latentviz.latent_stats import LatentStats


def read_latents(path: Path, *, columns: list[str] | None = None, dedupe: str | None = None, trust: bool = False):
    """(z, metadata DataFrame with id first, {"format", "columns"}) from .npy / .npz / .parquet / .csv or word vectors.

    Word vectors (:mod:`latentviz.data.word_vectors`; ``trust`` allows gensim's pickled forms)
    give the words as ``id`` and ``label``. ``columns`` picks a table's latent columns
    (:func:`latent_columns`).

    ``dedupe`` is ``--dedupe-ids`` (see :func:`latentviz._validation.dedupe_ids`); without it
    duplicate ids are refused.
    """
    import pandas as pd

    whom = f"LATENTS {path}"
    if not path.is_file():
        raise InputError(f"LATENTS {path}: no such file")
    suffix = path.suffix.lower()
    meta = pd.DataFrame()
    form = suffix.lstrip(".")
    if suffix == ".npy":
        z = _load_np(path)
    elif suffix == ".npz":
        archive = _load_np(path)
        key = next((k for k in ("z", "latents", "embeddings", "x") if k in archive), None)
        if key is None:
            raise InputError(f"LATENTS {path}: the .npz has no array 'z' (it has {', '.join(archive.files)})")
        z = archive[key]
    elif suffix in (".parquet", ".csv"):
        try:
            frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:
            raise InputError(f"LATENTS {path}: cannot read the table ({type(exc).__name__}: {exc})") from exc
        columns = latent_columns(frame, columns, path)
        try:
            z = frame[columns].to_numpy(dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InputError(f"--columns: the latent columns of {path} must be numeric ({exc})") from None
        meta = frame[[c for c in frame.columns if c not in columns]].reset_index(drop=True)
        for c in meta.columns:
            if c == "label" or str(c).startswith(runfolder.FACTOR_PREFIX):
                check_per_row(meta[c].to_numpy(), len(z), name=f"column {c}", whom=whom)
    elif suffix in word_vectors.SUFFIXES:
        if columns:
            raise InputError(f"--columns: {path} holds word vectors, not a table; leave --columns out")
        z, words, form = word_vectors.read_word_vectors(path, trust=trust)
        meta = pd.DataFrame({"id": words, "label": words})
    else:
        raise InputError(
            f"LATENTS {path}: unsupported type '{suffix}'; use .npy, .npz, .parquet, .csv or word "
            f"vectors ({', '.join(word_vectors.SUFFIXES)})"
        )
    z = np.asarray(z)
    if z.ndim != 2 or len(z) == 0:
        raise InputError(f"LATENTS {path}: latents must be a non-empty 2-D array (n, d); got shape {z.shape}")
    if not np.issubdtype(z.dtype, np.number):
        raise InputError(f"LATENTS {path}: latents must be numeric; got {z.dtype}")
    check_codes(z, whom=whom)
    if suffix == ".npz":
        meta = _npz_metadata(archive, len(z), whom)
    ids = meta.pop("id").to_numpy() if "id" in meta.columns else np.arange(len(z))
    ids, keep = dedupe_ids(ids, dedupe, whom=whom)
    if keep is not None:
        z, meta, ids = z[keep], meta[keep].reset_index(drop=True), ids[keep]
    meta.insert(0, "id", ids.astype(str))
    return z.astype(np.float32), meta, {"format": form, "columns": columns}


def latent_columns(frame, spec: list[str] | None, path) -> list[str]:
    """The table columns that hold the latents, in order.

    ``spec`` (``--columns``) holds names, globs (``e*``) and ranges (``e0:e31``, both ends
    included). Without it every float column is a latent; integer, boolean and text columns,
    ``id``, ``label`` and ``factor_*`` stay metadata (a count or an id is not a latent dimension).
    """
    import fnmatch
    import re

    import pandas as pd

    names = [str(c) for c in frame.columns]
    if not spec:
        chosen = [
            c
            for c, n in zip(frame.columns, names, strict=True)
            if pd.api.types.is_float_dtype(frame[c])
            and n not in ("id", "label")
            and not n.startswith(runfolder.FACTOR_PREFIX)
        ]
        if not chosen:
            raise InputError(
                f"LATENTS {path}: no float columns to use as latents; name them with --columns "
                "(a,b,c, globs like 'e*' or ranges like e0:e31)"
            )
        return chosen
    chosen = []
    for item in spec:
        ranged = re.fullmatch(r"(\D*)(\d+):(\D*)(\d+)", item)
        if ranged and ranged[3] in ("", ranged[1]):
            wanted = [f"{ranged[1]}{i}" for i in range(int(ranged[2]), int(ranged[4]) + 1)]
            missing = [w for w in wanted if w not in names]
            if not wanted or missing:
                raise InputError(f"--columns {item}: no column(s) {', '.join(missing[:5]) or item} in {path}")
        elif any(ch in item for ch in "*?["):
            wanted = fnmatch.filter(names, item)
            if not wanted:
                raise InputError(f"--columns {item}: matches no column of {path}; it has {', '.join(names[:10])}")
        elif item in names:
            wanted = [item]
        else:
            raise InputError(f"--columns: no column {item} in {path}; it has {', '.join(names[:10])}")
        chosen += [frame.columns[names.index(w)] for w in wanted]
    return list(dict.fromkeys(chosen))


def join_metadata(meta, path: Path, whom: str = "--metadata"):
    """``meta`` with the columns of the table at ``path`` (csv/parquet with an ``id`` column) joined by id."""
    import pandas as pd

    try:
        extra = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"{whom} {path}: cannot read the table ({type(exc).__name__}: {exc})") from exc
    if "id" not in extra.columns:
        raise InputError(f"{whom} {path}: the table needs an 'id' column holding the ids (for word vectors: the words)")
    extra = extra.assign(id=extra["id"].astype(str))
    if extra["id"].duplicated().any():
        raise InputError(f"{whom} {path}: id {extra['id'][extra['id'].duplicated()].iloc[0]!r} appears more than once")
    if not extra["id"].isin(meta["id"]).any():
        raise InputError(f"{whom} {path}: none of its ids is an id of the latents; key the table by id")
    kept = meta.drop(columns=[c for c in extra.columns if c != "id" and c in meta.columns])
    return kept.merge(extra, on="id", how="left", validate="one_to_one")


def _npz_metadata(archive, n: int, whom: str):
    """The labels and factor columns of an .npz of latents, each checked to hold one entry per row."""
    import pandas as pd

    meta = pd.DataFrame(index=range(n))
    label = next((archive[k] for k in ("labels", "label", "y") if k in archive), None)
    if label is not None:
        meta["label"] = check_per_row(label, n, name="labels", whom=whom)
    if "factors" in archive:
        factors = check_per_row(archive["factors"], n, name="factors", whom=whom, columns=True)
        names = (
            [str(v) for v in archive["factor_names"]]
            if "factor_names" in archive
            else [str(i) for i in range(factors.shape[1])]
        )
        if len(names) != factors.shape[1]:
            raise InputError(f"{whom}: {len(names)} factor_names for {factors.shape[1]} factor columns")
        for j, name in enumerate(names):
            meta[f"{runfolder.FACTOR_PREFIX}{name}"] = factors[:, j]
    return meta


def _load_np(path: Path):
    if path.suffix.lower() == ".npz":
        return NpzArrays(path, whom="LATENTS")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"LATENTS {path}: not a readable numpy file ({exc})") from exc


def import_latents(
    path,
    out,
    *,
    columns: list[str] | None = None,
    overwrite: bool = False,
    dedupe: str | None = None,
    metadata=None,
    trust: bool = False,
) -> runfolder.Run:
    """Write a complete run folder from precomputed latents (``dedupe``: ``--dedupe-ids``).

    ``metadata``: a csv/parquet table keyed by ``id`` whose columns are joined to the rows.
    """
    from latentviz.encode import versions

    started = time.perf_counter()
    path = Path(path)
    z, meta, info = read_latents(path, columns=columns, dedupe=dedupe, trust=trust)
    if metadata is not None:
        meta = join_metadata(meta, Path(metadata))
    # an overwrite builds beside the old run, which stays whole until the new one replaces it
    with runfolder.new_run(out, command="latentviz import", overwrite=overwrite) as run:
        run.clear()
        table = meta.copy()
        for j in range(z.shape[1]):
            table[f"{runfolder.Z_PREFIX}{j}"] = z[:, j]
        stats = LatentStats(z.shape[1])
        stats.update(z)
        run.update_manifest(complete=False)
        runfolder.write_table(run.file(runfolder.LATENTS), table)
        run.update_manifest(
            versions=versions(),
            model=None,
            kind="imported",
            latent_dim=int(z.shape[1]),
            latent_shape=None,
            data={
                "spec": str(path),
                "kind": "word_vectors" if path.suffix.lower() in word_vectors.SUFFIXES else "latents",
                "format": info["format"],
                "n": len(z),
            },
            n=len(z),
            device=None,
            seed=None,
            parameters={
                "import": {
                    "columns": None if info["columns"] is None else [str(c) for c in info["columns"]],
                    "metadata": None if metadata is None else str(metadata),
                    "dedupe_ids": dedupe,
                }
            },
            latent_stats=stats.compute(),
            timings={"import": round(time.perf_counter() - started, 4)},
        )
        run.update_manifest(complete=True)
    return runfolder.Run(out)
