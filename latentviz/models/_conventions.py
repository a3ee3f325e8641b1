"""Turn whatever an encoder returns into ``(mu, logvar)``: the output conventions of the field."""

from __future__ import annotations

import numpy as np
import torch

from latentviz.errors import InputError

_MEAN_KEYS = ("mu", "mean", "z_mean", "loc", "z")
_LOGVAR_KEYS = ("logvar", "log_var", "z_log_var", "log_variance")
_STD_KEYS = ("std", "sigma", "scale", "z_std")


def interpret_output(out) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return ``(mu, logvar or None)`` for the encoder output conventions latentviz understands.

    A tensor (or numpy array) is the code; ``(mu, logvar)``; ``(z, mu, logvar)`` gives ``mu``; a
    ``torch.distributions`` object gives its mean and log variance; ``latent_dist`` (diffusers)
    is unwrapped; ``last_hidden_state`` (transformers) is returned as is for pooling; dicts with
    keys among z/mu/mean/logvar/log_var/std/sigma.
    """
    if isinstance(out, torch.Tensor):
        return out, None
    if isinstance(out, np.ndarray):  # e.g. SentenceTransformer.encode
        return torch.from_numpy(np.ascontiguousarray(out)), None
    if hasattr(out, "latent_dist"):
        return interpret_output(out.latent_dist)
    if isinstance(out, torch.distributions.Distribution) or (hasattr(out, "mean") and hasattr(out, "logvar")):
        return _from_distribution(out)
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state, None
    if isinstance(out, dict):
        return _from_mapping(out)
    if isinstance(out, (tuple, list)):
        tensors = [t for t in out if isinstance(t, torch.Tensor)]
        if len(out) == 1:
            return interpret_output(out[0])
        if len(out) == 2 and len(tensors) == 2 and out[0].shape == out[1].shape:
            return out[0], out[1]
        if len(out) == 3 and len(tensors) == 3 and out[0].shape == out[1].shape == out[2].shape:
            return out[1], out[2]
        if len(out) >= 1 and isinstance(out[0], torch.Tensor):
            raise InputError(
                f"the encoder returned a {type(out).__name__} of {len(out)} items with shapes "
                f"{[tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in out]}; "
                "latentviz understands z, (mu, logvar) or (z, mu, logvar); pick the latent with --layer or wrap the model"
            )
    raise InputError(
        f"the encoder returned {type(out).__name__}, which latentviz cannot read as a latent; "
        "return a tensor, (mu, logvar), a dict with 'mu'/'logvar', or a torch distribution"
    )


def _from_distribution(dist) -> tuple[torch.Tensor, torch.Tensor | None]:
    mean = dist.mean
    if hasattr(dist, "logvar"):
        return mean, dist.logvar
    try:
        variance = dist.variance
    except (NotImplementedError, AttributeError):
        return mean, None
    return mean, torch.log(variance.clamp_min(1e-30))


def _from_mapping(out: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    mean = next((out[k] for k in _MEAN_KEYS if k in out and isinstance(out[k], torch.Tensor)), None)
    if mean is None:
        if "last_hidden_state" in out:
            return out["last_hidden_state"], None
        raise InputError(
            f"the encoder returned a dict with keys {', '.join(map(str, out))}; "
            f"latentviz needs one of {', '.join(_MEAN_KEYS)}"
        )
    if "mu" in out or "mean" in out:  # prefer the mean when both z and mu are present
        mean = out["mu"] if "mu" in out else out["mean"]
    logvar = next((out[k] for k in _LOGVAR_KEYS if k in out), None)
    if logvar is None:
        std = next((out[k] for k in _STD_KEYS if k in out), None)
        if std is not None:
            logvar = 2.0 * torch.log(std.clamp_min(1e-30))
    return mean, logvar
