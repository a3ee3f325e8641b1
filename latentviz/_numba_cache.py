"""Keep numba's compiled code on disk in a user cache folder, so the cold start is paid once per machine.

umap-learn and pynndescent compile their kernels with numba on first use, which takes tens of
seconds. Their kernels are declared with ``cache=True``; numba then writes the machine code next
to the package sources, or, when that folder is read-only (a system-wide or container install),
nowhere useful. Pointing ``NUMBA_CACHE_DIR`` at ``$XDG_CACHE_HOME/latentviz/numba`` (default
``~/.cache/latentviz/numba``) makes the cache work for every install. A user's own
``NUMBA_CACHE_DIR`` wins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


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
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba already imported: its config was read at import time
        config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    return folder
