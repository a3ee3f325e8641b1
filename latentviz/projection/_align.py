"""Put two maps in one frame: orthogonal Procrustes on the points they share."""

from __future__ import annotations

import numpy as np

from latentviz.errors import InputError


def align_procrustes(moving, reference, *, moving_ids=None, reference_ids=None, scale: bool = True):
    """Rotate (or reflect), shift and optionally scale ``moving`` onto ``reference``.

    The similarity transform is fitted on the points both maps share (rows matched by id when
    ``moving_ids`` and ``reference_ids`` are given, by position otherwise; rows with NaN are
    left out) and applied to every row of ``moving``.

    Parameters
    ----------
    moving : ndarray of shape (n_moving, n_components)
    reference : ndarray of shape (n_reference, n_components)
    moving_ids, reference_ids : array-like of str, optional
    scale : bool, default=True
        Also fit one scale factor (t-SNE and UMAP maps have no meaningful scale).

    Returns
    -------
    aligned : ndarray of shape (n_moving, n_components)
    info : dict
        ``shared`` (points used), ``disparity`` (residual sum of squares over the reference's
        sum of squares about its mean; 0 is a perfect fit) and ``scale``.

    Examples
    --------
    >>> a = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> b = a @ np.array([[0.0, -1.0], [1.0, 0.0]]) + 5.0
    >>> aligned, info = align_procrustes(b, a)
    >>> bool(np.allclose(aligned, a)), round(info["disparity"], 12)
    (True, 0.0)
    """
    moving = np.asarray(moving, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if moving.ndim != 2 or reference.ndim != 2 or moving.shape[1] != reference.shape[1]:
        raise InputError(
            f"align_procrustes: maps of shapes {moving.shape} and {reference.shape} cannot be aligned; "
            "give two (n, n_components) arrays with the same n_components"
        )
    if moving_ids is None:
        if len(moving) != len(reference):
            raise InputError("align_procrustes: without ids both maps need the same number of rows")
        rows_m = rows_r = np.arange(len(moving))
    else:
        _, rows_m, rows_r = np.intersect1d(
            np.asarray(moving_ids).astype(str),
            np.asarray(reference_ids).astype(str),
            assume_unique=True,
            return_indices=True,
        )
    ok = np.isfinite(moving[rows_m]).all(axis=1) & np.isfinite(reference[rows_r]).all(axis=1)
    rows_m, rows_r = rows_m[ok], rows_r[ok]
    if len(rows_m) < moving.shape[1] + 1:
        raise InputError(
            f"align_procrustes: the maps share {len(rows_m)} finite points; at least "
            f"{moving.shape[1] + 1} are needed to fit a rotation"
        )
    a, b = moving[rows_m], reference[rows_r]
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - mean_a, b - mean_b
    u, s, vt = np.linalg.svd(a0.T @ b0)
    rotation = u @ vt
    norm_a = (a0 * a0).sum()
    factor = s.sum() / norm_a if scale and norm_a > 0 else 1.0
    aligned = (moving - mean_a) @ rotation * factor + mean_b
    residual = ((a0 @ rotation * factor - b0) ** 2).sum()
    spread = (b0 * b0).sum()
    return aligned, {
        "shared": int(len(rows_m)),
        "disparity": float(residual / spread) if spread > 0 else 0.0,
        "scale": float(factor),
    }
