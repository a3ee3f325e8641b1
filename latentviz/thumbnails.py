"""Small PNG previews (longest side <= 64 px) of image inputs or decoded outputs."""

from __future__ import annotations

import io

import numpy as np

THUMB_SIZE = 64


def to_uint8_image(array: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) floats -> (H, W) or (H, W, 3) uint8; values outside [0, 1] are min-max scaled."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo < -1e-3 or hi > 1 + 1e-3:
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def png_bytes(image: np.ndarray, *, max_side: int | None = THUMB_SIZE) -> bytes:
    """Encode one image array as PNG, shrunk so its longest side is at most ``max_side``."""
    from PIL import Image

    img = Image.fromarray(to_uint8_image(image))
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def thumbnails(images) -> list[bytes]:
    """PNG thumbnails of a batch (n, C, H, W) of images, tensor or array."""
    batch = images.detach().float().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    return [png_bytes(img) for img in batch]


def is_image_batch(batch) -> bool:
    """(n, C, H, W) with 1, 3 or 4 channels and at least 4x4 pixels."""
    shape = tuple(batch.shape)
    return len(shape) == 4 and shape[1] in (1, 3, 4) and min(shape[2:]) >= 4
