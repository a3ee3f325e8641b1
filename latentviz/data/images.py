"""A folder of PNG/JPEG images; class sub-folders become ``label``, the relative path is the ``id``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from latentviz.data._base import (
    GRAY_MODES,
    Batch,
    DataSource,
    conform_images,
    image_array,
)
from latentviz.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@contextlib.contextmanager
def opened_image(source, what: str):
    """``PIL.Image.open(source)`` (a path or a file object) for the block; an image Pillow cannot read,
    or one too large to decode safely, is an InputError about ``what`` ("image a/b.png").

    Pillow's decompression-bomb guard raises ``DecompressionBombError``, which is not an OSError.
    """
    from PIL import Image

    try:
        with Image.open(source) as img:
            yield img
    except Image.DecompressionBombError as exc:
        raise InputError(f"--data: {what} is too large to decode safely ({exc}); shrink it or remove it") from None
    except OSError as exc:
        raise InputError(f"--data: cannot read {what} ({exc}); replace or remove it") from None


class ImageFolder(DataSource):
    """Images as float32 in [0, 1], channels first; grayscale stays one channel (unless ``channels``), RGBA drops alpha."""

    def __init__(self, root: str | Path, *, image_size: tuple[int, int] | None = None, channels: int | None = None):
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise InputError(
                f"--data {root}: no PNG/JPEG images found; give a folder of images (class sub-folders optional)"
            )
        self.root = root
        self.files = files
        with opened_image(files[0], f"image {files[0]}") as first:
            self.channels = channels or (1 if first.mode in GRAY_MODES else 3)
            self.hw = tuple(image_size) if image_size else (first.height, first.width)
        self.fixed_size = image_size is not None
        super().__init__(spec=str(root), kind="image", options={"image_size": list(self.hw), "channels": self.channels})

    def __len__(self) -> int:
        return len(self.files)

    @property
    def item_shape(self):
        return (self.channels, *self.hw)

    def _label(self, rel: Path) -> str | None:
        return rel.parts[0] if len(rel.parts) > 1 else None

    def read(self, start: int, stop: int) -> Batch:
        arrays, ids, labels = [], [], []
        for path in self.files[start:stop]:
            rel = path.relative_to(self.root)
            with opened_image(path, f"image {path}") as img:
                arr = image_array(img)
            if tuple(arr.shape[1:]) != self.hw and not self.fixed_size:
                raise InputError(
                    f"--data: {rel} is {arr.shape[1]}x{arr.shape[2]} but the first image is "
                    f"{self.hw[0]}x{self.hw[1]}; pass --image-size HxW to resize all images"
                )
            arrays.append(conform_images(arr[None], channels=self.channels, size=self.hw)[0])
            ids.append(rel.as_posix())
            labels.append(self._label(rel))
        x = torch.from_numpy(np.stack(arrays))
        meta: dict[str, list] = {"id": ids}
        if any(label is not None for label in labels):
            meta["label"] = labels
        return Batch(x=x, meta=meta, images=x)
