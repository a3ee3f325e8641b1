"""Lay out decoded traversals as labelled PNG grids, GIF animations, or heatmaps for non-image outputs.

One array convention everywhere: ``(rows, steps, *output_shape)``. Image outputs are
``(C, H, W)`` with 1, 3 or 4 channels; anything else is drawn as a heatmap per row (rows of the
heatmap = steps, columns = output features). All tiles of one figure share one intensity scale,
so brightness means the same thing across the grid.
"""

from __future__ import annotations

import functools
import io
import math
import os
from dataclasses import dataclass

import numpy as np

from latentviz.errors import InputError
from latentviz.run import write_bytes
from latentviz.thumbnails import to_uint8_image

TILE_MIN, TILE_MAX = 64, 128  # tiles are scaled (nearest neighbour) to a side in this range
PAD, GAP = 2, 10  # between tiles; between the seed columns and the sweep
FONT_SIZE = 12
HEATMAP_MAX_FEATURES = 1024  # wider outputs are averaged in groups of features
INK, MUTED, WARN, BACKGROUND, SHADE = (20, 20, 20), (130, 130, 130), (190, 30, 30), (255, 255, 255), (238, 238, 238)


def is_image_output(shape) -> bool:
    """True for one output of shape (C, H, W) with 1, 3 or 4 channels and at least 4×4 pixels."""
    shape = tuple(shape)
    return len(shape) == 3 and shape[0] in (1, 3, 4) and min(shape[1:]) >= 4


@functools.cache
def _font(size: int = FONT_SIZE):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _text_size(draw, text: str, font) -> tuple[int, int]:
    if not text:
        return 0, 0
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font, spacing=2)
    return right - left, bottom


@dataclass
class _Scale:
    """One affine map from output values to [0, 1] for every tile of a figure."""

    lo: float = 0.0
    hi: float = 1.0

    @classmethod
    def of(cls, *arrays) -> _Scale:
        values = [np.asarray(a, dtype=np.float32) for a in arrays if a is not None]
        finite = [v[np.isfinite(v)] for v in values if v.size]
        finite = [v for v in finite if v.size]
        if not finite:
            return cls()
        lo, hi = min(float(v.min()) for v in finite), max(float(v.max()) for v in finite)
        if lo >= -1e-3 and hi <= 1 + 1e-3:
            return cls()  # already in [0, 1]: keep absolute intensities
        return cls(lo, hi if hi > lo else lo + 1.0)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(a, dtype=np.float32) - self.lo) / (self.hi - self.lo), 0.0, 1.0)


def _tile(item, scale: _Scale, side: int):
    """A PIL RGB image fitting ``side``×``side`` from an output array or PNG bytes."""
    from PIL import Image

    if isinstance(item, (bytes, bytearray)):
        img = Image.open(io.BytesIO(item)).convert("RGB")
    else:
        img = Image.fromarray(to_uint8_image(scale(item))).convert("RGB")
    factor = side / max(img.size)
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    resample = Image.Resampling.NEAREST if factor >= 1 else Image.Resampling.BILINEAR
    return img.resize(size, resample)


def tile_side(output_shape) -> int:
    """Tile side for outputs of this (C, H, W) shape: native size, clamped to [64, 128]."""
    return int(min(TILE_MAX, max(TILE_MIN, max(output_shape[1:]))))


def _save(data: bytes, path) -> bytes:
    if path is not None:
        write_bytes(os.fspath(path), data)
    return data


def to_png(
    array,
    path=None,
    *,
    row_labels=None,
    col_labels=None,
    left=None,
    left_labels=None,
    right=None,
    right_labels=None,
    marks=None,
    title: str | None = None,
) -> bytes:
    """Draw an array of decoded outputs (rows, steps, *output_shape) as one labelled PNG.

    Parameters
    ----------
    array : array-like of shape (n_rows, n_steps, *output_shape)
    path : path, optional
        Also write the PNG there (atomically).
    row_labels : list of str, optional
        One (possibly multi-line) label per row, drawn at the left.
    col_labels : list of str, optional
        One header per step.
    left, right : list of lists, optional
        Extra tiles per row before and after the sweep (e.g. the seed's input and reconstruction,
        or an interpolation's endpoint originals): each an output array, PNG bytes, or None (left empty).
    left_labels, right_labels : list of str, optional
        Headers of the extra columns.
    marks : list of bool, optional
        Rows to mark as inactive (the output does not change along them); they stay in place.
    title : str, optional

    Returns
    -------
    bytes
        The PNG file.
    """
    array = np.asarray(array)
    if array.ndim < 3:
        raise InputError(f"to_png: array must be (rows, steps, *output_shape); got shape {array.shape}")
    if not is_image_output(array.shape[2:]):
        return _save(_heatmap_png(array, row_labels=row_labels, col_labels=col_labels, marks=marks, title=title), path)
    from PIL import Image, ImageDraw

    rows, steps = array.shape[:2]
    side = tile_side(array.shape[2:])
    left = left or [[] for _ in range(rows)]
    right = right or [[] for _ in range(rows)]
    n_left, n_right = max(map(len, left), default=0), max(map(len, right), default=0)
    decoded_extras = [x for row in (*left, *right) for x in row if isinstance(x, np.ndarray)]
    scale = _Scale.of(array, *decoded_extras)
    labels = _row_texts(row_labels, marks, rows)
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max((_text_size(probe, t, font)[0] for t in labels), default=0) + 8
    title_h = _text_size(probe, title or "", font)[1] + 8 if title else 0
    headers = [*(left_labels or []), *(col_labels or []), *(right_labels or [])]
    header_h = FONT_SIZE + 8 if headers else 0
    row_h = max(side, max((_text_size(probe, t, font)[1] for t in labels), default=0)) + PAD
    x_left = label_w
    x_sweep = x_left + n_left * (side + PAD) + (GAP if n_left else 0)
    x_right = x_sweep + steps * (side + PAD) + GAP
    width = (
        max(
            (x_right + n_right * (side + PAD)) if n_right else x_sweep + steps * (side + PAD),
            _text_size(probe, title or "", font)[0] + 8,
        )
        + PAD
    )
    height = title_h + header_h + rows * row_h + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.multiline_text((4, 4), title, fill=INK, font=font, spacing=2)

    def header(x: int, text: str):
        w = _text_size(draw, text, font)[0]
        draw.text((x + max(0, (side - w) // 2), title_h + 2), text, fill=MUTED, font=font)

    for k, text in enumerate(left_labels or []):
        header(x_left + k * (side + PAD), text)
    for t, text in enumerate(col_labels or []):
        header(x_sweep + t * (side + PAD), text)
    for k, text in enumerate(right_labels or []):
        header(x_right + k * (side + PAD), text)
    for r in range(rows):
        y = title_h + header_h + r * row_h
        inactive = bool(marks is not None and marks[r])
        if inactive:
            draw.rectangle([0, y, width, y + row_h - PAD - 1], fill=SHADE)
        draw.multiline_text((4, y + 2), labels[r], fill=MUTED if inactive else INK, font=font, spacing=2)
        if inactive:  # the last line of the label says why the row is greyed
            last = labels[r].rsplit("\n", 1)[-1]
            offset = _text_size(draw, labels[r], font)[1] - _text_size(draw, last, font)[1]
            draw.text((4, y + 2 + offset), last, fill=WARN, font=font)
        for k, item in enumerate(left[r]):
            if item is not None:
                canvas.paste(_tile(item, scale, side), (x_left + k * (side + PAD), y))
        for t in range(steps):
            canvas.paste(_tile(array[r, t], scale, side), (x_sweep + t * (side + PAD), y))
        for k, item in enumerate(right[r]):
            if item is not None:
                canvas.paste(_tile(item, scale, side), (x_right + k * (side + PAD), y))
    return _save(_png(canvas), path)


def _row_texts(row_labels, marks, rows: int) -> list[str]:
    labels = [str(t) for t in row_labels] if row_labels is not None else [f"row {r}" for r in range(rows)]
    if len(labels) != rows:
        raise InputError(f"to_png: {len(labels)} row labels for {rows} rows")
    if marks is not None:
        labels = [f"{t}\ninactive" if m else t for t, m in zip(labels, marks, strict=True)]
    return labels


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def to_gif(
    array,
    path=None,
    *,
    tile_labels=None,
    frame_labels=None,
    marks=None,
    title: str | None = None,
    duration_ms: int = 200,
) -> bytes:
    """Animate an array of decoded images (rows, steps, C, H, W): frame t shows every row at step t.

    The rows are tiled in a near-square mosaic, each tile captioned with its short label (cut to
    the tile's width; red for rows in ``marks``); the top lines give the title and the frame's
    label. The GIF loops forever and has exactly ``steps`` frames.

    Returns
    -------
    bytes
        The GIF file.
    """
    from PIL import Image, ImageDraw

    array = np.asarray(array)
    if array.ndim != 5 or not is_image_output(array.shape[2:]):
        raise InputError(f"to_gif: array must hold images (rows, steps, C, H, W); got shape {array.shape}")
    rows, steps = array.shape[:2]
    side = tile_side(array.shape[2:])
    scale = _Scale.of(array)
    font = _font()
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    names = [_fit(draw, str(t), font, side) for t in tile_labels] if tile_labels is not None else [""] * rows
    captions = [str(t) for t in frame_labels] if frame_labels is not None else [f"step {t + 1}" for t in range(steps)]
    n_cols = math.ceil(math.sqrt(rows))
    n_rows = math.ceil(rows / n_cols)
    cell_h = side + FONT_SIZE + 6
    top = 2 * (FONT_SIZE + 4) + 4
    width = max(n_cols * (side + PAD) + PAD, _text_size(draw, title or "", font)[0] + 8)
    height = top + n_rows * cell_h
    frames = []
    for t in range(steps):
        frame = Image.new("RGB", (width, height), BACKGROUND)
        draw = ImageDraw.Draw(frame)
        draw.text((4, 2), title or "", fill=INK, font=font)
        draw.text((4, FONT_SIZE + 6), f"{captions[t]}   ({t + 1}/{steps})", fill=MUTED, font=font)
        for r in range(rows):
            x, y = PAD + (r % n_cols) * (side + PAD), top + (r // n_cols) * cell_h
            frame.paste(_tile(array[r, t], scale, side), (x, y))
            draw.text((x, y + side + 1), names[r], fill=WARN if marks is not None and marks[r] else INK, font=font)
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0, disposal=1
    )
    return _save(buffer.getvalue(), path)


def _fit(draw, text: str, font, width: int) -> str:
    """``text`` cut (with '..') so that it fits in ``width`` pixels."""
    if _text_size(draw, text, font)[0] <= width:
        return text
    while text and _text_size(draw, text + "..", font)[0] > width:
        text = text[:-1]
    return text + ".."


def _heatmap_png(array: np.ndarray, *, row_labels, col_labels, marks, title) -> bytes:
    """One heatmap per row (heatmap rows = steps, columns = output features), stacked with labels."""
    from PIL import Image, ImageDraw

    rows, steps = array.shape[:2]
    flat = array.reshape(rows, steps, -1).astype(np.float32)
    group = math.ceil(flat.shape[2] / HEATMAP_MAX_FEATURES)
    if group > 1:  # average neighbouring features so the picture stays a readable width
        pad = group * math.ceil(flat.shape[2] / group) - flat.shape[2]
        flat = np.pad(flat, ((0, 0), (0, 0), (0, pad)), mode="edge").reshape(rows, steps, -1, group).mean(axis=3)
        title = f"{title or ''}\n(features averaged in groups of {group})".strip()
    n_features = flat.shape[2]
    title = f"{title or ''}\n(each panel: rows = steps, columns = output features 0..{array[0, 0].size - 1})".strip()
    cell_w = int(min(16, max(1, 600 // n_features)))
    cell_h = 10
    colours = _colour_map(flat)
    labels = _row_texts(row_labels, marks, rows)
    steps_text = [str(t) for t in col_labels] if col_labels is not None else [str(t) for t in range(steps)]
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    step_w = max(_text_size(probe, t, font)[0] for t in steps_text) + 6
    label_h = [_text_size(probe, t, font)[1] + 4 for t in labels]
    title_h = _text_size(probe, title or "", font)[1] + 8 if title else 0
    panel_h = steps * cell_h
    width = max(
        step_w + n_features * cell_w + PAD,
        _text_size(probe, title or "", font)[0] + 8,
        max(_text_size(probe, t, font)[0] for t in labels) + 8,
    )
    height = title_h + sum(label_h) + rows * (panel_h + GAP) + PAD
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.multiline_text((4, 4), title, fill=INK, font=font, spacing=2)
    y = title_h
    for r in range(rows):
        inactive = bool(marks is not None and marks[r])
        draw.multiline_text((4, y), labels[r], fill=WARN if inactive else INK, font=font, spacing=2)
        y += label_h[r]
        panel = Image.fromarray(colours[r]).resize((n_features * cell_w, panel_h), Image.Resampling.NEAREST)
        canvas.paste(panel, (step_w, y))
        for t, text in enumerate(steps_text):
            draw.text((2, y + t * cell_h - 1), text, fill=MUTED, font=_font(9))
        y += panel_h + GAP
    return _png(canvas)


def _colour_map(values: np.ndarray) -> np.ndarray:
    """uint8 RGB for values: blue-white-red around 0 when they have both signs, white-to-blue otherwise."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    v = np.nan_to_num(values)
    blue, red, white = np.array([33, 102, 172.0]), np.array([178, 24, 43.0]), np.array([247, 247, 247.0])
    if lo < 0 < hi:
        bound = max(-lo, hi)
        s = np.clip(v / bound, -1, 1)[..., None]
        rgb = np.where(s < 0, white + (-s) * (blue - white), white + s * (red - white))
    else:
        s = np.clip((v - lo) / (hi - lo) if hi > lo else np.zeros_like(v), 0, 1)[..., None]
        rgb = white + s * (blue - white)
    return rgb.round().astype(np.uint8)


def shrink_tiles(outputs: np.ndarray) -> np.ndarray:
    """Average-pool image outputs (rows, steps, C, H, W) to at most :data:`TILE_MAX` pixels a side, as float16:
    what a tile shows, at a fraction of the memory."""
    factor = -(-max(outputs.shape[-2:]) // TILE_MAX)
    if factor > 1:
        *lead, h, w = outputs.shape
        h2, w2 = h // factor, w // factor
        outputs = outputs[..., : h2 * factor, : w2 * factor].reshape(*lead, h2, factor, w2, factor).mean(axis=(-3, -1))
    return outputs.astype(np.float16)
