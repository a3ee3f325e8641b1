"""Small PNG previews (longest side <= 64 px) of image inputs or decoded outputs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

THUMB_SIZE = 64


def to_uint8_images(batch: np.ndarray) -> np.ndarray:
    """(n, C, H, W) floats -> (n, H, W) or (n, H, W, 3) uint8.

    Values in [0, 1] map directly; a batch outside that range is min-max scaled per image.
    """
    a = np.asarray(batch, dtype=np.float32)
    a = a[:, 0] if a.shape[1] == 1 else np.moveaxis(a[:, :3], 1, -1)
    a = np.nan_to_num(a)
    if a.min() < -1e-3 or a.max() > 1 + 1e-3:
        axes = tuple(range(1, a.ndim))
        lo, hi = a.min(axis=axes, keepdims=True), a.max(axis=axes, keepdims=True)
        a = (a - lo) / np.where(hi > lo, hi - lo, 1.0)
    return (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def to_uint8_image(image: np.ndarray) -> np.ndarray:
    """One (C, H, W) or (H, W) float image -> uint8 (see :func:`to_uint8_images`)."""
    a = np.asarray(image)
    return to_uint8_images(a[None, None] if a.ndim == 2 else a[None])[0]


def _png(pixels: np.ndarray, max_side: int | None) -> bytes:
    if not max_side or max(pixels.shape[:2]) <= max_side:
        return _png_direct(pixels)
    from PIL import Image

    img = Image.fromarray(pixels)
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR
        )
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _png_direct(pixels: np.ndarray) -> bytes:
    """A PNG of uint8 gray (H, W) or RGB (H, W, 3) pixels, written directly: unfiltered rows,
    zlib level 1. Three times faster than Pillow for thumbnail-sized images, which matters when
    an encode makes one per sample."""
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else 2
    rows = np.ascontiguousarray(pixels).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()  # filter byte 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def png_bytes(image: np.ndarray, *, max_side: int | None = THUMB_SIZE) -> bytes:
    """Encode one image array as PNG, shrunk so its longest side is at most ``max_side``."""
    return _png(to_uint8_image(image), max_side)


def thumbnails(images) -> list[bytes]:
    """PNG thumbnails (longest side <= 64 px) of a batch (n, C, H, W) of images, tensor or array."""
    batch = images.detach().float().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    return [_png(pixels, THUMB_SIZE) for pixels in to_uint8_images(batch)]


def is_image_batch(batch) -> bool:
    """(n, C, H, W) with 1, 3 or 4 channels and at least 4x4 pixels."""
    shape = tuple(batch.shape)
    return len(shape) == 4 and shape[1] in (1, 3, 4) and min(shape[2:]) >= 4
