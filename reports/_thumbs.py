"""Thumbnails for the scatter's hover, packed as sprite sheets under a byte budget."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from latentviz.sprites import png_of, sprite_sheet

#: Sprite-sheet bytes a report may spend on thumbnails (before base64).
THUMB_BUDGET = 6 * 2**20
CELL_MAX = 64
COLUMNS = 16
PER_SHEET = COLUMNS * COLUMNS


def hover_sprites(ids, thumbnails: dict[str, bytes], *, seed: int = 0, budget: int = THUMB_BUDGET) -> dict | None:
    """Sprite sheets of the shown points' thumbnails and, per point, its cell number (-1: none).

    Points are packed in a seeded random order, so when the budget runs out the points that
    keep a thumbnail are spread over the whole map rather than one corner of it.

    Returns
    -------
    dict or None
        ``{"cell", "columns", "per_sheet", "sheets": [base64 PNG], "index": [int], "count"}``;
        None when the run has no thumbnails.
    """
    ids = [str(i) for i in ids]
    have = [k for k, i in enumerate(ids) if i in thumbnails]
    if not have:
        return None
    cell = min(CELL_MAX, max(Image.open(io.BytesIO(thumbnails[ids[have[0]]])).size))
    order = np.asarray(have)[np.random.default_rng(seed).permutation(len(have))]
    index = np.full(len(ids), -1, dtype=np.int64)
    sheets: list[str] = []
    spent = 0
    for start in range(0, len(order), PER_SHEET):
        chunk = order[start : start + PER_SHEET]
        png = png_of(sprite_sheet([thumbnails[ids[k]] for k in chunk], cell=cell, columns=COLUMNS))
        if sheets and spent + len(png) > budget:
            break
        spent += len(png)
        index[chunk] = start + np.arange(len(chunk))
        sheets.append(base64.b64encode(png).decode("ascii"))
    return {
        "cell": cell,
        "columns": COLUMNS,
        "per_sheet": PER_SHEET,
        "sheets": sheets,
        "index": index.tolist(),
        "count": int((index >= 0).sum()),
    }
