"""latentviz: open up the latent space of any trained PyTorch model.

``import latentviz`` stays light: heavy modules (torch, umap, dash) load on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:  # the one version source is pyproject.toml
    __version__ = version("latentviz")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Run", "__version__", "project", "show"]


def __getattr__(name: str):
    if name == "Run":
        from latentviz.run import Run

        return Run
    if name == "project":
        from latentviz.projection import project

        return project
    if name == "show":
        from latentviz.notebook import show

        return show
    raise AttributeError(f"module 'latentviz' has no attribute {name!r}")
