"""Paths and directions in latent space: lerp, slerp, manipulate, attribute and principal directions.

Pure numpy: codes in, codes out. Nothing here decodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentviz._validation import check_choice, check_latents
from latentviz.errors import InputError

INTERPOLATION_METHODS = ("lerp", "slerp")
DIRECTION_METHODS = ("auto", "class_mean", "regression", "pca")
SWEEP_MODES = ("std", "quantile", "prior")
PCA_MAX_ROWS = 20_000  # principal directions are fitted on a seeded sample of at most this many codes


def interpolate(a, b, steps: int, method: str = "lerp") -> np.ndarray:
    """Points on the path from code ``a`` to code ``b``, both endpoints included.

    ``lerp`` is the straight line. ``slerp`` follows the great circle between the directions of
    ``a`` and ``b`` while the norm changes linearly from ``|a|`` to ``|b|``: the right path under a
    Gaussian prior, whose mass sits on a shell, where a straight line cuts through the
    low-density middle (White, 2016).

    .. math::

        \\mathrm{slerp}(t) = \\big((1-t)\\lVert a\\rVert + t\\lVert b\\rVert\\big)
        \\big(\\cos(t\\Omega)\\,\\hat a + \\sin(t\\Omega)\\,\\hat q\\big),
        \\quad \\cos\\Omega = \\hat a\\cdot\\hat b

    where :math:`\\hat q` is the unit vector of :math:`\\hat b` orthogonal to :math:`\\hat a` (any
    orthogonal unit vector when ``a`` and ``b`` are opposite).

    Parameters
    ----------
    a, b : array-like of shape (n_latents,)
        The endpoints.
    steps : int
        Number of points, at least 2.
    method : {"lerp", "slerp"}

    Returns
    -------
    ndarray of shape (steps, n_latents)
        Row 0 is ``a`` and row ``steps - 1`` is ``b``, exactly.

    Examples
    --------
    >>> interpolate([1.0, 0.0], [0.0, 1.0], 3, "slerp").round(4).tolist()
    [[1.0, 0.0], [0.7071, 0.7071], [0.0, 1.0]]
    >>> interpolate([0.0, 0.0], [2.0, 4.0], 3).tolist()
    [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]
    """
    check_choice("interpolate", "method", method, INTERPOLATION_METHODS)
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise InputError(f"interpolate: a has {a.size} latents but b has {b.size}; give two codes of one size")
    if int(steps) < 2:
        raise InputError(f"interpolate: steps must be at least 2 (both endpoints); got {steps}")
    t = np.linspace(0.0, 1.0, int(steps))[:, None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if method == "lerp" or na == 0 or nb == 0:
        path = (1 - t) * a + t * b
    else:
        unit_a, unit_b = a / na, b / nb
        cos = float(np.clip(unit_a @ unit_b, -1.0, 1.0))
        omega = np.arccos(cos)
        q = _orthogonal_part(unit_b, unit_a, opposite=cos < 0)
        path = ((1 - t) * na + t * nb) * (np.cos(t * omega) * unit_a + np.sin(t * omega) * q)
    path[0], path[-1] = a, b
    return path


def _orthogonal_part(unit_b: np.ndarray, unit_a: np.ndarray, *, opposite: bool) -> np.ndarray:
    """The unit vector of ``unit_b`` orthogonal to ``unit_a``; for (anti)parallel inputs, a stand-in."""
    q = unit_b - (unit_a @ unit_b) * unit_a
    norm = np.linalg.norm(q)
    if norm > 1e-9:
        return q / norm
    if not opposite:
        return np.zeros_like(unit_a)  # same direction: the path stays on it
    axis = np.zeros_like(unit_a)
    axis[int(np.argmin(np.abs(unit_a)))] = 1.0  # opposite: every great circle is as good; pick one
    q = axis - (unit_a @ axis) * unit_a
    return q / np.linalg.norm(q)


def manipulate(z, dim: int, delta: float) -> np.ndarray:
    """A copy of ``z`` with latent ``dim`` moved by ``delta`` ("raise dimension 3 by 2.0": ``dim=2``).

    Parameters
    ----------
    z : array-like of shape (n_latents,) or (n_samples, n_latents)
    dim : int
        Zero-based latent index.
    delta : float

    Examples
    --------
    >>> manipulate([0.5, 1.0, -1.0], dim=2, delta=2.0).tolist()
    [0.5, 1.0, 1.0]
    """
    out = np.array(z, dtype=np.float64)
    d = out.shape[-1] if out.ndim else 0
    if not 0 <= int(dim) < d:
        raise InputError(f"manipulate: dim {dim} is out of range for {d} latent dimensions (0..{d - 1})")
    out[..., int(dim)] += float(delta)
    return out


def direction(
    latents,
    labels_or_factor=None,
    method: str = "auto",
    *,
    positive=None,
    negative=None,
    component: int = 0,
    random_state: int = 0,
) -> np.ndarray:
    """A unit vector in latent space along which a label, a factor or the data varies.

    Parameters
    ----------
    latents : array-like of shape (n_samples, n_latents)
    labels_or_factor : array-like of shape (n_samples,), optional
        Class labels or a factor's values; not used by ``pca``.
    method : {"auto", "class_mean", "regression", "pca"}
        ``class_mean``: mean code of class ``positive`` minus mean code of class ``negative`` (all
        other samples when ``negative`` is None). ``regression``: the slopes of each latent
        regressed on a continuous factor, ``cov(z_j, f) / var(f)`` — how the codes move per unit of
        the factor; for a 0/1 factor this is exactly the class-mean difference. (The weights of
        the reverse regression, factor on codes, are a filter rather than a pattern: they lean on
        near-constant latents and point where the data hardly varies; Haufe et al., 2014.)
        ``pca``: principal axis ``component`` of the codes, as GANSpace does (Härkönen
        et al., 2020), signed so that its largest loading is positive. ``auto`` takes
        ``regression`` for numbers with more than two distinct values and ``class_mean`` otherwise.
    positive, negative : optional
        Classes the direction points to and from; with two classes the defaults point from the
        first to the second in sorted order.
    component : int
        Principal axis to return (``pca`` only), 0 = largest variance.
    random_state : int
        Seed of the row sample ``pca`` fits on when there are more than 20,000 codes.

    Returns
    -------
    ndarray of shape (n_latents,)
        Unit vector.

    Examples
    --------
    >>> z = [[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [3.0, 1.0]]
    >>> direction(z, ["a", "a", "b", "b"]).tolist()
    [1.0, 0.0]
    """
    check_choice("direction", "method", method, DIRECTION_METHODS)
    z = check_latents(latents, "latents", whom="direction")
    if method == "pca":
        return principal_directions(z, component + 1, random_state=random_state)[component]
    if labels_or_factor is None:
        raise InputError(f"direction: method '{method}' needs labels_or_factor (one value per sample)")
    y = np.asarray(labels_or_factor).reshape(-1)
    if len(y) != len(z):
        raise InputError(f"direction: labels_or_factor has {len(y)} values but latents has {len(z)} rows")
    if method == "auto":
        method = "regression" if is_continuous(y) else "class_mean"
    if method == "regression":
        vector = _regression_slopes(z, y)
    else:
        vector = _class_mean_difference(z, y, positive, negative)
    norm = np.linalg.norm(vector)
    if not np.isfinite(norm) or norm == 0:
        raise InputError(f"direction ({method}): the codes do not vary with the given values; no direction exists")
    return vector / norm


def is_continuous(y: np.ndarray, max_classes: int = 2) -> bool:
    """Whether ``y`` is numeric with more than ``max_classes`` distinct values (else it is read as classes)."""
    return np.issubdtype(y.dtype, np.number) and y.dtype != bool and len(np.unique(y)) > max_classes


def _class_mean_difference(z: np.ndarray, y: np.ndarray, positive, negative) -> np.ndarray:
    classes = np.unique(y)
    if positive is None:
        if len(classes) != 2:
            raise InputError(
                f"direction: {len(classes)} classes; say which with positive= (and negative=) "
                f"from {', '.join(map(str, classes[:10]))}"
            )
        negative, positive = classes
    to = y == positive
    away = ~to if negative is None else y == negative
    for name, mask, value in (("positive", to, positive), ("negative", away, negative)):
        if not mask.any():
            raise InputError(f"direction: no sample has the {name} class {value!r}")
    return z[to].mean(axis=0) - z[away].mean(axis=0)


def _regression_slopes(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.number):
        raise InputError("direction: regression needs numeric factor values; use method='class_mean' for classes")
    y = y.astype(np.float64) - y.mean()
    return (z - z.mean(axis=0)).T @ y / (y @ y) if y.any() else np.zeros(z.shape[1])


def principal_directions(z, k: int, *, random_state: int = 0) -> np.ndarray:
    """The top ``k`` principal axes of the codes, shape (k, n_latents); each one's largest loading is positive."""
    from latentviz._validation import check_random_state

    z = np.asarray(z, dtype=np.float64)
    if not 1 <= k <= min(z.shape):
        raise InputError(
            f"direction: principal component {k - 1} does not exist for {z.shape[0]} codes of dimension {z.shape[1]}"
        )
    if len(z) > PCA_MAX_ROWS:
        z = z[check_random_state(random_state).choice(len(z), PCA_MAX_ROWS, replace=False)]
    _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])
    return axes * signs[:, None]


def sweep_values(values, *, range_: float, steps: int, mode: str) -> np.ndarray:
    """The ``steps`` values a traversal visits for a coordinate whose data values are ``values``.

    ``std``: mean ± ``range_`` standard deviations of the data, evenly spaced. ``quantile``: the
    data's quantiles at the normal levels Φ(-range_) … Φ(range_), so for Gaussian data it matches
    ``std`` and for skewed data it stays where the data is. ``prior``: -range_ … range_ (N(0, 1)).

    Examples
    --------
    >>> sweep_values([1.0, 3.0], range_=2.0, steps=3, mode="std").tolist()
    [0.0, 2.0, 4.0]
    """
    check_choice("sweep_values", "mode", mode, SWEEP_MODES)
    grid = np.linspace(-float(range_), float(range_), int(steps))
    if mode == "prior":
        return grid
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    values = values[np.isfinite(values)]
    if mode == "std":
        return values.mean() + grid * values.std()
    from scipy.special import ndtr

    return np.quantile(values, ndtr(grid))


def sweep_labels(*, range_: float, steps: int, mode: str) -> list[str]:
    """Column headers for :func:`sweep_values` (ASCII, for the default font): ``-3.0sd``, ``p0.135``, ``-3.0``."""
    grid = np.linspace(-float(range_), float(range_), int(steps))
    if mode == "std":
        return [f"{g:+.1f}sd" if g else "mean" for g in grid]
    if mode == "quantile":
        from scipy.special import ndtr

        return [f"p{100 * q:.3g}" for q in ndtr(grid)]
    return [f"{g:+.1f}" for g in grid]


@dataclass
class Direction:
    """A direction to sweep the codes along: its name, how it was found, the unit vector and what it shows."""

    name: str
    method: str
    vector: np.ndarray
    shows: str


def attribute_directions(
    z: np.ndarray, values: np.ndarray, what: str, *, max_classes: int = 10, discrete_up_to: int = 2
) -> list[Direction]:
    """The directions of an attribute of the codes (a label, a factor) named ``what``: one regression direction
    when it is numeric with more than ``discrete_up_to`` values, else one class-mean difference for two classes,
    or one per class (its mean code minus the rest's) for the ``max_classes`` most frequent; rows with a missing
    value are left out."""
    keep = ~_missing(values)
    z, values = z[keep], values[keep]
    classes, counts = np.unique(values.astype(str), return_counts=True)
    if len(classes) < 2:
        return []
    if is_continuous(values, max_classes=discrete_up_to):
        return [
            Direction(
                what,
                "regression",
                direction(z, values, "regression"),
                f"{what}: the latents' regression slopes on it (how the codes move as it grows), "
                "swept from each seed sample",
            )
        ]
    text = values.astype(str)
    if len(classes) == 2:
        neg, pos = classes
        return [
            Direction(
                f"{what} {neg} to {pos}",
                "class_mean",
                direction(z, text, "class_mean"),
                f"{what}: mean code of {pos} minus mean code of {neg}, swept from each seed sample",
            )
        ]
    chosen = sorted(classes[np.argsort(-counts, kind="stable")[:max_classes]])
    return [
        Direction(
            f"{what} {c}",
            "class_mean",
            direction(z, text, "class_mean", positive=c),
            f"{what}: mean code of {c} minus the mean code of the rest, swept from each seed sample",
        )
        for c in chosen
    ]


def _missing(values: np.ndarray) -> np.ndarray:
    if np.issubdtype(values.dtype, np.floating):
        return np.isnan(values)
    return np.array([v is None or str(v) in ("", "None", "nan") for v in values], dtype=bool)


def direction_codes(seeds: np.ndarray, vector: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Codes (n_seeds, steps, d) that move each seed (n_seeds, d) along the unit ``vector`` until its projection on
    it takes each of ``values`` in turn; the seed's other components stay as they are.

    >>> direction_codes(np.array([[0.0, 2.0]]), np.array([1.0, 0.0]), np.array([-1.0, 1.0])).tolist()
    [[[-1.0, 2.0], [1.0, 2.0]]]
    """
    offsets = values[None, :] - (seeds @ vector)[:, None]
    return seeds[:, None, :] + offsets[:, :, None] * vector[None, None, :]
