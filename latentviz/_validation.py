"""Shared input checks with messages that say who complained, what was wrong and what was given."""

from __future__ import annotations

import numbers

import numpy as np

from latentviz.errors import InputError


def check_latents(z, name: str = "z", *, whom: str = "latentviz", min_dims: int = 1) -> np.ndarray:
    """Return ``z`` as a 2-D float64 array of shape (n_samples, n_latents)."""
    arr = np.asarray(z)
    if arr.ndim == 1:
        raise InputError(
            f"{whom}: {name} is 1-D with shape {arr.shape}; give shape (n_samples, n_latents), "
            f"e.g. {name}.reshape(-1, 1) for a single latent"
        )
    if arr.ndim != 2:
        raise InputError(f"{whom}: {name} must be 2-D (n_samples, n_latents); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise InputError(f"{whom}: {name} must be numeric; got dtype {arr.dtype}")
    if arr.shape[1] < min_dims:
        raise InputError(f"{whom}: {name} has {arr.shape[1]} latent dimensions; at least {min_dims} needed")
    return arr.astype(np.float64, copy=False)


def check_factors(factors, n_samples: int, *, whom: str = "latentviz") -> np.ndarray:
    """Return integer factor levels of shape (n_samples, n_factors)."""
    arr = np.asarray(factors)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{whom}: factors must be 2-D (n_samples, n_factors); got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise InputError(
            f"{whom}: factors has {arr.shape[0]} rows but z has {n_samples}; give one factor row per sample"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            # Continuous factors: map each distinct value to its rank; discretise explicitly upstream if needed.
            raise InputError(
                f"{whom}: factors must be integer levels; got dtype {arr.dtype} with non-integer values. "
                "Discretise continuous factors first (e.g. latentviz.metrics.discretize(f, n_bins=20))"
            )
    return arr


def check_random_state(seed) -> np.random.RandomState:
    """Turn None, an int or a RandomState into a RandomState (sklearn's convention)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise InputError(f"random_state: {seed!r} cannot seed a numpy RandomState; give an int")


def check_choice(option: str, value: str, choices) -> str:
    """Raise the house message for an unknown option value."""
    if value not in choices:
        raise InputError(f"{option}: unknown value '{value}'; choose from {', '.join(choices)}")
    return value
