"""Any checkpoint -> a :class:`LatentModel` (encode, decode, sample_prior, latent_dim, kind)."""

from __future__ import annotations

from pathlib import Path

import torch

from latentviz._validation import ParameterError
from latentviz.devices import torch_device
from latentviz.models._adapter import KINDS, LatentModel, expected_input, shape_error
from latentviz.models._conventions import interpret_output
from latentviz.models._formats import FOLDER_NEEDS, FORM_NAMES, detect_form, load_module
from latentviz.models._pooling import POOLS, decodable, layer_layout, make_pool
from latentviz.trust import sha256_of

__all__ = [
    "FOLDER_NEEDS",
    "FORM_NAMES",
    "KINDS",
    "POOLS",
    "LatentModel",
    "expected_input",
    "interpret_output",
    "load_from_spec",
    "load_model",
    "shape_error",
]


def load_model(
    checkpoint: str,
    *,
    factory: str | None = None,
    factory_kwargs: dict | None = None,
    layer: str | None = None,
    trust_checkpoint: bool = False,
    strict: bool = True,
    generator: bool = False,
    pool: str | None = None,
    pool_axis: str | None = None,
    max_length: int | None = None,
    weights: str | None = None,
    scale_latents: bool = False,
    device: str | torch.device = "cpu",
) -> LatentModel:
    """Load ``checkpoint`` in whatever form it is and wrap it as a :class:`LatentModel`.

    ``pool`` and ``pool_axis`` are ``--pool`` and ``--pool-axis`` (see :mod:`latentviz.models._pooling`);
    ``max_length`` truncates the texts a transformers model tokenizes; ``weights`` picks one of a
    training checkpoint's sets of weights (``ema``); ``scale_latents`` applies a diffusers VAE's
    scaling factor. Everything needed to load it again lands in ``model.spec``.
    """
    from latentviz.trust import code_sha256, pin

    form = detect_form(str(checkpoint))
    checkpoint, factory = (pin(str(checkpoint)) if form == "factory" else str(checkpoint)), pin(factory)
    module, record = load_module(
        checkpoint,
        form=form,
        factory=factory,
        factory_kwargs=factory_kwargs,
        trust=trust_checkpoint,
        strict=strict,
        weights=weights,
    )
    path = Path(checkpoint)
    hooks = _adapter_options(
        form,
        path,
        module,
        layer=layer,
        pool=pool,
        pool_axis=pool_axis,
        max_length=max_length,
        scale_latents=scale_latents,
        trust=trust_checkpoint,
    )
    spec = {
        "form": record.pop("form", form),
        "checkpoint": str(path.resolve()) if path.exists() else checkpoint,
        "sha256": sha256_of(path) if path.exists() else None,
        "factory": factory,
        "factory_sha256": code_sha256(factory or (checkpoint if form == "factory" else None)),
        "kwargs": factory_kwargs or {},
        "layer": layer,
        "strict": strict,
        "generator": generator,
        "trusted": bool(trust_checkpoint),
        "pool": pool,
        "pool_axis": pool_axis,
        "max_length": max_length,
        "weights": weights,
        "scale_latents": scale_latents,
        **record,
    }
    if hooks.get("latent_scaling"):
        spec["latent_scaling"] = dict(zip(("shift_factor", "scaling_factor"), hooks["latent_scaling"], strict=True))
    model = LatentModel(module, spec=spec, layer=layer, generator=generator, **hooks)
    dev = torch_device(device) if isinstance(device, str) else device
    return model.to(dev)


def _adapter_options(
    form: str, path: Path, module, *, layer, pool, pool_axis, max_length, scale_latents, trust
) -> dict:
    """The :class:`LatentModel` hooks a form needs (input/output ranges, tokenizer, pooling, scaling)."""
    tokens = form == "transformers"
    if max_length is not None and not tokens:
        raise ParameterError("encode", "max_length", "applies to transformers model folders (text) only")
    if scale_latents and form != "diffusers":
        raise ParameterError("encode", "scale_latents", "applies to diffusers AutoencoderKL folders only")
    if form == "sentence_transformers" and pool and not layer:
        raise ParameterError(
            "encode", "pool", "a sentence-transformers folder pools as its own 1_Pooling module says; leave it out"
        )
    hooks: dict = {"pool": make_pool(pool, layout=_layout(tokens, module, layer, pool_axis))}
    if not decodable(pool):
        hooks["no_decoder_reason"] = f"latents pooled with --pool {pool} cannot be decoded"
    if form == "export":
        hooks["forward_only"] = True
    elif form == "diffusers":
        from latentviz.models import _diffusers

        hooks.update(_diffusers.adapter_options(module, scale_latents=scale_latents))
    elif tokens:
        from latentviz.models import _transformers

        hooks.update(_transformers.adapter_options(path, module, max_length=max_length, trust=trust))
    elif form == "sentence_transformers":
        hooks["forward_only"] = True  # its forward is SentenceTransformer.encode on one batch
    return hooks


def _layout(tokens: bool, module, layer: str | None, pool_axis: str | None) -> str | None:
    """How --pool reads a 3-axis latent: a transformers folder's padded text, --pool-axis, or the hooked layer's type."""
    if tokens:
        return "text"
    if pool_axis:
        return pool_axis
    if layer and hasattr(module, "named_modules"):
        return layer_layout(dict(module.named_modules()).get(layer))
    return None


def load_from_spec(spec: dict, *, device: str = "auto", trust_checkpoint: bool = False) -> LatentModel:
    """Reload the model a manifest describes (for decoding in traverse, metrics and the dashboard).

    The manifest never decides trust: code it names (a factory, a pickled module...) runs only
    with ``trust_checkpoint`` or this machine's record that its user created the run with those
    files (see :mod:`latentviz.trust`), and a file whose sha256 changed is refused either way.
    """
    from latentviz.trust import check_model

    trust = check_model(spec, trust_checkpoint=trust_checkpoint)
    model = load_model(
        spec["checkpoint"],
        factory=spec.get("factory"),
        factory_kwargs=spec.get("kwargs"),
        layer=spec.get("layer"),
        trust_checkpoint=trust,
        strict=spec.get("strict", True),
        generator=spec.get("generator", False),
        pool=spec.get("pool"),
        pool_axis=spec.get("pool_axis"),
        max_length=spec.get("max_length"),
        weights=spec.get("weights"),
        scale_latents=spec.get("scale_latents", False),
        device=device,
    )
    if spec.get("latent_shape"):
        model.latent_shape = tuple(spec["latent_shape"])
    if spec.get("gives_variance") is not None:
        model.gives_variance = spec["gives_variance"]
    return model
