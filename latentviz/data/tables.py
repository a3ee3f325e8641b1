"""Tables (``.parquet``, ``.csv``): numeric columns are the input, the rest is metadata.

A Parquet file's input columns are read a row group at a time while encoding, so a table of a
million wide rows never sits in memory whole; only the (narrow) metadata columns are loaded up
front. A CSV file has no random access and is read whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentviz.data.arrays import ArraySource
from latentviz.data.hf_datasets import ArrowSource, column_kind, has_nested_columns, open_hf_parquet
from latentviz.errors import InputError
from latentviz.run import FACTOR_PREFIX

_RESERVED = {"id", "label"}


class ParquetRows:
    """The input columns of a Parquet file as a read-only (n, d) float32 array, read by row group."""

    def __init__(self, file, columns: list[str]):
        self.file, self.columns = file, columns
        sizes = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.shape, self.ndim, self.dtype = (int(self.offsets[-1]), len(columns)), 2, np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(len(self))
        if stop <= start:
            return np.empty((0, self.shape[1]), np.float32)
        first = int(np.searchsorted(self.offsets, start, side="right")) - 1
        last = int(np.searchsorted(self.offsets, stop, side="left"))
        table = self.file.read_row_groups(list(range(first, last)), columns=self.columns)
        block = np.column_stack([table[c].to_numpy(zero_copy_only=False) for c in self.columns]).astype(np.float32)
        offset = start - int(self.offsets[first])
        return block[offset : offset + stop - start]


def _parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:
        raise InputError(f"--data {path}: cannot read the table ({type(exc).__name__}: {exc})") from exc


def _csv(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"--data {path}: cannot read the table ({type(exc).__name__}: {exc})") from exc


def _is_nested(file, name: str) -> bool:
    """Whether column ``name`` of a Parquet file holds images or lists."""
    return name in file.schema_arrow.names and column_kind(file.schema_arrow.field(name).type) is not None


def open_table(path: Path, *, features: list[str] | None = None) -> ArraySource | ArrowSource:
    import pandas as pd
    import pyarrow as pa

    file = _parquet(path) if path.suffix.lower() == ".parquet" else None
    if file is not None and (
        has_nested_columns(file) if not features else len(features) == 1 and _is_nested(file, features[0])
    ):
        return open_hf_parquet(file, str(path), features=features)
    if file is not None:
        fields = [f for f in file.schema_arrow if not f.name.startswith("__index_level_")]
        names = [f.name for f in fields]
        numeric = [f.name for f in fields if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    else:
        frame = _csv(path)
        names = list(frame.columns)
        numeric = [
            c for c in names if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
    if features:
        missing = [c for c in features if c not in names]
        if missing:
            raise InputError(
                f"--features: no column(s) {', '.join(missing)} in {path}; it has {', '.join(map(str, names))}"
            )
        columns = list(features)
        other = [c for c in columns if c not in numeric]
        if other:
            raise InputError(
                f"--features: column {other[0]} of {path} does not hold numbers; give numeric columns "
                f"({', '.join(map(str, numeric)) or 'the table has none'}), or one list or image column "
                "on its own (--features COLUMN, Parquet only)"
            )
    else:
        columns = [c for c in numeric if c not in _RESERVED and not str(c).startswith(FACTOR_PREFIX)]
    if not columns:
        raise InputError(
            f"--data {path}: the table has no numeric columns to use as input; choose them with --features a,b,c"
        )
    rest = [c for c in names if c not in columns]
    if file is not None:
        if file.metadata.num_rows == 0:
            raise InputError(f"--data {path}: the table has no rows")
        frame = file.read(columns=rest).to_pandas() if rest else pd.DataFrame(index=range(file.metadata.num_rows))
        x = ParquetRows(file, columns)
    else:
        if frame.empty:
            raise InputError(f"--data {path}: the table has no rows")
        x = frame[columns].to_numpy(dtype=np.float32)
    factor_cols = [c for c in rest if str(c).startswith(FACTOR_PREFIX)]
    extra = {str(c): frame[c].to_numpy() for c in rest if c not in factor_cols and c != "label"}
    source = ArraySource(
        str(path),
        x,
        labels=frame["label"].to_numpy() if "label" in frame.columns else None,
        factors=frame[factor_cols].to_numpy() if factor_cols else None,
        factor_names=[c[len(FACTOR_PREFIX) :] for c in factor_cols] if factor_cols else None,
        extra=extra,
    )
    source.kind = "table"
    source.options = {"features": [str(c) for c in columns]}
    if "id" in extra:  # a table's own id column is the stable id
        source.ids = extra.pop("id").astype(str)
    return source
