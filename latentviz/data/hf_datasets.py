"""Hugging Face ``datasets``: a ``save_to_disk`` folder, one of its ``.arrow`` files, or ``to_parquet`` output.

All three hold an Arrow table. The input is one column: an ``Image`` column (a struct of
``bytes`` and ``path``) or a list/array column, chosen with ``--features NAME`` or else the first
such column; the scalar columns are metadata (``label``, with a ``ClassLabel``'s names, and
``id`` as the stable id). The folder and ``.arrow`` forms are read through the ``datasets``
library; Parquet through pyarrow, a row group at a time.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from latentviz.data._base import (
    Batch,
    DataSource,
    image_array,
    is_image_array,
    scale_uint8,
    to_channels_first,
)
from latentviz.errors import InputError


def is_hf_folder(path: Path) -> bool:
    """A folder ``Dataset.save_to_disk`` (or ``DatasetDict.save_to_disk``) wrote."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def has_nested_columns(file) -> bool:
    """Whether a Parquet file has an image (struct) or list column, which the plain table reader cannot use."""
    return any(column_kind(field.type) for field in file.schema_arrow)


def open_hf_folder(path: Path, *, features=None) -> ArrowSource:
    from latentviz._optional import require

    datasets = require("datasets", purpose=f"--data {path} (a Hugging Face save_to_disk folder)")
    if (path / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in path.iterdir() if p.is_dir())
        raise InputError(
            f"--data {path}: a DatasetDict with splits {', '.join(splits)}; give one split's folder, "
            f"e.g. --data {path / splits[0]}"
            if splits
            else f"--data {path}: an empty DatasetDict"
        )
    try:
        dataset = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise InputError(f"--data {path}: datasets cannot load this folder ({type(exc).__name__}: {exc})") from exc
    return _of_dataset(str(path), dataset, features)


def open_arrow(path: Path, *, features=None) -> ArrowSource:
    from latentviz._optional import require

    datasets = require("datasets", purpose=f"--data {path} (a Hugging Face .arrow file)")
    try:
        dataset = datasets.Dataset.from_file(str(path))
    except Exception as exc:
        raise InputError(
            f"--data {path}: not an Arrow file of a Hugging Face dataset ({type(exc).__name__}: {exc})"
        ) from exc
    return _of_dataset(str(path), dataset, features)


def _of_dataset(spec: str, dataset, features) -> ArrowSource:
    arrow = dataset.with_format("arrow")
    labels = getattr(dataset.features.get("label"), "names", None)
    return ArrowSource(
        spec,
        arrow.data.schema,
        len(dataset),
        lambda start, stop, cols: arrow[start:stop].select(cols),
        features=features,
        label_names=labels,
    )


def open_hf_parquet(file, spec: str, *, features=None) -> ArrowSource:
    """A Parquet file with image or list columns (``Dataset.to_parquet`` writes them), read by row group."""
    offsets = np.concatenate(
        [[0], np.cumsum([file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)])]
    ).astype(np.int64)

    def read(start: int, stop: int, columns: list[str]):
        first = int(np.searchsorted(offsets, start, side="right")) - 1
        last = int(np.searchsorted(offsets, stop, side="left"))
        table = file.read_row_groups(list(range(first, last)), columns=columns)
        return table.slice(start - int(offsets[first]), stop - start)

    return ArrowSource(
        spec,
        file.schema_arrow,
        int(offsets[-1]),
        read,
        features=features,
        label_names=_parquet_label_names(file.schema_arrow),
    )


def _parquet_label_names(schema) -> list[str] | None:
    """The ``label`` ClassLabel's names from the features ``datasets`` stores in the Parquet metadata."""
    try:
        info = json.loads((schema.metadata or {}).get(b"huggingface", b"{}"))
        return info["info"]["features"]["label"]["names"]
    except (KeyError, TypeError, ValueError):
        return None


def column_kind(arrow_type) -> str | None:
    """'image' for a struct of bytes and path, 'list' for a (nested) list column, else None."""
    import pyarrow as pa

    if isinstance(arrow_type, pa.ExtensionType):
        arrow_type = arrow_type.storage_type
    if pa.types.is_struct(arrow_type) and {arrow_type.field(i).name for i in range(arrow_type.num_fields)} >= {
        "bytes",
        "path",
    }:
        return "image"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return "list"
    return None


class ArrowSource(DataSource):
    """Rows of an Arrow table: the input column decoded per batch, the scalar columns as metadata."""

    def __init__(self, spec: str, schema, n: int, read, *, features=None, label_names=None):
        import pyarrow as pa

        super().__init__(spec=spec, kind="array")
        if n == 0:
            raise InputError(f"--data {spec}: the data set has no rows")
        kinds = {f.name: column_kind(f.type) for f in schema if not f.name.startswith("__index_level_")}
        if features:
            names = [features] if isinstance(features, str) else list(features)
            if len(names) != 1 or names[0] not in kinds:
                raise InputError(f"--features: give one column of {spec} as the input; it has {', '.join(kinds)}")
            self.column = names[0]
        else:
            self.column = next((name for name, kind in kinds.items() if kind), None)
            if self.column is None:
                raise InputError(f"--data {spec}: no image or list column to use as input; it has {', '.join(kinds)}")
        self.input_kind = kinds[self.column] or "list"
        self.read_rows = read
        self.n = n
        scalar = [
            name
            for name, kind in kinds.items()
            if kind is None
            and name != self.column
            and not pa.types.is_nested(schema.field(name).type)
            and not pa.types.is_binary(schema.field(name).type)
        ]
        self.meta = read(0, n, scalar).to_pandas() if scalar else None
        if label_names is not None and self.meta is not None and "label" in self.meta:
            codes = self.meta["label"].to_numpy()
            self.meta["label"] = [label_names[c] if 0 <= c < len(label_names) else None for c in codes]
        first = self._inputs(0, 1)
        self.image = self.input_kind == "image" or (first.dtype == np.uint8 and is_image_array(first.shape))
        self._shape = tuple(int(s) for s in (self._to_images(first) if self.image else first).shape[1:])
        self.kind, self.options = "image" if self.image else "array", {"column": self.column}

    def __len__(self) -> int:
        return self.n

    @property
    def item_shape(self):
        return self.conformed_shape(self._shape) if self.image else self._shape

    def _inputs(self, start: int, stop: int) -> np.ndarray:
        """Rows of the input column: decoded images (n, C, H, W) in [0, 1], or the list values as an array."""
        column = self.read_rows(start, stop, [self.column]).column(0).combine_chunks()
        if self.input_kind == "image":
            return self._decode(column.to_pylist(), start)
        return _list_values(column, self.spec, self.column)

    def _decode(self, cells: list, start: int) -> np.ndarray:
        from latentviz.data.images import opened_image

        images: list[np.ndarray] = []
        for i, cell in enumerate(cells):
            where = f"row {start + i} of column {self.column} of {self.spec}"
            try:
                with opened_image(
                    io.BytesIO(cell["bytes"]) if cell and cell.get("bytes") else cell["path"], where
                ) as img:
                    image = self.conform(image_array(img)[None])[0]
            except TypeError as exc:  # a missing cell
                raise InputError(f"--data: {where} is not an image ({exc})") from exc
            if images and image.shape != images[0].shape:
                raise InputError(
                    f"--data {self.spec}: row {start + i} is {'x'.join(map(str, image.shape))} but row "
                    f"{start} is {'x'.join(map(str, images[0].shape))} (CxHxW); pass --image-size HxW "
                    "and --channels 1 or 3"
                )
            images.append(image)
        return np.stack(images)

    def _to_images(self, x: np.ndarray) -> np.ndarray:
        return x if self.input_kind == "image" else to_channels_first(scale_uint8(x))

    def read(self, start: int, stop: int) -> Batch:
        x = self._inputs(start, stop)
        if self.image:
            tensor = torch.from_numpy(self.conform(self._to_images(x)))
        elif np.issubdtype(x.dtype, np.integer):
            tensor = torch.from_numpy(x.astype(np.int64))  # token ids pass through as integers
        else:
            tensor = torch.from_numpy(x.astype(np.float32))
        rows = self.meta.iloc[start:stop] if self.meta is not None else None
        ids = [str(i) for i in range(start, stop)]
        meta: dict = {"id": rows["id"].astype(str).tolist() if rows is not None and "id" in rows else ids}
        if rows is not None:
            meta.update({str(c): rows[c].to_numpy() for c in rows.columns if c != "id"})
        return Batch(x=tensor, meta=meta, images=tensor if self.image else None)


def _list_values(column, spec: str, name: str) -> np.ndarray:
    """A (nested) list column of equal-length rows as one array (n, d1, d2, ...)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ExtensionArray):
        column = column.storage
    shape = [len(column)]
    while (
        pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(column.type)
    ):
        lengths = pc.list_value_length(column)
        low, high = pc.min_max(lengths).values()
        if column.null_count or low.as_py() != high.as_py():
            raise InputError(
                f"--data {spec}: the rows of column {name} differ in length (or are missing); "
                "the input column needs one shape for every row"
            )
        shape.append(int(low.as_py() or 0))
        column = column.flatten()
    values = column.to_numpy(zero_copy_only=False)
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"--data {spec}: column {name} holds {column.type}, not numbers")
    return values.reshape(shape)
