"""Export a run for other tools: the TensorBoard Embedding Projector, or one CSV/Parquet table.

TensorBoard's projector reads a folder with::

    tensors.tsv             one row of latent values per sample, tab-separated, no header
    metadata.tsv            a header row (when there is more than one column), then one row per sample
    sprite.png              the thumbnails in one image, row-major, ``single_image_dim`` pixels each
    projector_config.pbtxt  names the three files (open the folder with ``tensorboard --logdir``)

Rows of all three are in the run's order. The table export holds the id, the metadata, the
projections and the latents, one row per sample, for a notebook of one's own.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from latentviz.errors import InputError
from latentviz.run import Run, atomic_path, write_bytes, write_table
from latentviz.sprites import png_of, sprite_sheet

FORMATS = ("tensorboard", "csv", "parquet")
#: TensorBoard refuses sprite images larger than this many pixels per side.
SPRITE_MAX_SIDE = 8192
SPRITE_MIN_CELL = 8
TENSORS, METADATA, SPRITE, CONFIG = "tensors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt"


def export_run(run: Run, out: str | Path, *, fmt: str) -> list[Path]:
    """Write ``run`` to ``out`` in format ``fmt`` and return the files written."""
    if fmt not in FORMATS:
        raise InputError(f"--format: unknown format '{fmt}'; choose from {', '.join(FORMATS)}")
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
    """id, metadata, projection columns and latents, one row per sample in the run's order."""
    table = run.latents[run.metadata_columns + run.z_columns].reset_index(drop=True)
    table["id"] = table["id"].astype(str)
    projections = run.projections
    if projections is None:
        return table
    coords = projections.assign(id=projections["id"].astype(str))
    return table.merge(coords, on="id", how="left", validate="one_to_one")


def export_tensorboard(run: Run, folder: Path) -> list[Path]:
    """The Embedding Projector's files for ``run`` in ``folder`` (created when missing)."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"OUT {folder} exists and is not a folder; the TensorBoard export writes a folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / TENSORS, folder / METADATA]
    write_bytes(folder / TENSORS, _tsv_rows(run.z))
    write_bytes(folder / METADATA, _metadata_tsv(run))
    sprite = _sprite(run)
    config = ['embeddings {', '  tensor_name: "latents"', f'  tensor_path: "{TENSORS}"', f'  metadata_path: "{METADATA}"']
    if sprite is not None:
        image, cell = sprite
        write_bytes(folder / SPRITE, png_of(image))
        written.append(folder / SPRITE)
        config += ["  sprite {", f'    image_path: "{SPRITE}"', f"    single_image_dim: {cell}",
                   f"    single_image_dim: {cell}", "  }"]
    config.append("}")
    write_bytes(folder / CONFIG, ("\n".join(config) + "\n").encode())
    written.append(folder / CONFIG)
    return written


def _tsv_rows(z: np.ndarray) -> bytes:
    buffer = io.StringIO()
    np.savetxt(buffer, z, delimiter="\t", fmt="%.7g")
    return buffer.getvalue().encode()


def _metadata_tsv(run: Run) -> bytes:
    """Metadata rows; TensorBoard wants no header when there is a single column."""
    columns = run.metadata_columns
    table = run.latents[columns]
    lines = ["\t".join(_cell(c) for c in columns)] if len(columns) > 1 else []
    for row in table.itertuples(index=False):
        lines.append("\t".join(_cell(v) for v in row))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _cell(value) -> str:
    """One TSV cell: tabs and line breaks would shift columns or rows, so they become spaces."""
    return " ".join(str(value).replace("\t", " ").splitlines())


def _sprite(run: Run):
    """(sprite image, cell side) of the run's thumbnails in row order, or None without thumbnails."""
    thumbs = run.thumbnails
    if not thumbs:
        return None
    from PIL import Image

    first = Image.open(io.BytesIO(next(iter(thumbs.values()))))
    per_side = math.ceil(math.sqrt(run.n))
    cell = min(max(first.size), SPRITE_MAX_SIDE // per_side)
    if cell < SPRITE_MIN_CELL:
        raise InputError(f"export: {run.n:,} thumbnails do not fit TensorBoard's {SPRITE_MAX_SIDE} px sprite "
                         f"at {SPRITE_MIN_CELL} px or more each; export a smaller run (latentviz encode --limit)")
    return sprite_sheet([thumbs.get(i) for i in run.ids], cell=cell, columns=per_side), cell
