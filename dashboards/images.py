"""Images for the browser: PNG bytes as data URIs, and decoded latent codes as PNGs.

The dashboard never serves image files by URL; every image travels inline as a data URI, so
no route exists that could reach a file outside the run folders. Decoding and grid drawing are
the traversal stage's own (:mod:`latentviz.traversal`), so a live grid looks like a saved one.
"""

from __future__ import annotations

import base64
import contextlib

import numpy as np

from latentviz.thumbnails import png_bytes


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def file_uri(path) -> str:
    """A data URI of a PNG file that :func:`dashboards.logic.file_in_run` has already checked."""
    with open(path, "rb") as fh:
        return data_uri(fh.read())


def decode(model, codes, lock=None) -> np.ndarray:
    """Decoded outputs of ``codes`` (n, d), batched on the model's device (one decode at a time)."""
    from latentviz.traversal import Decoder

    with lock or contextlib.nullcontext():
        return Decoder(model)(np.atleast_2d(np.array(codes, dtype=np.float32)))  # a writable copy for torch


def output_uri(output: np.ndarray) -> str:
    """One decoded output as a PNG data URI: an image as itself, anything else as a heatmap strip."""
    from latentviz.traversal import is_image_output, to_png

    if is_image_output(output.shape):
        return data_uri(png_bytes(output, max_side=None))
    return data_uri(to_png(output[None, None]))


def strip_uri(outputs: np.ndarray, labels: list[str] | None = None, *, row_labels=None) -> str:
    """Outputs of shape (rows, steps, ...) drawn as one labelled grid PNG (the traversal stage's drawing)."""
    from latentviz.traversal import to_png

    return data_uri(to_png(outputs, col_labels=labels, row_labels=row_labels))
