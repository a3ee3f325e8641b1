"""Seeded samples: stratified by label when there are labels, so every class keeps its share."""

from __future__ import annotations

import numpy as np


def stratified_sample(n: int, size: int, *, labels=None, random_state=0) -> np.ndarray:
    """Sorted indices of ``size`` of ``n`` rows, drawn without replacement.

    With ``labels``, each class gets its share of ``size`` (largest remainders round it, and
    every class keeps at least one row while ``size`` allows), so rare classes are not lost.

    Examples
    --------
    >>> labels = np.array([0, 0, 0, 0, 1, 1])
    >>> np.bincount(labels[stratified_sample(6, 3, labels=labels)]).tolist()
    [2, 1]
    """
    from latentviz._validation import check_random_state

    rng = check_random_state(random_state)
    if size >= n:
        return np.arange(n)
    if labels is None:
        return np.sort(rng.choice(n, size, replace=False))
    labels = np.asarray(labels)
    if labels.dtype.kind in "biu":  # whole numbers: their few distinct values are named, not every row (1M: 0.8 s)
        values, inverse = np.unique(labels, return_inverse=True)
        classes, named = np.unique(values.astype(str), return_inverse=True)
        codes = named[inverse]
    else:
        classes, codes = np.unique(labels.astype(str), return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    quota = _apportion(counts, size)
    chosen = [rng.choice(np.flatnonzero(codes == c), quota[c], replace=False) for c in range(len(classes))]
    return np.sort(np.concatenate(chosen))


def _apportion(counts: np.ndarray, size: int) -> np.ndarray:
    """Split ``size`` over classes in proportion to ``counts`` (largest remainder, at least 1 each when possible)."""
    exact = counts * size / counts.sum()
    quota = np.floor(exact).astype(int)
    if size >= len(counts):
        quota = np.maximum(quota, 1)
    while quota.sum() > size:  # the minimum of one pushed us over: take from the largest
        quota[np.argmax(quota - exact)] -= 1
    remainder = exact - quota
    for c in np.argsort(-remainder, kind="stable")[: size - quota.sum()]:
        quota[c] += 1
    return np.minimum(quota, counts)
