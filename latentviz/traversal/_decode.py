"""Batched decoding of latent codes, for any model form, and the traversal grid built on it."""

from __future__ import annotations

import numpy as np

from latentviz.errors import InputError

DECODE_BATCH = 256
INACTIVE_FRACTION = 0.02  # a row whose effect is below this fraction of the largest effect is inactive


class Decoder:
    """Callable ``codes (n, d) ndarray -> outputs (n, *output_shape) float32 ndarray``.

    Wraps a :class:`~latentviz.models.LatentModel`, any object with a ``decode`` method, or a
    plain callable from a batch of latents (a torch tensor) to outputs. Decoding runs in batches
    of ``batch_size`` on the model's device, under ``torch.inference_mode()``.
    """

    def __init__(self, model: object, *, batch_size: int = DECODE_BATCH):
        if isinstance(model, Decoder):
            model = model.model
        fn = getattr(model, "decode", None)
        if not callable(fn):
            fn = model if callable(model) else None
        if fn is None:
            raise InputError(
                f"traversal: {type(model).__name__} has no decode method and is not callable; "
                "give a LatentModel, an object with decode(z), or a function of a batch of latents"
            )
        self.model: object = model
        self.fn, self.batch_size = fn, int(batch_size)
        self.device, self.dtype = _placement(model)

    def __call__(self, codes) -> np.ndarray:
        import torch

        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2:
            raise InputError(f"traversal: codes to decode must be 2-D (n, d); got shape {codes.shape}")
        parts = []
        with torch.inference_mode():
            for start in range(0, len(codes), self.batch_size):
                batch = torch.from_numpy(codes[start : start + self.batch_size]).to(self.device, self.dtype)
                try:
                    out = self.fn(batch)
                except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise InputError(
                        f"traversal: the model cannot decode latents of shape ({codes.shape[1]},): {first}"
                    ) from exc
                parts.append(_to_numpy(out))
        return np.concatenate(parts)


def _placement(model):
    """(device, dtype) for the codes: the model's own when it has parameters, else CPU float32."""
    import torch

    device = getattr(model, "device", None)
    params = model.parameters() if callable(getattr(model, "parameters", None)) else iter(())
    first = next(iter(params), None)
    if first is not None:
        device = device if isinstance(device, torch.device) else first.device
        dtype = first.dtype if first.dtype.is_floating_point else torch.float32
        return device, dtype
    return (device if isinstance(device, torch.device) else torch.device("cpu")), torch.float32


def _to_numpy(out) -> np.ndarray:
    if hasattr(out, "sample") and not hasattr(out, "detach"):  # diffusers-style output objects
        out = out.sample
    if isinstance(out, (tuple, list)):
        out = out[0]
    if hasattr(out, "detach"):
        out = out.detach().float().cpu().numpy()
    return np.asarray(out, dtype=np.float32)


def decode_grid(decode: Decoder, codes: np.ndarray) -> np.ndarray:
    """Decode codes of shape (rows, steps, d) into outputs of shape (rows, steps, *output_shape)."""
    rows, steps, d = codes.shape
    out = decode(codes.reshape(rows * steps, d))
    return out.reshape(rows, steps, *out.shape[1:])


def shifted_codes(z: np.ndarray, basis: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Codes ``z + offsets[i, t] * basis[i]``, shape (rows, steps, d): one traversal row per basis vector."""
    return z[None, None, :] + offsets[:, :, None] * basis[:, None, :]


def grid(model, z, dims, values) -> np.ndarray:
    """Decode one seed code with each latent in ``dims`` set in turn to each of ``values``.

    Parameters
    ----------
    model : LatentModel, object with ``decode``, or callable
        What turns a batch of latents (n, d) into outputs.
    z : array-like of shape (n_latents,)
        The seed code; every latent not being traversed keeps its value.
    dims : sequence of int
        Latents to traverse, one grid row each, in this order.
    values : array-like of shape (n_steps,) or (n_dims, n_steps)
        The values each row's latent takes (one row of values per dim, or one shared row).

    Returns
    -------
    ndarray of shape (n_dims, n_steps, *output_shape)

    Examples
    --------
    >>> out = grid(lambda z: z[:, :1] * 10, [1.0, 2.0], dims=[0, 1], values=[-1.0, 0.0, 1.0])
    >>> out[..., 0].tolist()
    [[-10.0, 0.0, 10.0], [10.0, 10.0, 10.0]]
    """
    z = np.asarray(z, dtype=np.float32).reshape(-1)
    dims = [int(j) for j in np.atleast_1d(dims)]
    bad = [j for j in dims if not 0 <= j < len(z)]
    if bad:
        raise InputError(f"grid: dims {bad} out of range for a code of {len(z)} latents (0..{len(z) - 1})")
    values = np.asarray(values, dtype=np.float32)
    values = np.broadcast_to(values, (len(dims), values.shape[-1])) if values.ndim == 1 else values
    if values.shape[0] != len(dims):
        raise InputError(f"grid: values has {values.shape[0]} rows for {len(dims)} dims; give one row per dim")
    codes = np.repeat(np.repeat(z[None, None, :], len(dims), axis=0), values.shape[1], axis=1)
    for row, j in enumerate(dims):
        codes[row, :, j] = values[row]
    return decode_grid(Decoder(model), codes)


def traversal_effect(outputs: np.ndarray) -> np.ndarray:
    """Mean absolute change of the output between consecutive steps, per row: (rows, steps, ...) -> (rows,)."""
    rows, steps = outputs.shape[:2]
    if steps < 2:
        return np.zeros(rows)
    diff = np.abs(np.diff(outputs.reshape(rows, steps, -1).astype(np.float64), axis=1))
    return diff.mean(axis=(1, 2))


def inactive_rows(effect: np.ndarray, *, fraction: float = INACTIVE_FRACTION) -> np.ndarray:
    """Rows whose :func:`traversal_effect` is at most ``fraction`` of the largest row's (all, if none changes).

    >>> inactive_rows(np.array([1.0, 0.01, 0.5])).tolist()
    [False, True, False]
    """
    top = float(effect.max()) if effect.size else 0.0
    return effect <= fraction * top if top > 0 else np.ones_like(effect, dtype=bool)
