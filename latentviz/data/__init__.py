"""Data sources: each gives random access to row ranges as ``Batch(x, meta)``, streaming from disk.

``open_source(spec)`` understands a folder of images, ``.npy`` (memory-mapped), ``.npz``, ``.pt``,
``.parquet``/``.csv`` tables, Hugging Face datasets (a ``save_to_disk`` folder, its ``.arrow``
files, Parquet with image or list columns), ``MODULE_OR_FILE:CALLABLE`` returning a torch
Dataset, and ``builtin:shapes``. Text inputs for transformer encoders live in :mod:`latentviz.data.text`.
"""

from __future__ import annotations

from pathlib import Path

from latentviz._imports import looks_like_callable_spec
from latentviz.data._base import Batch, DataSource
from latentviz.errors import InputError

__all__ = ["Batch", "DataSource", "open_source", "parse_image_size"]


def open_source(spec: str, *, image_size=None, features=None, channels=None, **text_options) -> DataSource:
    """Open the data source ``spec``; raise InputError with a fix when it cannot be used.

    ``image_size`` (HxW) and ``channels`` (1 or 3) apply to every image source alike
    (:func:`latentviz.data._base.conform_images`) and are refused for data that are not images.
    """
    from latentviz.data._base import parse_channels, set_image_options

    size, channels = parse_image_size(image_size), parse_channels(channels)
    cols = [c.strip() for c in features.split(",")] if isinstance(features, str) else features
    path = Path(spec)
    if path.is_dir() and not spec.startswith("builtin:"):
        from latentviz.data.hf_datasets import is_hf_folder, open_hf_folder

        if is_hf_folder(path):
            return set_image_options(open_hf_folder(path, features=cols), image_size=size, channels=channels)
        from latentviz.data.images import ImageFolder

        return ImageFolder(path, image_size=size, channels=channels)
    return set_image_options(_open(spec, path, cols, text_options), image_size=size, channels=channels)


def _open(spec: str, path: Path, features, text_options: dict) -> DataSource:
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1].split("?", 1)[0]
        if name != "shapes":
            raise InputError(f"--data: unknown built-in data set '{name}'; choose from shapes")
        from latentviz.data.shapes import from_spec

        return from_spec(spec)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".txt" or text_options.get("text_column") or (suffix == ".npz" and _is_token_archive(path)):
            from latentviz.data.text import open_text

            return open_text(path, **text_options)
        if suffix == ".npy":
            from latentviz.data.arrays import open_npy

            return open_npy(path)
        if suffix == ".npz":
            from latentviz.data.arrays import open_npz

            return open_npz(path)
        if suffix in (".pt", ".pth"):
            from latentviz.data.arrays import open_pt

            return open_pt(path)
        if suffix == ".arrow":
            from latentviz.data.hf_datasets import open_arrow

            return open_arrow(path, features=features)
        if suffix in (".parquet", ".csv"):
            from latentviz.data.tables import open_table

            return open_table(path, features=features)
        raise InputError(
            f"--data {path}: unsupported file type '{suffix}'; use an image folder, a Hugging Face "
            ".arrow file or save_to_disk folder, .npy, .npz, .pt, .parquet, .csv or .txt"
        )
    if looks_like_callable_spec(spec):
        from latentviz.data.torch_dataset import DatasetSource

        return DatasetSource(spec)
    raise InputError(f"--data {spec}: no such file or folder (and not builtin:shapes or MODULE:CALLABLE)")


def _is_token_archive(path: Path) -> bool:
    from latentviz.data.text import is_token_archive

    return is_token_archive(path)


def parse_image_size(value) -> tuple[int, int] | None:
    """'64x64' or '64' -> (64, 64); None stays None; a recorded [64, 64] becomes (64, 64)."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        text = str(value).lower().replace("×", "x")
        parts = text.split("x") if "x" in text else [text, text]
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"--image-size: '{value}' is not HxW (e.g. 64x64)") from None
    if h < 1 or w < 1:
        raise InputError(f"--image-size: '{value}' must be positive")
    return h, w
