"""The latentviz dashboard: a Dash application over run folders (explore, dimensions, metrics, decode, compare).

Imports the core, never the reverse: ``latentviz`` loads this package only inside the
``dashboard`` command and :func:`latentviz.show`.
"""

from dashboards.app import create_app, serve

__all__ = ["create_app", "serve"]
