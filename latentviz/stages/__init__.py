"""The stages: each reads a run folder, calls the array libraries and commits its outputs with the manifest.

- :mod:`latentviz.stages.project` — ``latentviz project``: the neighbour graph and every projection.
- :mod:`latentviz.stages.metrics` — ``latentviz metrics``: every metric entry that applies, into ``metrics.json``.
- :mod:`latentviz.stages.traverse` — ``latentviz traverse``: grids, interpolations and sweeps into ``traversals/``.

The libraries (:mod:`latentviz.projection`, :mod:`latentviz.metrics`, :mod:`latentviz.traversal`) work on
arrays and never import a stage; they re-export their stage's entry point lazily for users.
"""
