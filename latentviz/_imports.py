"""Resolve ``MODULE_OR_FILE:CALLABLE`` strings (``pkg.mod:Name`` or ``path/to/file.py:Name``)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latentviz.errors import InputError


def looks_like_callable_spec(spec: str) -> bool:
    """True for ``something:Name`` that is not an existing path."""
    if ":" not in spec or Path(spec).exists():
        return False
    target, _, name = spec.rpartition(":")
    return bool(target) and name.isidentifier()


def import_callable(spec: str, *, option: str = "--model") -> Callable[..., Any]:
    """Import the attribute ``NAME`` of ``MODULE_OR_FILE:NAME`` (dotted names allowed after the colon)."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise InputError(
            f"{option}: '{spec}' is not MODULE_OR_FILE:CALLABLE (e.g. mymodels.py:VAE or pkg.models:build)"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise InputError(f"{option}: file {path} not found (from '{spec}')")
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        mod_name = f"_latentviz_user_{path.stem}_{digest}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec_obj = importlib.util.spec_from_file_location(mod_name, path)
            if spec_obj is None or spec_obj.loader is None:
                raise InputError(f"{option}: {path} is not a Python source file; give a .py file (from '{spec}')")
            module = importlib.util.module_from_spec(spec_obj)
            sys.modules[mod_name] = module
            sys.path.insert(0, str(path.parent.resolve()))
            try:
                spec_obj.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(mod_name, None)
                raise InputError(f"{option}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
            finally:
                sys.path.pop(0)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise InputError(
                f"{option}: cannot import module '{target}' ({exc}); check the name or give a file path"
            ) from exc
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{option}: '{target}' has no attribute '{name}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"{option}: '{spec}' is not callable")
    return obj
