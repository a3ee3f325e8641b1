"""Shared input checks with messages that say who complained, what was wrong and what was given."""

from __future__ import annotations

import math
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


def check_points(z, *, whom: str) -> np.ndarray:
    """``z`` as :func:`check_latents` gives it, refusing NaN or inf (what a neighbour search or a map needs)."""
    x = check_latents(z, whom=whom)
    if not np.all(np.isfinite(x)):
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        raise InputError(f"{whom}: z has {bad} rows with NaN or inf; drop them first (latentviz.project does)")
    return x


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


def check_per_row(values, n: int, *, name: str, whom: str, columns: bool = False) -> np.ndarray:
    """``values`` as one entry per row: shape (n,), or (n, k) with ``columns`` (factors).

    Never reshapes across rows: a flat array of 2n factor values for n rows would otherwise become
    two interleaved factor columns. Table cells holding lists count as their values.
    """
    arr = np.asarray(values)
    given = arr.shape
    if arr.dtype == object and arr.ndim == 1 and any(np.ndim(v) > 0 for v in arr):
        total = sum(int(np.size(v)) for v in arr)
        raise InputError(
            f"{whom}: {name} holds {total} values for {n} rows (lists in its cells); "
            "give one value per row (one column per factor)"
        )
    if columns and arr.ndim == 1:
        arr = arr[:, None]
    elif not columns and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != (2 if columns else 1) or len(arr) != n:
        shape = f"({n},) or ({n}, k)" if columns else f"({n},)"
        raise InputError(
            f"{whom}: {name} has {arr.size} values (shape {given}) for {n} rows; give shape {shape}, one entry per row"
        )
    return arr


def check_codes(z: np.ndarray, *, whom: str) -> None:
    """Refuse latents that every later stage would get silently wrong: complex, or no row free of NaN/inf.

    Some non-finite rows are allowed (metrics and projections skip them).
    """
    if np.iscomplexobj(z):
        raise InputError(
            f"{whom}: the latents are complex ({z.dtype}); give real values "
            "(e.g. the real and imaginary parts as separate dimensions)"
        )
    if not np.isfinite(z).all(axis=1).any():
        raise InputError(f"{whom}: all {len(z)} latent rows hold NaN or inf; there is nothing to project or measure")


DEDUPE_IDS = ("suffix", "first")


def dedupe_ids(ids, how: str | None, *, whom: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(ids, keep)`` with every id unique: refuse duplicates unless ``how`` (``--dedupe-ids``) resolves them.

    ``suffix`` renames the 2nd, 3rd, ... occurrence of an id to ``id#2``, ``id#3`` (the next free
    number); ``first`` keeps the first row of each id: ``keep`` is then the boolean mask of the rows
    to keep (None when every row stays). A dashboard click finds a sample by id, so ids must be unique.
    """
    import pandas as pd

    ids = np.array([str(v) for v in ids], dtype=object)  # object: a suffix never gets cut to a fixed width
    repeated = pd.Series(ids).duplicated().to_numpy()
    if not repeated.any():
        return ids, None
    if how is None:
        first = ids[repeated][0]
        raise InputError(
            f"{whom}: {int(repeated.sum())} duplicate id(s) (e.g. '{first}' appears "
            f"{int((ids == first).sum())} times); make the ids unique or pass --dedupe-ids suffix|first"
        )
    check_choice(whom, "dedupe_ids", how, DEDUPE_IDS)
    if how == "first":
        return ids, ~repeated
    taken, out = set(ids.tolist()), ids.copy()
    seen: dict[str, int] = {}
    for i, value in enumerate(ids.tolist()):
        if not repeated[i]:
            continue
        k = seen.get(value, 1) + 1
        while f"{value}#{k}" in taken:
            k += 1
        seen[value] = k
        out[i] = f"{value}#{k}"
        taken.add(out[i])
    return out, None


def check_random_state(seed) -> np.random.RandomState:
    """Turn None, an int or a RandomState into a RandomState (sklearn's convention)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise InputError(f"random_state: {seed!r} cannot seed a numpy RandomState; give an int")


def check_choice(whom: str, parameter: str, value: str, choices) -> str:
    """``value`` if it is one of ``choices``; else a :class:`ParameterError` naming ``parameter``."""
    if value not in choices:
        raise ParameterError(whom, parameter, f"unknown value {value!r}; choose from {', '.join(choices)}")
    return value


class NpzArrays:
    """An ``.npz`` archive read without pickles: ``in``, ``files`` and ``archive[key]`` like numpy's.

    numpy only refuses an object array (a pickle inside the archive) when it is read, with a
    ValueError that names neither the file nor the array; here that is a one-line InputError.
    """

    def __init__(self, path, *, whom: str):
        self.path, self.whom = path, whom
        try:
            self._archive = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{whom} {path}: not a readable .npz file ({exc})") from exc
        self.files = list(self._archive.files)

    def __contains__(self, key) -> bool:
        return key in self.files

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._archive[key]
        except ValueError as exc:
            if "allow_pickle" not in str(exc):
                raise InputError(f"{self.whom} {self.path}: array {key!r} cannot be read ({exc})") from exc
            raise InputError(
                f"{self.whom} {self.path}: array {key!r} holds Python objects (a pickle), which latentviz "
                f"never loads; save numbers instead, e.g. np.savez(path, {key}=np.asarray(values, "
                "dtype=np.float32)), or strings as a fixed-width array (np.asarray(values, dtype=str))"
            ) from None


# -- declarative parameter constraints (scikit-learn's ``_parameter_constraints`` is the model) ---------------
class ParameterError(InputError):
    """A parameter's value breaks its constraint: ``whom: parameter: problem``.

    The message names the Python parameter; the CLI, which knows its flags, says ``--flag: problem``
    instead (``latentviz.cli.main``).
    """

    def __init__(self, whom: str, parameter: str, problem: str):
        super().__init__(f"{whom}: {parameter}: {problem}")
        self.whom, self.parameter, self.problem = whom, parameter, problem


class Interval:
    """Numbers between ``low`` and ``high`` (None: unbounded); ``closed`` is "both", "left", "right" or "neither"."""

    kind = "a number"

    def __init__(self, low=None, high=None, *, closed: str = "both"):
        self.low, self.high, self.closed = low, high, closed

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        above = self.low is None or (value >= self.low if left else value > self.low)
        below = self.high is None or (value <= self.high if right else value < self.high)
        return above and below

    def __str__(self) -> str:
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.high is None:
            return f"{self.kind} {'>=' if left else '>'} {self.low}"
        if self.low is None:
            return f"{self.kind} {'<=' if right else '<'} {self.high}"
        return f"{self.kind} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"


class Real(Interval):
    """A finite real number in the interval (ints count)."""


class Integer(Interval):
    """An integer in the interval (bools do not count)."""

    kind = "an integer"

    def accepts(self, value) -> bool:
        return isinstance(value, numbers.Integral) and super().accepts(value)


class Options:
    """One of the given values."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class InstanceOf:
    """An instance of ``cls``, described as ``what`` ("an array", "a string")."""

    def __init__(self, cls, what: str):
        self.cls, self.what = cls, what

    def accepts(self, value) -> bool:
        return isinstance(value, self.cls)

    def __str__(self) -> str:
        return self.what


class NoneOf:
    """None itself (write ``None`` in a constraint list)."""

    def accepts(self, value) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


#: What a ``random_state`` may be: numpy's seed range or a RandomState (see :func:`check_random_state`).
RANDOM_STATE = [Integer(0, 2**32 - 1), InstanceOf(np.random.RandomState, "a numpy RandomState")]


def validate_params(whom: str, params: dict, constraints: dict) -> None:
    """Check every parameter against its constraints (a list: any one may hold; ``None`` allows None).

    Raises :class:`ParameterError` for the first that holds none, e.g.
    ``UMAP: n_neighbors: must be an integer >= 2; got 1``. A parameter without constraints is a bug.

    Examples
    --------
    >>> validate_params("UMAP", {"n_neighbors": 1}, {"n_neighbors": [Integer(2, None)]})
    Traceback (most recent call last):
    ...
    latentviz._validation.ParameterError: UMAP: n_neighbors: must be an integer >= 2; got 1
    """
    missing = set(params) - set(constraints)
    assert not missing, f"{whom}: parameters without constraints: {sorted(missing)}"
    for name, value in params.items():
        allowed = [NoneOf() if c is None else c for c in constraints[name]]
        if not any(c.accepts(value) for c in allowed):
            raise ParameterError(whom, name, f"must be {' or '.join(str(c) for c in allowed)}; got {value!r}")


def check_param(whom: str, name: str, value, *constraints) -> None:
    """:func:`validate_params` for one parameter: ``check_param("project", "k", k, Integer(1, None))``."""
    validate_params(whom, {name: value}, {name: list(constraints)})
