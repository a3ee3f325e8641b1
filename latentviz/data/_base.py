"""The data-source contract: random access to contiguous row ranges, never the whole set at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Batch:
    """Rows ``[start, stop)`` of a source.

    ``x`` is a tensor (or a dict of tensors, for token inputs); ``meta`` maps column names to
    one value per row and always holds ``id``. ``images`` is the un-normalised image batch
    (float in [0, 1], channels first) that thumbnails are made from, when the inputs are images.
    """

    x: Any
    meta: dict[str, Any]
    images: Any = None


@dataclass
class DataSource:
    """Base class. Subclasses implement ``__len__`` and ``read(start, stop)``."""

    spec: str
    kind: str = "array"  # image | array | table | text | tokens
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, start: int, stop: int) -> Batch:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def item_shape(self) -> tuple[int, ...] | None:
        """Shape of one input (without the batch axis), when fixed."""
        return None

    def describe(self) -> dict:
        """What the manifest records about the source."""
        return {"spec": self.spec, "kind": self.kind, "n": len(self), "item_shape": self.item_shape, **self.options}


def scale_uint8(x: np.ndarray) -> np.ndarray:
    """uint8 images become float32 in [0, 1]; everything else becomes float32 unchanged."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32, copy=False)


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """(n, H, W) gets a channel axis; (n, H, W, C) with C in 1/3/4 becomes (n, C, H, W)."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return np.moveaxis(x, -1, 1)
    return x


def is_image_array(shape: tuple[int, ...]) -> bool:
    """(n, H, W) or (n, C, H, W) / (n, H, W, C) with a 1, 3 or 4 channel axis."""
    if len(shape) == 3:
        return min(shape[1:]) >= 4
    if len(shape) == 4:
        return shape[1] in (1, 3, 4) or shape[-1] in (1, 3, 4)
    return False
