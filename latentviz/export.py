"""Export a run for other tools: the TensorBoard Embedding Projector, or one CSV/Parquet table.

TensorBoard's projector reads a folder with::

    tensors.tsv             one row of latent values per sample, tab-separated, no header
    pca.tsv, tsne.tsv, ...  the run's own projections (2-D or 3-D), one more tensor each
    metadata.tsv            a header row (when there is more than one column), then one row per sample
                            (the metadata, and each sample's ``cluster`` once the cluster stage ran)
    sprite.png              the thumbnails in one image, row-major, ``single_image_dim`` pixels each
    projector_config.pbtxt  names the files, one embedding per tensor
    events.out.tfevents.*   an empty event file, so TensorBoard sees the folder as a run

Rows of every file are in the run's order (rows whose latents hold NaN or inf are left out: the projector
cannot place them). TensorBoard lists a sub-folder of ``--logdir`` as a run
only when it holds an event file, so several exports under one parent folder appear side by side
(as ``SummaryWriter.add_embedding`` arranges it); the event file is written with TensorBoard's own
writer (``torch.utils.tensorboard``; the ``tensorboard`` package). The projector shows a
projection's tensor as it is when it has 2 or 3 dimensions, so our t-SNE/UMAP maps appear as
computed. The table export holds the id, the metadata, the clusters (``cluster``,
``cluster_probability``, ``cluster_outlier``), the projections and the latents, one row per
sample, for a notebook of one's own.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from latentviz._validation import check_choice
from latentviz.errors import InputError
from latentviz.run import Run, atomic_path, projection_columns, projection_methods, write_bytes, write_table
from latentviz.sprites import png_of, sprite_sheet

FORMATS = ("tensorboard", "csv", "parquet")
#: TensorBoard refuses sprite images larger than this many pixels per side.
SPRITE_MAX_SIDE = 8192
SPRITE_MIN_CELL = 8
TENSORS, METADATA, SPRITE, CONFIG = "tensors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt"


def export_run(run: Run, out: str | Path, *, fmt: str) -> list[Path]:
    """Write ``run`` to ``out`` in format ``fmt`` and return the files written."""
    check_choice("export", "fmt", fmt, FORMATS)
    run.require_complete()
    out = Path(out)
    if fmt == "tensorboard":
        return export_tensorboard(run, out)
    table = run_table(run)
    if fmt == "parquet":
        write_table(out, table)
    else:
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
    return [out]


def run_table(run: Run):
    """id, metadata, clusters, latents and projection columns, one row per sample in the run's order."""
    import pandas as pd

    table = run.metadata.reset_index(drop=True)
    table["id"] = table["id"].astype(str)
    clusters = cluster_columns(run)
    if clusters is not None:
        table = table.join(clusters)
    table = table.join(pd.DataFrame(run.z, columns=run.z_columns))  # numbers, or a one-line error
    projections = run.projections  # the run's rows in their order, or an error
    return table if projections is None else table.join(projections.drop(columns="id").reset_index(drop=True))


def cluster_columns(run: Run):
    """``cluster``, ``cluster_probability`` and ``cluster_outlier`` in the run's row order, or None before ``cluster``."""
    clusters = run.clusters
    if clusters is None:
        return None
    return (
        clusters[["cluster", "probability", "outlier"]]
        .rename(columns={"probability": "cluster_probability", "outlier": "cluster_outlier"})
        .reset_index(drop=True)
    )


def export_tensorboard(run: Run, folder: Path) -> list[Path]:
    """The Embedding Projector's files for ``run`` in ``folder`` (created when missing)."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"OUT {folder} exists and is not a folder; the TensorBoard export writes a folder")
    from latentviz._optional import require

    require("tensorboard", purpose="the TensorBoard export")
    folder.mkdir(parents=True, exist_ok=True)
    rows = _placeable_rows(run)
    tensors = {
        "latents": (TENSORS, run.z[rows]),
        **{f"{method} map": (f"{method}.tsv", coords[rows]) for method, coords in _projections(run).items()},
    }
    written = []
    for path, values in tensors.values():
        write_bytes(folder / path, _tsv_rows(values))
        written.append(folder / path)
    write_bytes(folder / METADATA, _metadata_tsv(run, rows))
    written.append(folder / METADATA)
    sprite = _sprite(run, rows)
    if sprite is not None:
        image, cell = sprite
        write_bytes(folder / SPRITE, png_of(image))
        written.append(folder / SPRITE)
    config = []
    for name, (path, _) in tensors.items():
        config += [
            "embeddings {",
            f'  tensor_name: "{name}"',
            f'  tensor_path: "{path}"',
            f'  metadata_path: "{METADATA}"',
        ]
        if sprite is not None:
            config += [
                "  sprite {",
                f'    image_path: "{SPRITE}"',
                f"    single_image_dim: {cell}",
                f"    single_image_dim: {cell}",
                "  }",
            ]
        config.append("}")
    write_bytes(folder / CONFIG, ("\n".join(config) + "\n").encode())
    written.append(folder / CONFIG)
    return [*written, _event_file(folder)]


def _placeable_rows(run: Run) -> np.ndarray:
    """Rows whose latents are finite: the projector computes its PCA and t-SNE over every row, so one row of
    NaN would leave no point placed. The others are left out of every file, and the user told so."""
    rows = np.isfinite(run.z).all(axis=1)
    if not rows.all():
        from latentviz.progress import say

        say(
            f"export: left out {int((~rows).sum())} of {run.n} rows whose latents hold NaN or inf "
            "(TensorBoard's projector cannot place them)"
        )
    return rows


def _projections(run: Run) -> dict[str, np.ndarray]:
    """method -> its (n, dims) coordinates in the run's row order, for each projection the run has."""
    table = run.projections
    if table is None:
        return {}
    table = table.set_index(table["id"].astype(str)).reindex(run.ids)
    return {m: table[projection_columns(m, dims)].to_numpy(np.float32) for m, dims in projection_methods(table).items()}


def _event_file(folder: Path) -> Path:
    """The folder's TensorBoard event file (written once, empty): what makes TensorBoard list the folder as a run."""
    existing = min(folder.glob("events.out.tfevents.*"), default=None)
    if existing is not None:
        return existing
    from torch.utils.tensorboard import SummaryWriter

    SummaryWriter(log_dir=str(folder)).close()
    return min(folder.glob("events.out.tfevents.*"))


def _tsv_rows(z: np.ndarray) -> bytes:
    buffer = io.StringIO()
    np.savetxt(buffer, z, delimiter="\t", fmt="%.7g")
    return buffer.getvalue().encode()


def _metadata_tsv(run: Run, rows: np.ndarray) -> bytes:
    """Metadata of ``rows`` (a mask); TensorBoard wants no header when there is a single column."""
    table = run.metadata.reset_index(drop=True)
    clusters = cluster_columns(run)
    if clusters is not None:
        table = table.assign(cluster=clusters["cluster"])
    table = table[rows]
    columns = list(table.columns)
    lines = ["\t".join(_cell(c) for c in columns)] if len(columns) > 1 else []
    for row in table.itertuples(index=False):
        lines.append("\t".join(_cell(v) for v in row))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _cell(value) -> str:
    """One TSV cell: tabs and line breaks would shift columns or rows, so they become spaces."""
    return " ".join(str(value).replace("\t", " ").splitlines())


def _sprite(run: Run, rows: np.ndarray):
    """(sprite image, cell side) of the thumbnails of ``rows`` (a mask) in row order, or None without thumbnails."""
    thumbs = run.thumbnails
    if not thumbs:
        return None
    from PIL import Image

    first = Image.open(io.BytesIO(next(iter(thumbs.values()))))
    ids = run.ids[rows]
    per_side = math.ceil(math.sqrt(len(ids)))
    fit = SPRITE_MAX_SIDE // per_side
    if fit < SPRITE_MIN_CELL:  # small images stay as they are; only shrinking below the minimum is refused
        raise InputError(
            f"export: {len(ids):,} thumbnails do not fit TensorBoard's {SPRITE_MAX_SIDE} px sprite "
            f"at {SPRITE_MIN_CELL} px or more each; export a smaller run (latentviz encode --limit)"
        )
    cell = min(max(first.size), fit)
    return sprite_sheet([thumbs.get(i) for i in ids], cell=cell, columns=per_side), cell
