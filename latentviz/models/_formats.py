"""Detect a checkpoint's form and load it to an ``nn.Module`` — safely.

Nothing in a checkpoint runs unless the user passes ``--trust-checkpoint``: pickles are read with
``weights_only=True`` (plain tensors, dicts and numbers only), safetensors hold no code, and model
folders never run remote code. TorchScript and ``torch.export`` programs *are* code (and torch's
own loaders unpickle and evaluate parts of them): untrusted, they load only when made of pure
tensor operations and nothing in them runs or is unpickled while loading (see
:mod:`latentviz.models._programs`). The forms:

======================  ===========================================================================
torchscript             ``torch.jit.save`` archive (its ``encode``/``decode`` methods are used)
export                  ``torch.export.save`` program (``.pt2``): its forward is the encoder
pickle                  ``.pt/.pth/.bin/.ckpt``: a state dict (built with ``--model``) or, trusted only,
                        a pickled ``nn.Module``
safetensors             a state dict in ``.safetensors`` (built with ``--model``)
diffusers               a diffusers ``AutoencoderKL`` folder (``config.json`` + weights)
transformers            a transformers model folder (``config.json`` with ``model_type`` + weights)
sentence_transformers   a sentence-transformers folder (``modules.json``: transformer, pooling, normalize)
timm                    a timm ``save_for_hf`` folder (``config.json`` with ``architecture`` + weights)
factory                 ``MODULE_OR_FILE:CALLABLE`` that returns the model
======================  ===========================================================================
"""

from __future__ import annotations

import inspect
import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import TypeGuard

import torch
from torch import nn

from latentviz._imports import import_callable, looks_like_callable_spec
from latentviz.errors import InputError, UnsafeCheckpointError
from latentviz.models import _programs

STATE_DICT_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt"}
FORM_NAMES = {
    "torchscript": "TorchScript archive",
    "export": "torch.export program",
    "state_dict": "state dict",
    "pickled_module": "pickled nn.Module (trusted)",
    "diffusers": "diffusers AutoencoderKL folder",
    "transformers": "transformers model folder",
    "sentence_transformers": "sentence-transformers folder",
    "timm": "timm model folder (save_for_hf)",
    "factory": "the model a MODULE_OR_FILE:CALLABLE returns",
}
# What each folder form holds and what reads it (error messages and 'latentviz inspect').
FOLDER_NEEDS = {
    "diffusers": "config.json with _class_name AutoencoderKL + weights, read by diffusers "
    "(pip install 'latentviz[diffusers]')",
    "transformers": "config.json with model_type + weights + tokenizer, read by transformers "
    "(pip install 'latentviz[transformers]')",
    "sentence_transformers": "modules.json + its module folders, read by sentence-transformers "
    "(pip install 'latentviz[sentence-transformers]')",
    "timm": "config.json with architecture + model.safetensors or pytorch_model.bin, read by timm (pip install timm)",
}
# Where trainers nest the weights, in the order they are looked for (the first found is the default).
WRAPPER_KEYS = (
    "state_dict",
    "model",
    "model_state_dict",
    "ema",
    "ema_model",
    "model_ema",
    "state_dict_ema",
    "ema_state_dict",
    "current_model_state",
)
# Lightning's WeightAveraging (EMAWeightAveraging) saves the average as state_dict and the trained
# weights as current_model_state, next to averaging_state.
_LIGHTNING_AVERAGED = ("current_model_state", "averaging_state")
# Prefixes wrappers add to every key: DataParallel/DDP, Lightning's attribute, torch.compile.
KNOWN_PREFIXES = ("module.", "model.", "_orig_mod.", "net.")
# Lightning saves its hyper-parameters as an AttributeDict; reading it as a plain dict runs nothing.
_LIGHTNING_DICTS = (
    "lightning.fabric.utilities.data.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
    "pytorch_lightning.utilities.parsing.AttributeDict",
)


def detect_form(checkpoint: str) -> str:
    """Name the checkpoint's form (a key of :data:`FORM_NAMES`, or pickle/safetensors) from its path and contents."""
    path = Path(checkpoint)
    if not path.exists():
        if looks_like_callable_spec(checkpoint):
            return "factory"
        raise InputError(f"checkpoint {checkpoint}: no such file or folder (or MODULE_OR_FILE:CALLABLE)")
    if path.is_dir():
        return _folder_form(path)
    if path.stat().st_size == 0:
        raise InputError(f"checkpoint {checkpoint}: the file is empty")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    if zipfile.is_zipfile(path):
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile as exc:
            raise InputError(f"checkpoint {checkpoint}: truncated or corrupt archive ({exc})") from exc
        if any(n.endswith("/archive_format") for n in names) or suffix == ".pt2":
            return "export"
        if any("/code/" in n and n.endswith(".py") for n in names) and any(n.endswith("constants.pkl") for n in names):
            return "torchscript"
        return "pickle"
    if suffix in STATE_DICT_SUFFIXES:
        return "pickle"  # the legacy (non-zip) torch.save format
    raise InputError(
        f"checkpoint {checkpoint}: unknown format '{suffix}'; use TorchScript, torch.export (.pt2), "
        "a state dict (.pt/.pth/.bin/.ckpt/.safetensors) with --model, a model folder, or MODULE:CALLABLE"
    )


def _folder_forms() -> str:
    return "; ".join(f"{FORM_NAMES[form]}s ({needs})" for form, needs in FOLDER_NEEDS.items())


def _folder_form(path: Path) -> str:
    if (path / "modules.json").is_file():
        return "sentence_transformers"
    config_path = path / "config.json"
    if not config_path.is_file():
        raise InputError(
            f"checkpoint {path}: a folder without config.json or modules.json; latentviz reads {_folder_forms()}"
        )
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"checkpoint {path}: config.json is not valid JSON ({exc})") from exc
    if "_class_name" in config:
        if config["_class_name"] != "AutoencoderKL":
            raise InputError(
                f"checkpoint {path}: a diffusers {config['_class_name']} folder; latentviz reads "
                "AutoencoderKL (the autoencoder of latent-diffusion models)"
            )
        return "diffusers"
    if "model_type" in config:
        return "transformers"
    if "architecture" in config:
        return "timm"
    raise InputError(
        f"checkpoint {path}: config.json has none of '_class_name' (diffusers), 'model_type' "
        f"(transformers) or 'architecture' (timm); latentviz reads {_folder_forms()}"
    )


def build_factory(
    factory: str | None, kwargs: dict | None, *, defaults: dict | None = None
) -> tuple[nn.Module, list[str]]:
    """Call ``factory(**kwargs)``; ``defaults`` (Lightning hyper-parameters) fill what kwargs leave out.

    Returns the module and the names of the defaults that were used.
    """
    if not factory:
        raise InputError(
            "a state dict needs the model's code: pass --model MODULE_OR_FILE:CALLABLE (and --model-kwargs JSON)"
        )
    fn = import_callable(factory)
    used = _accepted(fn, {k: v for k, v in (defaults or {}).items() if k not in (kwargs or {})})
    try:
        module = fn(**used, **(kwargs or {}))
    except TypeError as exc:
        raise InputError(f"--model {factory}: calling it with --model-kwargs {kwargs or {}} failed: {exc}") from exc
    if not isinstance(module, nn.Module):
        raise InputError(f"--model {factory}: returned {type(module).__name__}, not a torch.nn.Module")
    return module, sorted(used)


def _accepted(fn, values: dict) -> dict:
    """The entries of ``values`` that ``fn`` takes as keyword arguments."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return dict(values)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in values.items() if k in names}


def load_pickle(path: Path, *, trust: bool):
    """torch.load with weights_only=True unless the user trusts the file."""
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals([(dict, name) for name in _LIGHTNING_DICTS]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError / EOFError / zipfile errors
        text = str(exc)
        if not trust and ("weights_only" in text or "Unsupported global" in text or "GLOBAL" in text):
            raise UnsafeCheckpointError(
                f"checkpoint {path} holds pickled Python objects (such as a whole nn.Module), which can run code "
                "when loaded; nothing was run. If you trust its source, pass --trust-checkpoint"
            ) from exc
        first = text.strip().splitlines()[0] if text.strip() else ""
        raise InputError(f"checkpoint {path}: unreadable or truncated ({type(exc).__name__}: {first})") from exc


def load_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises SafetensorError / OSError
        raise InputError(f"checkpoint {path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from exc


def _is_state_dict(obj) -> TypeGuard[dict]:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_checkpoint(obj, path, *, weights: str | None = None) -> tuple[object, dict]:
    """Dig the weights out of a training checkpoint: ``{"state_dict": ...}``, ``{"model": ...}``, ``{"ema": ...}``...

    ``weights`` (``--weights``) names the top-level key to take, or ``ema`` for the exponential
    moving average; without it the first of :data:`WRAPPER_KEYS` is taken. Returns the state dict
    (or a module a trusted pickle held) and what was unwrapped: ``unwrapped`` (the key path),
    ``weight_sets`` and ``ema_weights`` (when there is more than one set), ``hyper_parameters``
    (Lightning's, used as default factory kwargs) and the training ``step`` / ``epoch`` the
    checkpoint records (for ``compare --order step``).
    """
    found: dict = {}
    keys = []
    sets = weight_sets(obj)
    if len(sets) > 1:
        found.update(weight_sets=sets, ema_weights=_ema_key(obj, sets))
    if weights is not None:
        _note_training_state(obj, found)
        keys.append(_chosen(obj, sets, weights, path))
        obj = obj[keys[-1]]
    while isinstance(obj, dict) and not _is_state_dict(obj):
        _note_training_state(obj, found)
        key = next((k for k in WRAPPER_KEYS if _holds_weights(obj.get(k))), None)
        if key is None:
            held = f"a dict with keys {', '.join(map(str, list(obj)[:8]))}" if obj else "an empty dict"
            raise InputError(
                f"checkpoint {path}: {held} but no state dict; latentviz looks for "
                f"tensors at the top level or under {', '.join(WRAPPER_KEYS)}"
            )
        keys.append(key)
        obj = obj[key]
    if keys:
        found["unwrapped"] = ".".join(keys)
    return obj, found


def _note_training_state(obj: dict, found: dict) -> None:
    """Lightning's hyper-parameters and the step / epoch of a checkpoint level, unless a higher level gave them."""
    if "hyper_parameters" in obj and isinstance(obj["hyper_parameters"], dict) and "hyper_parameters" not in found:
        found["hyper_parameters"] = dict(obj["hyper_parameters"])
    for key, name in (("global_step", "step"), ("step", "step"), ("epoch", "epoch")):  # a checkpoint series' position
        if isinstance(obj.get(key), int) and not isinstance(obj.get(key), bool) and name not in found:
            found[name] = int(obj[key])


def _holds_weights(value) -> bool:
    return isinstance(value, nn.Module) or (isinstance(value, dict) and bool(value))


def weight_sets(obj) -> list[str]:
    """The top-level keys of a training checkpoint that hold a set of weights, in :data:`WRAPPER_KEYS` order."""
    if not isinstance(obj, dict) or _is_state_dict(obj):
        return []
    return [k for k in WRAPPER_KEYS if _holds_weights(obj.get(k))]


def _ema_key(obj: dict, sets: list[str]) -> str | None:
    """The set that is an exponential moving average: a key named with ``ema``, or Lightning's averaged state_dict."""
    if all(k in obj for k in _LIGHTNING_AVERAGED) and "state_dict" in sets:
        return "state_dict"
    return next((k for k in sets if "ema" in k.lower().split("_")), None)


def _chosen(obj, sets: list[str], weights: str, path) -> str:
    """The key ``--weights`` names: a top-level key holding weights, or ``ema``."""
    if isinstance(obj, dict) and not _is_state_dict(obj) and _holds_weights(obj.get(weights)):
        return weights
    ema = _ema_key(obj, sets) if sets else None
    if weights == "ema" and ema is not None:
        return ema
    if len(sets) < 2:
        raise InputError(f"--weights {weights}: checkpoint {path} holds one set of weights; leave --weights out")
    hint = f" (--weights ema takes {ema})" if ema else ""
    raise InputError(
        f"--weights {weights}: checkpoint {path} has no such set of weights; it holds {', '.join(sets)}{hint}"
    )


def fit_prefix(state: dict, expected: set[str]) -> tuple[dict, str | None]:
    """Strip the key prefix (``module.``, ``model.``...) that makes ``state`` fit ``expected``, if one does.

    A prefix is only stripped when the stripped keys match more of the model's keys than the raw ones.
    """

    def matches(prefix: str) -> int:
        return sum(1 for k in state if k.startswith(prefix) and k[len(prefix) :] in expected)

    best, best_score = "", matches("")
    if best_score == len(expected):
        return state, None
    shared: Counter[str] = (
        Counter()
    )  # the keys' own leading components ('vae.', 'model.module.'), kept when most keys share them
    for key in state:
        parts = key.split(".")
        shared.update(".".join(parts[:i]) + "." for i in (1, 2) if len(parts) > i)
    candidates = set(KNOWN_PREFIXES) | {p for p, count in shared.items() if 2 * count >= len(state)}
    for prefix in sorted(candidates, key=len):
        score = matches(prefix)
        if score > best_score:
            best, best_score = prefix, score
    if not best:
        return state, None
    return {(k[len(best) :] if k.startswith(best) else k): v for k, v in state.items()}, best


def load_state_dict_into(module: nn.Module, state: dict, *, strict: bool = True) -> dict:
    """Load ``state`` into ``module``; report missing/unexpected keys as a clear error unless not strict."""
    state, prefix = fit_prefix(state, set(module.state_dict()))
    own = module.state_dict()
    mismatched = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    if mismatched:
        raise InputError(
            f"the state dict does not fit --model: {len(mismatched)} tensor(s) differ in shape "
            f"(checkpoint vs model), e.g. {'; '.join(mismatched[:3])}; check --model-kwargs "
            "(--no-strict only skips missing or unexpected keys)"
        )
    result = module.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {', '.join(missing[:4])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) e.g. {', '.join(unexpected[:4])}")
        raise InputError(
            f"the state dict does not fit --model: {'; '.join(parts)}; check --model/--model-kwargs or pass --no-strict"
        )
    record: dict[str, object] = {"missing_keys": missing, "unexpected_keys": unexpected}
    if prefix:
        record["stripped_prefix"] = prefix
    return record


def load_module(
    checkpoint: str,
    *,
    form: str,
    factory: str | None,
    factory_kwargs: dict | None,
    trust: bool,
    strict: bool = True,
    weights: str | None = None,
) -> tuple[nn.Module, dict]:
    """Return the module and what the manifest should record about loading it."""
    if weights is not None and form != "pickle":
        raise InputError(
            f"--weights {weights}: only training checkpoints (.pt/.pth/.ckpt/.bin) hold more than one "
            "set of weights; leave --weights out"
        )
    if form == "factory":
        return build_factory(checkpoint, factory_kwargs)[0], {}
    path = Path(checkpoint)
    if form == "torchscript":
        return _programs.load_torchscript(path, trust=trust), {}
    if form == "export":
        program = _programs.load_export(path, trust=trust)
        batch = _programs.static_batch(program)
        if batch is None:
            return program.module(), {}
        return _programs.StaticBatch(program.module(), batch), {"static_batch": batch}
    if form == "diffusers":
        from latentviz.models._diffusers import load_autoencoder_kl

        return load_autoencoder_kl(path), {}
    if form == "transformers":
        from latentviz.models._transformers import load_text_model

        return load_text_model(path, trust=trust), {}
    if form == "sentence_transformers":
        from latentviz.models._sentence_transformers import load_sentence_transformer

        return load_sentence_transformer(path, trust=trust)
    if form == "timm":
        from latentviz.models._timm import load_timm_folder

        return load_timm_folder(path, strict=strict)
    if form in ("pickle", "safetensors"):
        obj = load_safetensors(path) if form == "safetensors" else load_pickle(path, trust=trust)
        if isinstance(obj, nn.Module) and weights is None:
            return obj, {"form": "pickled_module"}
        obj, record = unwrap_checkpoint(obj, path, weights=weights)
        if isinstance(obj, nn.Module):
            return obj, {"form": "pickled_module", **{k: v for k, v in record.items() if k != "hyper_parameters"}}
        if not _is_state_dict(obj):
            raise InputError(f"checkpoint {path}: holds {type(obj).__name__}, not a state dict or a module")
        module, used = build_factory(factory, factory_kwargs, defaults=record.pop("hyper_parameters", None))
        if used:
            record["hyper_parameters_used"] = used
        record.update(load_state_dict_into(module, obj, strict=strict))
        return module, {"form": "state_dict", **record}
    raise InputError(f"checkpoint {checkpoint}: form '{form}' is not supported")
