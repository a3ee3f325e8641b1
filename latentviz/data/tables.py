"""Tables (``.parquet``, ``.csv``): numeric columns are the input, the rest is metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentviz.data.arrays import ArraySource
from latentviz.errors import InputError

_RESERVED = {"id", "label"}


def open_table(path: Path, *, features: list[str] | None = None) -> ArraySource:
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"--data {path}: cannot read the table ({type(exc).__name__}: {exc})") from exc
    if frame.empty:
        raise InputError(f"--data {path}: the table has no rows")
    if features:
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise InputError(f"--features: no column(s) {', '.join(missing)} in {path}; it has {', '.join(map(str, frame.columns))}")
        columns = list(features)
    else:
        columns = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
                   and c not in _RESERVED and not str(c).startswith("factor_")]
    if not columns:
        raise InputError(f"--data {path}: the table has no numeric columns to use as input; choose them with --features a,b,c")
    x = frame[columns].to_numpy(dtype=np.float32)
    rest = [c for c in frame.columns if c not in columns]
    factor_cols = [c for c in rest if str(c).startswith("factor_")]
    extra = {str(c): frame[c].to_numpy() for c in rest if c not in factor_cols and c != "label"}
    source = ArraySource(
        str(path), x,
        labels=frame["label"].to_numpy() if "label" in frame.columns else None,
        factors=frame[factor_cols].to_numpy() if factor_cols else None,
        factor_names=[c[len("factor_"):] for c in factor_cols] if factor_cols else None,
        extra=extra,
    )
    source.kind = "table"
    source.options = {"features": [str(c) for c in columns]}
    if "id" in extra:  # a table's own id column is the stable id
        source.ids = extra.pop("id").astype(str)
    return source
