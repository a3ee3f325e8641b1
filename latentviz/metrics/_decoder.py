"""Metrics that need a decoder: reconstruction error, encode-decode consistency, interpolation smoothness."""

from __future__ import annotations

import numpy as np

from latentviz._validation import check_latents
from latentviz.errors import InputError


def reconstruction_error(x, x_hat) -> dict:
    """Mean squared error between inputs and their reconstructions, per sample and its distribution.

    .. math:: e_i = \\frac{1}{p} \\lVert x_i - \\hat x_i \\rVert^2

    with :math:`p` the number of values per sample.

    Parameters
    ----------
    x : array-like of shape (n_samples, ...)
        Inputs.
    x_hat : array-like of the same shape
        Decoded reconstructions ``decode(encode(x))``.

    Returns
    -------
    dict
        ``mean``, ``median``, ``p95`` and ``max`` of the per-sample errors (floats in
        [0, inf), lower is better) and ``per_sample`` (ndarray of shape (n_samples,)).

    Examples
    --------
    >>> reconstruction_error([[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 3.0]])["mean"]
    1.0
    """
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape or x.ndim < 1 or len(x) == 0:
        raise InputError(
            f"reconstruction_error: x has shape {x.shape} but x_hat has {x_hat.shape}; give matching arrays"
        )
    per_sample = ((x - x_hat) ** 2).reshape(len(x), -1).mean(axis=1)
    per_sample = per_sample[np.isfinite(per_sample)]
    if len(per_sample) == 0:
        raise InputError("reconstruction_error: every sample holds NaN or inf")
    return {
        "mean": float(per_sample.mean()),
        "median": float(np.median(per_sample)),
        "p95": float(np.percentile(per_sample, 95)),
        "max": float(per_sample.max()),
        "per_sample": per_sample,
    }


def consistency(z, encode, decode, *, batch_size: int = 256) -> float:
    """Encode-decode consistency: relative distance between ``encode(decode(z))`` and ``z``.

    .. math:: \\frac1n \\sum_i \\frac{\\lVert \\mathrm{enc}(\\mathrm{dec}(z_i)) - z_i \\rVert}{\\lVert z_i \\rVert}

    Run it on data codes and on prior samples: a decoder whose outputs the encoder maps back to
    the same point keeps the latent space self-consistent.

    Parameters
    ----------
    z : array-like of shape (n_samples, n_latents)
        Codes (rows with NaN or inf, and zero rows, are excluded).
    encode : callable
        Maps inputs, an ndarray (batch, ...), to posterior means (batch, n_latents).
    decode : callable
        Maps codes, an ndarray (batch, n_latents), to outputs (batch, ...).
    batch_size : int, default=256
        Codes decoded at once.

    Returns
    -------
    float
        In [0, inf); lower is better (0 when encoding inverts decoding).

    Examples
    --------
    >>> consistency([[1.0, 2.0], [3.0, 4.0]], lambda x: x, lambda z: z)
    0.0
    """
    z = check_latents(z, whom="consistency")
    z = z[np.isfinite(z).all(axis=1) & (np.linalg.norm(z, axis=1) > 0)]
    if len(z) == 0:
        raise InputError("consistency: no finite, non-zero codes")
    errors = []
    for start in range(0, len(z), batch_size):
        batch = z[start : start + batch_size]
        again = np.asarray(encode(decode(batch)), dtype=np.float64).reshape(len(batch), -1)
        errors.append(np.linalg.norm(again - batch, axis=1) / np.linalg.norm(batch, axis=1))
    return float(np.concatenate(errors).mean())


def interpolation_smoothness(paths) -> dict:
    """Evenness of decoded straight-line interpolations, and their perceptual-path-length analogue.

    For each path of :math:`T` decoded outputs with step sizes
    :math:`s_t = \\lVert x_{t+1} - x_t \\rVert`, the unevenness is
    :math:`\\max_t s_t / \\operatorname{mean}_t s_t` (1 is a perfectly even change, large values a
    jump); ``smoothness`` is its mean over paths. ``path_length`` follows StyleGAN's perceptual
    path length with the mean squared difference per output value in place of LPIPS:
    the mean over paths and steps of :math:`(s_t / \\epsilon)^2 / p` with
    :math:`\\epsilon = 1 / (T - 1)` and :math:`p` values per output.

    Parameters
    ----------
    paths : array-like of shape (n_paths, n_steps, ...)
        Decoded outputs along each path (the traversals stage can share them), n_steps >= 3.

    Returns
    -------
    dict
        ``smoothness`` (float in [1, n_steps - 1], lower is better), ``path_length`` (float in
        [0, inf), lower is smoother), ``per_path`` (ndarray of unevenness per path).

    References
    ----------
    .. [1] T. Karras, S. Laine and T. Aila, "A Style-Based Generator Architecture for
       Generative Adversarial Networks", CVPR 2019.

    Examples
    --------
    >>> line = np.linspace(0, 1, 5)[None, :, None] * np.ones((2, 1, 4))
    >>> interpolation_smoothness(line)["smoothness"]
    1.0
    """
    paths = np.asarray(paths, dtype=np.float64)
    if paths.ndim < 3 or paths.shape[1] < 3 or paths.shape[0] < 1:
        raise InputError(
            f"interpolation_smoothness: paths must be (n_paths, n_steps >= 3, ...); got shape {paths.shape}"
        )
    flat = paths.reshape(paths.shape[0], paths.shape[1], -1)
    flat = flat[np.isfinite(flat).all(axis=(1, 2))]
    if len(flat) == 0:
        raise InputError("interpolation_smoothness: every path holds NaN or inf")
    return _smoothness_from_steps(np.linalg.norm(np.diff(flat, axis=1), axis=2), flat.shape[2])


def _smoothness_from_steps(steps: np.ndarray, n_values: int) -> dict:
    """The core of :func:`interpolation_smoothness` on step sizes (n_paths, n_steps - 1).

    The traversal stage stores these step sizes in ``traversals/paths.npz``, so the metrics stage
    can score the very paths the report shows without decoding them again.
    """
    steps = np.asarray(steps, dtype=np.float64)
    steps = steps[np.isfinite(steps).all(axis=1)]
    if len(steps) == 0 or steps.shape[1] < 2:
        raise InputError(
            f"interpolation_smoothness: need finite paths of at least 3 steps; got step sizes {steps.shape}"
        )
    mean_step = steps.mean(axis=1)
    moving = mean_step > 0
    per_path = np.where(moving, steps.max(axis=1) / np.where(moving, mean_step, 1.0), 1.0)
    epsilon = 1.0 / steps.shape[1]
    path_length = float(np.mean((steps / epsilon) ** 2) / n_values)
    return {"smoothness": float(per_path.mean()), "path_length": path_length, "per_path": per_path}
