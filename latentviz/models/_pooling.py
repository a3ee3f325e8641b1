"""``--pool``: how latents with more than one axis become one vector per sample.

Spatial latents (channels first, ``(B, C, *S)``, e.g. a diffusers VAE's ``4×H×W``):

- ``flatten`` (the default): every value is a dimension; the shape is kept so decoding works.
- ``mean``: the mean over positions, one dimension per channel. Its log variance is that of the
  mean of independent Gaussians, ``log(mean(σ²) / n_positions)``.
- ``channel``: per-channel statistics, the mean then the standard deviation over positions
  (``2C`` dimensions).

Token sequences (transformers' ``last_hidden_state``, ``(B, L, H)``):

- ``mean`` (the default): the mean over non-padding tokens (``attention_mask``).
- ``cls``: the first token's state.

Pooled latents other than ``flatten`` cannot be decoded.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from latentviz.errors import InputError

SPATIAL_POOLS = ("flatten", "mean", "channel")
TOKEN_POOLS = ("mean", "cls")
POOLS = ("flatten", "mean", "channel", "cls")

Pool = Callable[[torch.Tensor, "torch.Tensor | None", object], "tuple[torch.Tensor, torch.Tensor | None]"]


def make_pool(name: str | None, *, tokens: bool = False) -> Pool | None:
    """The pooling function for ``--pool name`` (None: keep every value), checked against the latent's layout."""
    allowed = TOKEN_POOLS if tokens else SPATIAL_POOLS
    if name is None:
        return _token_mean if tokens else None
    if name not in allowed:
        what = "a transformers model's token states" if tokens else "spatial latents"
        raise InputError(f"--pool: '{name}' does not apply to {what}; choose from {', '.join(allowed)}")
    return {"flatten": None, "mean": _token_mean if tokens else _spatial_mean,
            "channel": _channel_stats, "cls": _first_token}[name]


def decodable(name: str | None) -> bool:
    """Whether latents pooled this way can still go through the decoder."""
    return name in (None, "flatten")


def _spatial_axes(mu: torch.Tensor, pool: str) -> tuple[int, ...]:
    if mu.ndim < 3:
        raise InputError(f"--pool {pool}: the latents have shape {tuple(mu.shape[1:])}, with no spatial axes to pool; "
                         "leave --pool out")
    return tuple(range(2, mu.ndim))


def _spatial_mean(mu, logvar, _x):
    axes = _spatial_axes(mu, "mean")
    n = math.prod(mu.shape[a] for a in axes)
    if logvar is not None:
        logvar = torch.log(logvar.exp().mean(dim=axes) / n)
    return mu.mean(dim=axes), logvar


def _channel_stats(mu, _logvar, _x):
    axes = _spatial_axes(mu, "channel")
    return torch.cat([mu.mean(dim=axes), mu.std(dim=axes, unbiased=False)], dim=1), None


def _token_mask(states: torch.Tensor, x) -> torch.Tensor:
    mask = x.get("attention_mask") if isinstance(x, dict) else None
    if mask is None:
        return torch.ones(states.shape[:2], dtype=states.dtype, device=states.device)
    return mask.to(states.dtype)


def _token_mean(states, _logvar, x):
    if states.ndim != 3:
        raise InputError(f"--pool mean: expected token states of shape (tokens, hidden); got {tuple(states.shape[1:])}")
    mask = _token_mask(states, x).unsqueeze(-1)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0), None


def _first_token(states, _logvar, _x):
    if states.ndim != 3:
        raise InputError(f"--pool cls: expected token states of shape (tokens, hidden); got {tuple(states.shape[1:])}")
    return states[:, 0], None
