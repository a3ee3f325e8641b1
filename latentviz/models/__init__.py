"""Any checkpoint -> a :class:`LatentModel` (encode, decode, sample_prior, latent_dim, kind)."""

from __future__ import annotations

from pathlib import Path

import torch

from latentviz.devices import torch_device
from latentviz.errors import InputError
from latentviz.models._adapter import KINDS, LatentModel, expected_input
from latentviz.models._formats import detect_form, load_module, sha256_of
from latentviz.models._inspect import inspect_model
from latentviz.models._pooling import POOLS, decodable, make_pool

__all__ = ["KINDS", "POOLS", "LatentModel", "expected_input", "inspect_model", "load_model", "load_from_spec"]


def load_model(checkpoint: str, *, factory: str | None = None, factory_kwargs: dict | None = None,
               layer: str | None = None, trust_checkpoint: bool = False, strict: bool = True,
               generator: bool = False, pool: str | None = None, max_length: int | None = None,
               device: str | torch.device = "cpu") -> LatentModel:
    """Load ``checkpoint`` in whatever form it is and wrap it as a :class:`LatentModel`.

    ``pool`` is ``--pool`` (see :mod:`latentviz.models._pooling`); ``max_length`` truncates the texts
    a transformers model tokenizes. Everything needed to load it again lands in ``model.spec``.
    """
    form = detect_form(str(checkpoint))
    module, record = load_module(str(checkpoint), form=form, factory=factory, factory_kwargs=factory_kwargs,
                                 trust=trust_checkpoint, strict=strict)
    path = Path(checkpoint)
    hooks = _adapter_options(form, path, module, pool=pool, max_length=max_length, trust=trust_checkpoint)
    spec = {
        "form": record.pop("form", form),
        "checkpoint": str(path.resolve()) if path.exists() else str(checkpoint),
        "sha256": sha256_of(path) if path.exists() else None,
        "factory": factory,
        "kwargs": factory_kwargs or {},
        "layer": layer,
        "strict": strict,
        "generator": generator,
        "trusted": bool(trust_checkpoint),
        "pool": pool,
        "max_length": max_length,
        **record,
    }
    model = LatentModel(module, spec=spec, layer=layer, generator=generator, **hooks)
    dev = torch_device(device) if isinstance(device, str) else device
    return model.to(dev)


def _adapter_options(form: str, path: Path, module, *, pool, max_length, trust) -> dict:
    """The :class:`LatentModel` hooks a form needs (input/output ranges, tokenizer, pooling)."""
    tokens = form == "transformers"
    if max_length is not None and not tokens:
        raise InputError("--max-length applies to transformers model folders (text) only")
    hooks: dict = {"pool": make_pool(pool, tokens=tokens)}
    if not decodable(pool):
        hooks["no_decoder_reason"] = f"latents pooled with --pool {pool} cannot be decoded"
    if form == "export":
        hooks["forward_only"] = True
    elif form == "diffusers":
        from latentviz.models import _diffusers

        hooks.update(_diffusers.adapter_options())
    elif tokens:
        from latentviz.models import _transformers

        hooks.update(_transformers.adapter_options(path, module, max_length=max_length, trust=trust))
    return hooks


def load_from_spec(spec: dict, *, device: str = "auto", trust_checkpoint: bool | None = None) -> LatentModel:
    """Reload the model a manifest describes (the dashboard's live decoding uses this)."""
    trust = spec.get("trusted", False) if trust_checkpoint is None else trust_checkpoint
    model = load_model(spec["checkpoint"], factory=spec.get("factory"), factory_kwargs=spec.get("kwargs"),
                       layer=spec.get("layer"), trust_checkpoint=trust, strict=spec.get("strict", True),
                       generator=spec.get("generator", False), pool=spec.get("pool"),
                       max_length=spec.get("max_length"), device=device)
    if spec.get("latent_shape"):
        model.latent_shape = tuple(spec["latent_shape"])
    if spec.get("gives_variance") is not None:
        model.gives_variance = spec["gives_variance"]
    return model
