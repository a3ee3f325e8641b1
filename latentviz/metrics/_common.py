"""Input handling shared by the metrics: validation, non-finite rows, train/test splits."""

from __future__ import annotations

import warnings

import numpy as np

from latentviz._validation import check_factors, check_latents, check_random_state
from latentviz.errors import InputError


class MetricWarning(UserWarning):
    """A metric changed its input (rows or dimensions dropped) to give a defined answer."""


def latents_and_factors(z, factors, *, whom: str, min_dims: int = 1, min_samples: int = 2):
    """Validate ``(z, factors)``, drop rows with NaN or inf (with a warning) and return both."""
    z = check_latents(z, whom=whom, min_dims=min_dims)
    factors = check_factors(factors, z.shape[0], whom=whom)
    z, (factors,) = drop_nonfinite(z, factors, whom=whom)
    check_min_samples(len(z), min_samples, whom=whom)
    return z, factors


def drop_nonfinite(z: np.ndarray, *aligned, whom: str):
    """Remove the rows of ``z`` (and of each aligned array) that hold NaN or inf."""
    keep = np.isfinite(z).all(axis=1)
    dropped = int((~keep).sum())
    if dropped:
        warnings.warn(f"{whom}: excluded {dropped} of {len(z)} rows holding NaN or inf", MetricWarning, stacklevel=3)
        z = z[keep]
        aligned = tuple(a[keep] for a in aligned)
    return z, aligned


def check_min_samples(n: int, needed: int, *, whom: str) -> None:
    if n < needed:
        raise InputError(f"{whom}: needs at least {needed} samples with finite values; got {n}")


def check_min_dims(z: np.ndarray, needed: int, *, whom: str) -> None:
    if z.shape[1] < needed:
        raise InputError(f"{whom}: needs at least {needed} latent dimensions; z has {z.shape[1]}")


def train_test(z, factors, z_test, factors_test, *, seed, whom: str, test_fraction: float = 1 / 3, min_dims: int = 1):
    """The explicit test set when given, otherwise a seeded split (the reference's 10000/5000 ratio)."""
    z, factors = latents_and_factors(z, factors, whom=whom, min_dims=min_dims)
    if (z_test is None) != (factors_test is None):
        raise InputError(f"{whom}: give both z_test and factors_test, or neither")
    if z_test is not None:
        z_test, factors_test = latents_and_factors(z_test, factors_test, whom=whom, min_samples=1)
        if z_test.shape[1] != z.shape[1] or factors_test.shape[1] != factors.shape[1]:
            raise InputError(
                f"{whom}: z_test/factors_test have {z_test.shape[1]}/{factors_test.shape[1]} columns but "
                f"z/factors have {z.shape[1]}/{factors.shape[1]}; give the same latents and factors"
            )
        return z, factors, z_test, factors_test
    check_min_samples(len(z), 3, whom=whom)
    order = check_random_state(seed).permutation(len(z))
    n_test = max(1, int(round(len(z) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    return z[train], factors[train], z[test], factors[test]


def varying(z: np.ndarray) -> np.ndarray:
    """Boolean mask of the dimensions that are not constant."""
    return np.ptp(z, axis=0) > 0 if len(z) else np.zeros(z.shape[1], bool)
