"""Every component id of the dashboard, from one namespace of factories.

Ids are dicts (``{"type": ..., "run": ...}``) so that pattern-matching callbacks (``MATCH``,
``ALL``) can treat a panel repeated per run (the Compare page) exactly like a single one. No id
is ever built by concatenating strings; tests import these factories to find elements.

>>> graph("demo")
{'type': 'explore-graph', 'run': 'demo'}
"""

from __future__ import annotations

from typing import Any


def _factory(kind: str):
    def make(run: Any, **extra: Any) -> dict:
        return {"type": kind, "run": run, **extra}

    make.__name__ = kind.replace("-", "_")
    make.__doc__ = f"Id of the ``{kind}`` component of run ``run``."
    return make


# -- app shell (one per app; ``run`` is the constant "app") -------------------------------------
APP = "app"
tabs = _factory("tabs")
run_picker = _factory("run-picker")
page = _factory("page")
focus = _factory("focus")  # store: {"run": id, "index": row} last point clicked anywhere

# -- Explore ----------------------------------------------------------------------------------------
graph = _factory("explore-graph")
tooltip = _factory("explore-tooltip")
projection = _factory("explore-projection")
dims = _factory("explore-dims")
color = _factory("explore-color")
search = _factory("explore-search")
search_note = _factory("explore-search-note")
legend = _factory("explore-legend")  # store: how many legend traces follow data[0]
view = _factory("explore-view")  # store: the map's visible ranges and plot size in pixels (the density image's)
selection = _factory("explore-selection")  # store: full-data row indices of the selection
gallery = _factory("explore-gallery")
neighbours = _factory("explore-neighbours")
cluster_item = _factory("explore-cluster")  # extra key ``cluster``: one entry of the cluster list
to_decode = _factory("explore-to-decode")
export = _factory("explore-export")
download = _factory("explore-download")

# -- Dimensions and Metrics -------------------------------------------------------------------------
dimension_figure = _factory("dimension-figure")  # extra key ``name`` tells the figures apart
drift_figure = _factory("metrics-drift-figure")  # extra key ``name``: the drift panel's figures

# -- Decode ---------------------------------------------------------------------------------------------
decode_picker = _factory("decode-picker")  # mini projection: clicks fill A, then B
decode_sample = _factory("decode-sample")  # store: {"a": row, "b": row, "next": "a"|"b"}
decode_ab = _factory("decode-ab")
slider = _factory("decode-slider")  # extra key ``dim``
decode_reset = _factory("decode-reset")
decoded = _factory("decode-image")
grid_button = _factory("decode-grid-button")
grid = _factory("decode-grid")
interp_mode = _factory("decode-interp-mode")
interp_steps = _factory("decode-interp-steps")
strip = _factory("decode-strip")
direction = _factory("decode-direction")
direction_strip = _factory("decode-direction-strip")

# -- Compare --------------------------------------------------------------------------------------------
compare_graph = _factory("compare-graph")
compare_color = _factory("compare-color")
compare_note = _factory("compare-note")
compare_view = _factory("compare-view")  # store: a panel's visible ranges and plot size (its density image's)
compare_legend = _factory("compare-legend")  # store: how many legend traces follow a panel's data[0]
step_slider = _factory("compare-step")
step_graph = _factory("compare-step-graph")
