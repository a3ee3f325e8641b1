"""``latentviz inspect``: what latentviz sees in a checkpoint, before anything is encoded.

Loads the model as ``encode`` would, then (when data is given) encodes a small probe batch with a
forward hook on every submodule, so the latent's size and shape, whether the encoder gives a
variance, the decoded shape and each candidate ``--layer``'s output shape are measured, not guessed.
It sits above :mod:`latentviz.models` and :mod:`latentviz.data` (it loads and encodes), so those
never import it.
"""

from __future__ import annotations

import torch
from torch import nn

from latentviz.errors import InputError
from latentviz.models import FOLDER_NEEDS, FORM_NAMES, interpret_output, load_model, shape_error

KIND_NAMES = {
    "vae": "VAE",
    "autoencoder": "autoencoder",
    "generator": "generator",
    "feature_extractor": "feature extractor",
    "embedding": "embedding",
}
_CONTAINERS = (nn.ModuleList, nn.ModuleDict)  # hold layers, never called themselves


def inspect_model(
    checkpoint: str,
    *,
    data: str | None = None,
    probe: int = 4,
    image_size=None,
    features=None,
    data_options: dict | None = None,
    **load_options,
) -> dict:
    """Describe ``checkpoint``: format, kind, parameters, encoder/decoder, latent size, ``--layer`` candidates.

    Parameters
    ----------
    checkpoint : str
        Anything ``latentviz encode`` accepts as CHECKPOINT.
    data : str, optional
        A data source; its first ``probe`` samples are encoded to measure the latent.
    **load_options
        Passed to :func:`latentviz.models.load_model` (factory, factory_kwargs, layer, pool, ...).

    Returns
    -------
    dict
        ``form``, ``format`` (in words), ``kind``, ``kind_known`` (False until a probe tells a VAE
        from an autoencoder), ``parameters``, ``encoder``, ``decoder``, ``latent_dim``,
        ``latent_shape``, ``gives_variance``, ``probe`` (or None), ``layers`` (name, type,
        output_shape) and ``notes``.
    """
    model = load_model(checkpoint, device="cpu", **load_options)
    info = {
        "checkpoint": model.spec["checkpoint"],
        "form": model.spec["form"],
        "format": _format(model),
        "probe": None,
        "notes": _notes(model),
    }
    layers = _layers(model.module)
    if data is not None and not model.has_encoder:
        info["notes"].append("a generator encodes no data: --data was not used")
    elif data is not None:
        info["probe"] = _probe(
            model, data, probe, layers, image_size=image_size, features=features, data_options=data_options or {}
        )
    elif model.has_encoder:
        info["notes"].append("give --data DATA to measure the latent and the layers' output shapes on a probe batch")
    kind_known = not (model.has_encoder and model.has_decoder and not model.layer and model.gives_variance is None)
    described = model.describe()
    if any(layer["output_shape"] for layer in layers):  # measured: keep the layers the forward pass used
        layers = [layer for layer in layers if layer["output_shape"] is not None]
    info.update(
        described,
        kind_name=KIND_NAMES[described["kind"]],
        kind_known=kind_known,
        gives_variance=model.gives_variance,
        layers=layers,
    )
    return info


def _format(model) -> str:
    spec = model.spec
    text = FORM_NAMES.get(spec["form"], spec["form"])
    details = []
    if spec["form"] == "state_dict":
        text += f" built by {spec['factory']}"
        if spec.get("unwrapped"):
            details.append(f"unwrapped from '{spec['unwrapped']}'")
        if spec.get("stripped_prefix"):
            details.append(f"prefix '{spec['stripped_prefix']}' stripped")
        if spec.get("hyper_parameters_used"):
            details.append(f"hyper-parameters {', '.join(spec['hyper_parameters_used'])} from the checkpoint")
    if spec["form"] in ("transformers", "pickled_module", "torchscript", "diffusers"):
        details.append(_type_name(model.module))
    if spec["form"] == "sentence_transformers":
        st = spec["sentence_transformers"]
        details += [
            ", ".join(st["modules"]),
            f"pooling {st['pooling']}",
            *(["normalized"] if st["normalize"] else []),
            f"max_seq_length {st['max_seq_length']}",
        ]
    if spec["form"] == "timm":
        details.append(f"timm.create_model({', '.join(f'{k}={v!r}' for k, v in spec['timm'].items())})")
    if spec.get("latent_scaling"):
        scaling = spec["latent_scaling"]
        details.append(f"latents (mean - {scaling['shift_factor']:g}) * {scaling['scaling_factor']:g}")
    return f"{text} ({'; '.join(details)})" if details else text


def _notes(model) -> list[str]:
    spec, notes = model.spec, []
    if spec["form"] in FOLDER_NEEDS:
        notes.append(f"a {FORM_NAMES[spec['form']]} holds {FOLDER_NEEDS[spec['form']]}")
    if spec.get("normalize_hint"):
        notes.append(f"the model was trained on normalised inputs: encode with --normalize {spec['normalize_hint']}")
    if spec.get("weight_sets"):
        notes.append(f"weights: {_weight_sets(spec)}; --weights NAME (or ema) takes another set")
    if isinstance(model.module, torch.jit.ScriptModule):
        notes.append("TorchScript modules take no forward hooks, so --layer needs the model's Python code")
    if spec.get("static_batch"):
        notes.append(
            f"exported for batches of exactly {spec['static_batch']} rows: encoded in chunks of that size, "
            "the last one padded (export with dynamic_shapes={'x': {0: torch.export.Dim('batch')}} to avoid it)"
        )
    for what in ("missing_keys", "unexpected_keys"):
        keys = spec.get(what) or []
        if keys:
            notes.append(
                f"--no-strict: {len(keys)} {what.replace('_', ' ')} ({', '.join(keys[:4])}"
                f"{', ...' if len(keys) > 4 else ''})"
            )
    return notes


def _weight_sets(spec: dict) -> str:
    """The checkpoint's sets of weights, the one used and the EMA marked: 'state_dict (used), state_dict_ema (ema)'."""
    used = (spec.get("unwrapped") or "").split(".")[0]
    parts = []
    for name in spec["weight_sets"]:
        tags = [tag for tag, on in (("used", name == used), ("ema", name == spec.get("ema_weights"))) if on]
        parts.append(f"{name} ({', '.join(tags)})" if tags else name)
    return ", ".join(parts)


def _layers(module) -> list[dict]:
    """Every submodule a forward pass can call, in definition order: the ``--layer`` candidates."""
    if not hasattr(module, "named_modules") or isinstance(module, torch.jit.ScriptModule):
        return []
    return [
        {"name": name, "type": _type_name(sub), "output_shape": None}
        for name, sub in module.named_modules()
        if name and not name.startswith("_") and not isinstance(sub, _CONTAINERS)
    ]


def _type_name(sub) -> str:
    name = type(sub).__name__
    return getattr(sub, "original_name", name) if name == "RecursiveScriptModule" else name


def _probe(model, data: str, n: int, layers: list[dict], *, image_size, features, data_options: dict) -> dict:
    from latentviz.data import open_source

    source = open_source(data, image_size=image_size, features=features, **data_options)
    batch = source.read(0, min(n, len(source)))
    with torch.inference_mode():
        try:
            mu, _ = model.encode(batch.x)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise shape_error(model, batch.x, exc) from exc
        decoded = model.decode(mu) if model.has_decoder else None
        _measure_layers(model, batch.x, layers)
    return {
        "data": source.spec,
        "n": len(mu),
        "input_shape": list(source.item_shape) if source.item_shape else None,
        "decoded_shape": list(decoded.shape[1:]) if isinstance(decoded, torch.Tensor) else None,
    }


def _measure_layers(model, x, layers: list[dict]) -> None:
    """Run the module's forward, as ``--layer`` does, and record each candidate's per-sample output shape.

    Shapes stay unknown where the forward pass needs more than the inputs, or the module takes no
    hooks (TorchScript).
    """
    handles = _hook_layers(model.module, layers)
    try:
        model._call(model.module, model.input_transform(x) if model.input_transform else x)
    except Exception:  # any failure only means the shapes stay unmeasured
        for layer in layers:
            layer["output_shape"] = None
    finally:
        for handle in handles:
            handle.remove()


def _hook_layers(module, layers: list[dict]) -> list:
    subs = dict(module.named_modules())
    handles = []
    for layer in layers:

        def hook(_mod, _inp, out, layer=layer):
            try:
                layer["output_shape"] = list(interpret_output(out)[0].shape[1:])
            except InputError:
                pass  # an output no latent can be read from: not a candidate

        try:
            handles.append(subs[layer["name"]].register_forward_hook(hook))
        except (RuntimeError, AttributeError):
            return handles
    return handles
