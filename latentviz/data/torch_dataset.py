"""``MODULE_OR_FILE:CALLABLE`` returning a torch ``Dataset`` whose items are ``x``, ``(x, label)`` or dicts."""

from __future__ import annotations

import numpy as np
import torch

from latentviz._imports import import_callable
from latentviz.data._base import Batch, DataSource, image_array, is_image_array
from latentviz.errors import InputError

_X_KEYS = ("x", "input", "inputs", "image", "img", "data", "pixel_values")
_LABEL_KEYS = ("label", "labels", "y", "target", "targets")


class DatasetSource(DataSource):
    def __init__(self, spec: str):
        factory = import_callable(spec, option="--data")
        try:
            self.dataset = factory()
        except Exception as exc:
            raise InputError(f"--data {spec}: calling it failed: {type(exc).__name__}: {exc}") from exc
        if not hasattr(self.dataset, "__getitem__") or not hasattr(self.dataset, "__len__"):
            raise InputError(
                f"--data {spec}: returned {type(self.dataset).__name__}, not a map-style Dataset with __len__"
            )
        if len(self.dataset) == 0:
            raise InputError(f"--data {spec}: the data set is empty")
        first, _, _ = self._split(self.dataset[0])
        self._item_shape = tuple(first.shape)
        image = is_image_array((1, *self._item_shape)) and first.is_floating_point()
        super().__init__(spec=spec, kind="image" if image else "array")

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def item_shape(self):
        return self.conformed_shape(self._item_shape) if self.kind == "image" else self._item_shape

    @staticmethod
    def _split(item):
        """(x, label, other metadata) of one item."""
        label, other = None, {}
        if isinstance(item, dict):
            key = next((k for k in _X_KEYS if k in item), None)
            if key is None:
                raise InputError(f"--data: dict items need one of the keys {', '.join(_X_KEYS)}; got {', '.join(item)}")
            x = item[key]
            label_key = next((k for k in _LABEL_KEYS if k in item), None)
            label = item[label_key] if label_key else None
            other = {k: v for k, v in item.items() if k not in (key, label_key) and np.ndim(v) == 0}
        elif isinstance(item, (tuple, list)):
            x = item[0]
            label = item[1] if len(item) > 1 else None
        else:
            x = item
        x = as_input(x)
        if np.ndim(label) > 0 and np.size(np.asarray(label)) != 1:  # .item() would fail; a reshape would mix rows
            raise InputError(
                f"--data: an item's label holds {np.size(np.asarray(label))} values; give one label per item"
            )
        if isinstance(label, torch.Tensor):
            label = label.item()
        other = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in other.items()}
        return x, label, other

    def read(self, start: int, stop: int) -> Batch:
        xs: list[torch.Tensor] = []
        labels, others = [], []
        for i in range(start, stop):
            x, label, other = self._split(self.dataset[i])
            if self.kind == "image":
                x = torch.from_numpy(self.conform(x[None].numpy())[0])
            if xs and x.shape != xs[0].shape:
                raise InputError(
                    f"--data {self.spec}: item {i} has shape {tuple(x.shape)} but item {start} has "
                    f"{tuple(xs[0].shape)}; every input needs one shape (for images: --image-size HxW, "
                    "--channels 1 or 3)"
                )
            xs.append(x)
            labels.append(label)
            others.append(other)
        x = torch.stack(xs)
        meta = {"id": [str(i) for i in range(start, stop)]}
        if any(label is not None for label in labels):
            meta["label"] = labels
        for key in others[0] if others else ():
            meta[key] = [o.get(key) for o in others]
        return Batch(x=x, meta=meta, images=x if self.kind == "image" else None)


def as_input(x) -> torch.Tensor:
    """One item's input as a tensor: PIL images and uint8 images become float (C, H, W) in [0, 1], like uint8 arrays."""
    if type(x).__module__.startswith("PIL.") or (
        getattr(x, "dtype", None) in (np.uint8, torch.uint8) and is_image_array((1, *np.shape(x)))
    ):
        return torch.from_numpy(image_array(x))
    return torch.as_tensor(x)
