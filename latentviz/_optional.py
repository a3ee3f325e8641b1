"""Import optional dependencies lazily, failing with the command that installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from latentviz.errors import MissingDependencyError

_EXTRA_FOR = {
    "diffusers": "diffusers",
    "transformers": "transformers",
    "gensim": "gensim",
    "datasets": "datasets",
    "tensorboard": "tensorboard",
    "sentence_transformers": "sentence-transformers",
    "umap": "all",
    "pynndescent": "all",
    "openTSNE": "all",
    "dash": "all",
    "distributed": "scale",
    "datashader": "scale",
    "faiss": "all",
}


def require(module: str, *, purpose: str) -> ModuleType:
    """Return ``import module``; if it is missing, raise with the pip command that adds it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = _EXTRA_FOR.get(top, "all")
        raise MissingDependencyError(
            f"{purpose} needs the package '{top}' ({exc}): pip install 'latentviz[{extra}]'"
        ) from exc
