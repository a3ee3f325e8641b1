"""Array files: ``.npy`` (memory-mapped), ``.npz`` and ``.pt`` (tensor or dict of tensors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentviz._validation import NpzArrays, check_per_row
from latentviz.data._base import Batch, DataSource, is_image_array, scale_uint8, to_channels_first
from latentviz.errors import InputError
from latentviz.run import FACTOR_PREFIX

LABEL_KEYS = ("y", "labels", "label", "targets")


class ArraySource(DataSource):
    """Inputs ``x`` (any array supporting slicing; a memory map stays on disk) plus optional columns."""

    def __init__(self, spec: str, x, *, labels=None, factors=None, factor_names=None, extra: dict | None = None):
        if x.ndim < 1 or len(x) == 0:
            raise InputError(f"--data {spec}: the data set is empty (x has shape {tuple(x.shape)})")
        self.x = x
        self.image = is_image_array(tuple(x.shape))
        whom = f"--data {spec}"
        self.labels = None if labels is None else check_per_row(labels, len(x), name="labels", whom=whom)
        self.factors = (
            None if factors is None else check_per_row(factors, len(x), name="factors", whom=whom, columns=True)
        )
        if self.factors is not None:
            names = list(factor_names) if factor_names is not None else [str(i) for i in range(self.factors.shape[1])]
            if len(names) != self.factors.shape[1]:
                raise InputError(f"--data {spec}: {len(names)} factor_names for {self.factors.shape[1]} factor columns")
            self.factor_names = [str(n) for n in names]
        self.extra = extra or {}
        self.ids = None  # a table's own id column, when it has one; the row index otherwise
        super().__init__(spec=spec, kind="image" if self.image else "array")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def item_shape(self):
        shape = tuple(int(s) for s in self.x.shape[1:])
        return (
            self.conformed_shape(to_channels_first(np.empty((1, *shape), dtype=np.uint8)).shape[1:])
            if self.image
            else shape
        )

    def read(self, start: int, stop: int) -> Batch:
        chunk = np.array(self.x[start:stop])  # a copy: memory-mapped rows are read-only
        if np.issubdtype(chunk.dtype, np.integer) and not self.image:
            x = torch.from_numpy(chunk.astype(np.int64))  # token ids and the like pass through as integers
        else:
            chunk = scale_uint8(chunk)
            x = torch.from_numpy(np.ascontiguousarray(self.conform(to_channels_first(chunk)) if self.image else chunk))
        ids = self.ids[start:stop].tolist() if self.ids is not None else [str(i) for i in range(start, stop)]
        meta: dict = {"id": ids}
        if self.labels is not None:
            meta["label"] = self.labels[start:stop]
        if self.factors is not None:
            for j, name in enumerate(self.factor_names):
                meta[FACTOR_PREFIX + name] = self.factors[start:stop, j]
        for name, values in self.extra.items():
            meta[name] = values[start:stop]
        return Batch(x=x, meta=meta, images=x if self.image else None)


def _first(container, keys):
    for key in keys:
        if key in container:
            return container[key]
    return None


def open_npy(path: Path) -> ArraySource:
    try:
        x = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise InputError(f"--data {path}: not a readable .npy file ({exc})") from exc
    return ArraySource(str(path), x)


def open_npz(path: Path) -> ArraySource:
    archive = NpzArrays(path, whom="--data")
    if "x" not in archive:
        raise InputError(
            f"--data {path}: the .npz has no array 'x' (it has {', '.join(archive.files)}); store the inputs as x"
        )
    names = archive["factor_names"] if "factor_names" in archive else None
    return ArraySource(
        str(path),
        archive["x"],
        labels=_first(archive, LABEL_KEYS),
        factors=archive["factors"] if "factors" in archive else None,
        factor_names=names,
    )


def open_pt(path: Path) -> ArraySource:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(
            f"--data {path}: not a tensor file torch.load can read safely ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(obj, torch.Tensor):
        return ArraySource(str(path), obj.numpy())
    if isinstance(obj, dict) and "x" in obj:

        def arr(v):
            return v.numpy() if isinstance(v, torch.Tensor) else (None if v is None else np.asarray(v))

        return ArraySource(
            str(path),
            arr(obj["x"]),
            labels=arr(_first(obj, LABEL_KEYS)),
            factors=arr(obj.get("factors")),
            factor_names=obj.get("factor_names"),
        )
    raise InputError(f"--data {path}: a .pt data file must hold a tensor or a dict with key 'x'")
