"""Keep numba's compiled code on disk in a user cache folder, so the cold start is paid once per machine.

umap-learn and pynndescent compile their kernels with numba on first use, which takes tens of
seconds. Only some of their kernels are declared with ``cache=True``, so the others were compiled
again in every new process (about 5 s of a 1k-point ``latentviz project``): :func:`import_cached`
turns numba's on-disk cache on for every kernel of the package it imports. Numba writes the
cache next to the package sources, or, when that folder is read-only (a system-wide or container
install), nowhere useful; pointing ``NUMBA_CACHE_DIR`` at ``$XDG_CACHE_HOME/latentviz/numba``
(default ``~/.cache/latentviz/numba``) makes it work for every install. A user's own
``NUMBA_CACHE_DIR`` wins.
"""

from __future__ import annotations

import os
import sys
import weakref
from pathlib import Path
from types import ModuleType
from typing import Any

# the kernels whose on-disk cache import_cached has turned on
_CACHED: weakref.WeakSet[Any] = weakref.WeakSet()


def numba_cache_dir() -> Path:
    """The folder numba caches into: ``NUMBA_CACHE_DIR`` if set, else the latentviz user cache."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latentviz" / "numba"


def use_numba_cache() -> Path:
    """Point numba's on-disk cache at :func:`numba_cache_dir`; call before importing umap or pynndescent."""
    folder = numba_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable home: numba falls back to its own default
        return folder
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))
    config: Any = sys.modules.get("numba.core.config")  # its settings are module globals set at run time
    if config is not None:  # numba already imported: its config was read at import time
        config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    return folder


def import_cached(package: str, *, purpose: str) -> ModuleType:
    """Import a numba-compiled package (umap, pynndescent) with every kernel cached on disk."""
    from latentviz._optional import require

    use_numba_cache()
    module = require(package, purpose=purpose)
    import warnings

    from numba.core.errors import NumbaWarning
    from numba.core.registry import CPUDispatcher

    # kernels that use dynamic globals cannot be cached; numba says so once each, and compiles them as before
    warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=NumbaWarning)

    for name, mod in sys.modules.copy().items():  # copy() is atomic; other threads may be importing
        if name.split(".")[0] not in ("umap", "pynndescent") or mod is None:
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, CPUDispatcher) and obj not in _CACHED:
                try:
                    obj.enable_caching()
                except Exception:  # noqa: BLE001 - a kernel numba cannot cache is simply compiled per process
                    continue
                _CACHED.add(obj)
    return module
