"""``--pool``: how latents with more than one axis become one vector per sample.

Spatial latents (channels first, ``(B, C, *S)``, e.g. a diffusers VAE's ``4×H×W``):

- ``flatten`` (the default): every value is a dimension; the shape is kept so decoding works.
- ``mean``: the mean over positions, one dimension per channel. Its log variance is that of the
  mean of independent Gaussians, ``log(mean(σ²) / n_positions)``.
- ``max``: the maximum over positions, one dimension per channel.
- ``channel``: per-channel statistics, the mean then the standard deviation over positions
  (``2C`` dimensions).

Token sequences (``(B, L, H)``: transformers' ``last_hidden_state``, or a hooked ViT block or its
norm) pool over the tokens, never the channels:

- ``mean`` (the default for transformers folders): the mean over non-padding tokens (``attention_mask``).
- ``cls``: the first token's state.
- ``max``: the maximum over non-padding tokens.

A 3-axis latent is either layout, so it is pooled as the hooked layer's type says (a Linear,
LayerNorm or transformer layer gives tokens; a Conv or BatchNorm gives channels first) or as
``--pool-axis tokens|spatial`` says; where neither tells, ``--pool`` is refused with that hint.
Pooled latents other than ``flatten`` cannot be decoded.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import nn

from latentviz.errors import InputError

SPATIAL_POOLS = ("flatten", "mean", "max", "channel")
TOKEN_POOLS = ("mean", "cls", "max")
POOLS = ("flatten", "mean", "max", "channel", "cls")
# Layouts: "text" (a transformers folder's padded token states), "tokens", "spatial", None (not known).
_ALLOWED = {"text": TOKEN_POOLS, "tokens": ("flatten",) + TOKEN_POOLS, "spatial": SPATIAL_POOLS, None: POOLS}
_WHAT = {
    "text": "a transformers model's token states",
    "tokens": "token states (batch, tokens, channels)",
    "spatial": "spatial latents (batch, channels, positions...)",
    None: "these latents",
}
# Layer types whose output keeps its channels last (token sequences) or first (feature maps).
_TOKEN_LAYERS = (
    nn.Linear,
    nn.LayerNorm,
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.Embedding,
)
_SPATIAL_LAYERS = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
)

Pool = Callable[[torch.Tensor, "torch.Tensor | None", object], "tuple[torch.Tensor, torch.Tensor | None]"]


def make_pool(name: str | None, *, layout: str | None = None) -> Pool | None:
    """The pooling function for ``--pool name`` (None: keep every value), checked against the latent's layout.

    ``layout`` is "text" (transformers folders: ``mean`` by default), "tokens", "spatial", or None
    when only the latent's shape can tell (4 or more axes are spatial; 3 are ambiguous).
    """
    if name is None and layout == "text":
        name = "mean"
    allowed = _ALLOWED[layout]
    if name is not None and name not in allowed:
        raise InputError(f"--pool: '{name}' does not apply to {_WHAT[layout]}; choose from {', '.join(allowed)}")
    if name in (None, "flatten"):
        return None
    return functools.partial(_pool, name=name, layout=layout)


def layer_layout(layer) -> str | None:
    """What a hooked layer's 3-axis output holds, from the layer's type (or its last typed submodule)."""
    if not isinstance(layer, nn.Module):
        return None
    for sub in [layer, *reversed(list(layer.modules()))]:
        if isinstance(sub, _TOKEN_LAYERS):
            return "tokens"
        if isinstance(sub, _SPATIAL_LAYERS):
            return "spatial"
    return None


def decodable(name: str | None) -> bool:
    """Whether latents pooled this way can still go through the decoder."""
    return name in (None, "flatten")


def _pool(mu, logvar, x, *, name: str, layout: str | None):
    shape = tuple(mu.shape[1:])
    if mu.ndim < 3:
        raise InputError(
            f"--pool {name}: the latents have shape {shape}, with no spatial axes or tokens to pool; leave --pool out"
        )
    if layout is None and mu.ndim == 3:
        raise InputError(
            f"--pool {name}: latents of shape {shape} may be (tokens, channels), as in a ViT block, or "
            "(channels, positions), as after a Conv1d; say which with --pool-axis tokens or "
            "--pool-axis spatial"
        )
    if layout in ("text", "tokens"):
        if mu.ndim != 3:
            raise InputError(f"--pool {name}: expected token states of shape (tokens, channels); got {shape}")
        return _token_pool(mu, x, name), None
    if name == "cls":
        raise InputError(
            f"--pool cls: the latents of shape {shape} are spatial (channels first), with no first "
            "token; choose mean, max or channel, or --pool-axis tokens if they are tokens"
        )
    return _spatial_pool(mu, logvar, name)


def _spatial_pool(mu, logvar, name: str):
    axes = tuple(range(2, mu.ndim))
    if name == "channel":
        return torch.cat([mu.mean(dim=axes), mu.std(dim=axes, unbiased=False)], dim=1), None
    if name == "max":
        return mu.amax(dim=axes), None
    n = math.prod(mu.shape[a] for a in axes)
    if logvar is not None:
        logvar = torch.log(logvar.exp().mean(dim=axes) / n)
    return mu.mean(dim=axes), logvar


def _token_mask(states: torch.Tensor, x) -> torch.Tensor:
    mask = x.get("attention_mask") if isinstance(x, dict) else None
    if mask is None:
        return torch.ones(states.shape[:2], dtype=states.dtype, device=states.device)
    return mask.to(states.dtype)


def _token_pool(states, x, name: str):
    if name == "cls":
        return states[:, 0]
    mask = _token_mask(states, x).unsqueeze(-1)
    if name == "max":
        return states.masked_fill(mask == 0, float("-inf")).amax(dim=1)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
