"""Sprite sheets: many small thumbnails packed into one image, left to right, top to bottom.

One sheet image costs one HTTP-free ``data:`` URL in a report and is the form the TensorBoard
Embedding Projector reads (``sprite.png`` with ``single_image_dim``). Cell ``i`` of a sheet with
``columns`` columns sits at pixel ``((i % columns) * cell, (i // columns) * cell)``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image

BACKGROUND = (255, 255, 255)


def sprite_sheet(pngs: Sequence[bytes | None], *, cell: int, columns: int | None = None) -> Image.Image:
    """Pack PNG thumbnails into one RGB image of square ``cell`` × ``cell`` pixel cells.

    Parameters
    ----------
    pngs : sequence of bytes or None
        Encoded thumbnails in cell order; ``None`` leaves its cell blank.
    cell : int
        Side of one cell in pixels; each thumbnail is scaled to fit and centred.
    columns : int, optional
        Cells per row; by default the smallest square that holds them all (TensorBoard's layout).
    """
    columns = columns or max(1, math.ceil(math.sqrt(len(pngs))))
    rows = max(1, math.ceil(len(pngs) / columns))
    sheet = Image.new("RGB", (columns * cell, rows * cell), BACKGROUND)
    for i, png in enumerate(pngs):
        if png is None:
            continue
        thumb = fit_cell(Image.open(io.BytesIO(png)), cell)
        x = (i % columns) * cell + (cell - thumb.width) // 2
        y = (i // columns) * cell + (cell - thumb.height) // 2
        sheet.paste(thumb, (x, y))
    return sheet


def fit_cell(image: Image.Image, cell: int) -> Image.Image:
    """``image`` as RGB on white, scaled so its longer side is ``cell`` pixels."""
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, BACKGROUND)
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    image = image.convert("RGB")
    scale = cell / max(image.size)
    if scale != 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR)
    return image


def png_of(image: Image.Image) -> bytes:
    """PNG bytes of ``image`` (deterministic: no timestamps or text chunks)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
