"""Text inputs for transformers encoders: texts to tokenize, or token ids tokenized already.

- ``.txt``: one text per line (blank lines skipped); the id is the text's row number.
- ``.csv`` / ``.parquet`` with ``--text-column NAME``: that column's texts; ``id`` and ``label``
  columns are used as such and the other columns kept as metadata.
- ``.npz`` with ``input_ids`` (n × tokens, integers) and optionally ``attention_mask`` (and
  ``labels``): already tokenized.

Texts reach the model as a list of strings and are tokenized there, with the model folder's own
tokenizer (:mod:`latentviz.models._transformers`). Each row keeps a ``text`` column (cut to
:data:`TEXT_PREVIEW` characters) so the dashboard can show what a point is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentviz._validation import NpzArrays, check_per_row
from latentviz.data._base import Batch, DataSource
from latentviz.errors import InputError

TEXT_PREVIEW = 200
TABLE_SUFFIXES = (".csv", ".parquet")


class TextSource(DataSource):
    """A list of texts plus per-row metadata columns (arrays of the same length)."""

    def __init__(
        self, spec: str, texts: list[str], *, ids=None, columns: dict | None = None, options: dict | None = None
    ):
        if not texts:
            raise InputError(f"--data {spec}: no texts found")
        self.texts = texts
        self.ids = None if ids is None else [str(i) for i in ids]
        self.columns = columns or {}
        super().__init__(spec=spec, kind="text", options=options or {})

    def __len__(self) -> int:
        return len(self.texts)

    def read(self, start: int, stop: int) -> Batch:
        texts = self.texts[start:stop]
        meta = {
            "id": self.ids[start:stop] if self.ids is not None else [str(i) for i in range(start, stop)],
            "text": [t[:TEXT_PREVIEW] for t in texts],
        }
        meta.update({name: values[start:stop] for name, values in self.columns.items()})
        return Batch(x=texts, meta=meta)


class TokenSource(DataSource):
    """Pre-tokenized ``input_ids`` (n × tokens) with an optional ``attention_mask`` and labels."""

    def __init__(self, spec: str, input_ids: np.ndarray, *, attention_mask=None, labels=None):
        if input_ids.ndim != 2 or not np.issubdtype(input_ids.dtype, np.integer):
            raise InputError(
                f"--data {spec}: input_ids must be integers of shape (n, tokens); "
                f"got {input_ids.dtype} of shape {input_ids.shape}"
            )
        if labels is not None:
            labels = check_per_row(labels, len(input_ids), name="labels", whom=f"--data {spec}")
        if attention_mask is not None and len(attention_mask) != len(input_ids):
            raise InputError(
                f"--data {spec}: attention_mask has {len(attention_mask)} rows but input_ids has {len(input_ids)}"
            )
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise InputError(
                f"--data {spec}: attention_mask has shape {attention_mask.shape} but input_ids has {input_ids.shape}"
            )
        self.input_ids, self.attention_mask, self.labels = input_ids, attention_mask, labels
        super().__init__(spec=spec, kind="tokens")

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def item_shape(self):
        return (int(self.input_ids.shape[1]),)

    def read(self, start: int, stop: int) -> Batch:
        x = {"input_ids": torch.from_numpy(self.input_ids[start:stop].astype(np.int64))}
        if self.attention_mask is not None:
            x["attention_mask"] = torch.from_numpy(self.attention_mask[start:stop].astype(np.int64))
        meta: dict = {"id": [str(i) for i in range(start, stop)]}
        if self.labels is not None:
            meta["label"] = self.labels[start:stop]
        return Batch(x=x, meta=meta)


def is_token_archive(path: Path) -> bool:
    """True for an ``.npz`` holding ``input_ids`` (and no ``x``)."""
    try:
        files = np.load(path, allow_pickle=False).files
    except (ValueError, OSError):
        return False
    return "input_ids" in files and "x" not in files


def open_text(path: str | Path, *, text_column: str | None = None) -> DataSource:
    """Open ``path`` as texts (``.txt``, a table column) or token ids (``.npz`` with ``input_ids``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _open_tokens(path)
    if suffix in TABLE_SUFFIXES:
        if not text_column:
            raise InputError(f"--data {path}: name the column of texts with --text-column")
        return _open_text_table(path, text_column)
    if text_column:
        raise InputError(f"--text-column applies to .csv and .parquet tables; --data {path} is '{suffix}'")
    if suffix != ".txt":
        raise InputError(f"--data {path}: texts come as .txt (one per line), a .csv/.parquet column or tokens in .npz")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--data {path}: cannot read it as UTF-8 text ({exc})") from exc
    texts = [line for line in lines if line.strip()]
    return TextSource(str(path), texts)


def _open_text_table(path: Path, column: str) -> TextSource:
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many kinds
        raise InputError(f"--data {path}: cannot read the table ({type(exc).__name__}: {exc})") from exc
    if column not in frame.columns:
        raise InputError(f"--text-column: no column '{column}' in {path}; it has {', '.join(map(str, frame.columns))}")
    texts = ["" if pd.isna(v) else str(v) for v in frame[column]]
    columns = {str(c): frame[c].to_numpy() for c in frame.columns if c not in (column, "id")}
    return TextSource(
        str(path),
        texts,
        ids=frame["id"].to_numpy() if "id" in frame.columns else None,
        columns=columns,
        options={"text_column": column},
    )


def _open_tokens(path: Path) -> TokenSource:
    archive = NpzArrays(path, whom="--data")
    if "input_ids" not in archive.files:
        raise InputError(f"--data {path}: token data needs an array 'input_ids' (it has {', '.join(archive.files)})")
    labels = next((archive[k] for k in ("labels", "label", "y") if k in archive.files), None)
    return TokenSource(
        str(path),
        archive["input_ids"],
        attention_mask=archive["attention_mask"] if "attention_mask" in archive.files else None,
        labels=labels,
    )
