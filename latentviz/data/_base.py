"""The data-source contract: random access to contiguous row ranges, never the whole set at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from latentviz.errors import InputError


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
    #: What ``--channels`` and ``--image-size`` ask of an image source (see :func:`set_image_options`);
    #: typed by cast, not annotated, so that they stay out of the dataclass fields.
    channels = cast("int | None", None)
    image_size = cast("tuple[int, ...] | None", None)

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, start: int, stop: int) -> Batch:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def item_shape(self) -> tuple[int, ...] | None:
        """Shape of one input (without the batch axis), when fixed."""
        return None

    def conform(self, x: np.ndarray) -> np.ndarray:
        """An image batch (n, C, H, W) in [0, 1] with this source's channels and size."""
        return conform_images(x, channels=self.channels, size=self.image_size)

    def conformed_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The (C, H, W) an image of ``shape`` (C, H, W) has after :meth:`conform`."""
        return (self.channels or shape[0], *(self.image_size or shape[1:]))

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


def luma(x: np.ndarray) -> np.ndarray:
    """(n, 3, H, W) RGB -> (n, 1, H, W) with PIL's ITU-R 601-2 weights (what ``Image.convert("L")`` uses)."""
    return np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), x, axes=([0], [1]))[:, None].astype(np.float32)


def conform_images(x: np.ndarray, *, channels: int | None = None, size: tuple[int, ...] | None = None) -> np.ndarray:
    """Images (n, C, H, W), float in [0, 1], with ``channels`` (1 or 3) and ``size`` (H, W) as asked.

    The one conversion every image-like source applies: RGBA drops alpha; 1 -> 3 repeats the
    channel, 3 -> 1 takes the luma; resizing is bilinear with antialiasing (as PIL resizes).
    """
    if x.shape[1] == 4 and channels is not None:
        x = x[:, :3]
    if channels == 3 and x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    elif channels == 1 and x.shape[1] == 3:
        x = luma(x)
    elif channels is not None and x.shape[1] != channels:
        raise InputError(
            f"--channels {channels}: cannot convert images with {x.shape[1]} channels; images need 1, 3 or 4 channels"
        )
    if size is not None and tuple(x.shape[2:]) != tuple(size):
        import torch

        x = (
            torch.nn.functional.interpolate(
                torch.from_numpy(np.ascontiguousarray(x, np.float32)),
                size=tuple(size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            .clamp_(0, 1)
            .numpy()
        )
    return np.ascontiguousarray(x, dtype=np.float32)


def image_array(item) -> np.ndarray:
    """One image as (C, H, W) float32 in [0, 1]: a PIL image, or a uint8 array/tensor (HWC, CHW or HW).

    Grayscale PIL modes give one channel, every other mode RGB; float arrays pass unchanged.
    """
    from PIL import Image

    if isinstance(item, Image.Image):
        item = item.convert("L" if item.mode in GRAY_MODES else "RGB")
    arr = np.asarray(item.numpy() if hasattr(item, "numpy") and not isinstance(item, np.ndarray) else item)
    return to_channels_first(scale_uint8(arr)[None])[0]


#: PIL modes read as one channel.
GRAY_MODES = ("L", "I", "I;16", "F", "1", "LA")


def parse_channels(value) -> int | None:
    """--channels: None, 1 or 3."""
    if value is None:
        return None
    if str(value) not in ("1", "3"):
        raise InputError(f"--channels: '{value}' is not 1 or 3 (grayscale or RGB)")
    return int(value)


def set_image_options(source: DataSource, *, image_size=None, channels=None) -> DataSource:
    """Give an image source its ``--image-size`` and ``--channels``; refuse them for data that are not images."""
    if image_size is None and channels is None:
        return source
    if source.kind != "image":
        option = "--image-size" if image_size is not None else "--channels"
        raise InputError(
            f"{option}: --data {source.spec} is not images ({source.kind} data, items of shape "
            f"{source.item_shape}); leave {option} out"
        )
    source.image_size, source.channels = image_size, channels
    source.options = {
        **source.options,
        **({"image_size": list(image_size)} if image_size else {}),
        **({"channels": channels} if channels else {}),
    }
    return source
