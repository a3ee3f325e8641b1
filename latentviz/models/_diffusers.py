"""diffusers ``AutoencoderKL`` folders: the autoencoder of latent-diffusion models (optional extra).

diffusers' own image processor feeds the VAE images in [-1, 1] and maps decoded images back with
``(y + 1) / 2`` clipped to [0, 1]; latentviz's images are in [0, 1], so the adapter does the same
two steps. The encoder output is ``latent_dist`` (mean and log variance, read by
:mod:`latentviz.models._conventions`); decoding is ``decode(z).sample``. By default the latents are
the distribution's mean as the VAE gives it; ``--scale-latents`` gives what a latent-diffusion
pipeline feeds its denoiser, ``(mean - shift_factor) * scaling_factor`` (SD3 and Flux configs have
a shift; the others shift by 0), and decoding undoes it first.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from latentviz._optional import require
from latentviz.errors import InputError


def load_autoencoder_kl(path: Path) -> nn.Module:
    """``AutoencoderKL.from_pretrained`` on a local folder (never the network)."""
    diffusers = require("diffusers", purpose=f"the diffusers folder {path}")
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    try:
        return diffusers.AutoencoderKL.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"checkpoint {path}: diffusers could not load this AutoencoderKL folder ({first})") from exc


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1], as diffusers' VaeImageProcessor normalises them."""
    return x * 2.0 - 1.0


def to_image_range(y: torch.Tensor) -> torch.Tensor:
    """Decoded images in [-1, 1] -> [0, 1], clipped, as diffusers' postprocessing does."""
    return (y / 2.0 + 0.5).clamp(0.0, 1.0)


def latent_scaling(module) -> tuple[float, float]:
    """``(shift_factor, scaling_factor)`` from the VAE's config; a config without a shift (SD 1.x/2.x/XL) shifts by 0."""
    config = module.config
    return float(config.get("shift_factor") or 0.0), float(config.get("scaling_factor") or 1.0)


def adapter_options(module, *, scale_latents: bool) -> dict:
    """The :class:`LatentModel` hooks for an AutoencoderKL; ``--scale-latents`` adds the pipeline's scaling."""
    hooks: dict = {"input_transform": to_model_range, "output_transform": to_image_range}
    if scale_latents:
        hooks["latent_scaling"] = latent_scaling(module)
    return hooks
