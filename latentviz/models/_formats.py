"""Detect a checkpoint's form and load it to an ``nn.Module`` — safely.

Nothing in a checkpoint runs unless the user passes ``--trust-checkpoint``: pickles are read with
``weights_only=True``. Each form is one loader function registered in ``_LOADERS``.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import torch
from torch import nn

from latentviz._imports import import_callable, looks_like_callable_spec
from latentviz.errors import InputError, UnsafeCheckpointError

STATE_DICT_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt"}


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of every file in a folder (sorted by relative path)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def detect_form(checkpoint: str) -> str:
    """Name the checkpoint's form from its path and contents."""
    path = Path(checkpoint)
    if not path.exists():
        if looks_like_callable_spec(checkpoint):
            return "factory"
        raise InputError(f"checkpoint {checkpoint}: no such file or folder (or MODULE_OR_FILE:CALLABLE)")
    if path.is_dir():
        raise InputError(f"checkpoint {checkpoint}: a folder, but not a model folder latentviz knows")
    if path.stat().st_size == 0:
        raise InputError(f"checkpoint {checkpoint}: the file is empty")
    if zipfile.is_zipfile(path):
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile as exc:
            raise InputError(f"checkpoint {checkpoint}: truncated or corrupt archive ({exc})") from exc
        if any("/code/" in n and n.endswith(".py") for n in names) and any(n.endswith("constants.pkl") for n in names):
            return "torchscript"
    if path.suffix.lower() in STATE_DICT_SUFFIXES or zipfile.is_zipfile(path):
        return "pickle"
    raise InputError(f"checkpoint {checkpoint}: unknown format '{path.suffix}'; "
                     "use TorchScript, a state dict (.pt/.pth/.bin/.ckpt) with --model, or MODULE:CALLABLE")


def build_factory(factory: str | None, kwargs: dict | None) -> nn.Module:
    if not factory:
        raise InputError("a state dict needs the model's code: pass --model MODULE_OR_FILE:CALLABLE (and --model-kwargs JSON)")
    fn = import_callable(factory)
    try:
        module = fn(**(kwargs or {}))
    except TypeError as exc:
        raise InputError(f"--model {factory}: calling it with --model-kwargs {kwargs or {}} failed: {exc}") from exc
    if not isinstance(module, nn.Module):
        raise InputError(f"--model {factory}: returned {type(module).__name__}, not a torch.nn.Module")
    return module


def load_pickle(path: Path, *, trust: bool):
    """torch.load with weights_only=True unless the user trusts the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError / EOFError / zipfile errors
        text = str(exc)
        if not trust and ("weights_only" in text or "Unsupported global" in text or "GLOBAL" in text):
            raise UnsafeCheckpointError(
                f"checkpoint {path} holds pickled Python objects, which can run code when loaded; "
                "it was not loaded. If you trust its source, pass --trust-checkpoint") from exc
        raise InputError(f"checkpoint {path}: unreadable or truncated ({type(exc).__name__}: {text.splitlines()[0] if text else ''})") from exc


def load_state_dict_into(module: nn.Module, state: dict, *, strict: bool = True) -> dict:
    """Load ``state`` into ``module``; report missing/unexpected keys as a clear error unless not strict."""
    result = module.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {', '.join(missing[:4])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) e.g. {', '.join(unexpected[:4])}")
        raise InputError(f"the state dict does not fit --model: {'; '.join(parts)}; check --model/--model-kwargs or pass --no-strict")
    return {"missing_keys": missing, "unexpected_keys": unexpected}


def load_module(checkpoint: str, *, form: str, factory: str | None, factory_kwargs: dict | None,
                trust: bool, strict: bool = True) -> tuple[nn.Module, dict]:
    """Return the module and what the manifest should record about loading it."""
    record: dict = {}
    if form == "factory":
        return build_factory(checkpoint, factory_kwargs), record
    path = Path(checkpoint)
    if form == "torchscript":
        try:
            return torch.jit.load(str(path), map_location="cpu"), record
        except Exception as exc:
            raise InputError(f"checkpoint {path}: not a loadable TorchScript archive ({type(exc).__name__})") from exc
    if form == "pickle":
        obj = load_pickle(path, trust=trust)
        if isinstance(obj, nn.Module):
            return obj, {"form": "pickled_module"}
        if isinstance(obj, dict):
            record["form"] = "state_dict"
            module = build_factory(factory, factory_kwargs)
            record.update(load_state_dict_into(module, obj, strict=strict))
            return module, record
        raise InputError(f"checkpoint {path}: holds {type(obj).__name__}, not a state dict or a module")
    raise InputError(f"checkpoint {checkpoint}: form '{form}' is not supported")
