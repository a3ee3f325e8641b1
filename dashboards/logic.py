"""The pure functions behind the dashboard's callbacks: arrays in, plain values out.

Callbacks only unpack their inputs, call one of these (or a core builder) and return the
result, so everything here is unit-tested without Dash or a browser
(``tests/test_dashboard_logic.py``). Nothing here reads files or recomputes a projection.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np

from latentviz.errors import InputError

#: Points drawn at most in one scatter; above it a seeded stratified sample is shown
#: (``latentviz.figures`` draws it), while selections and statistics use every point.
DISPLAY_BUDGET = 100_000
#: Above this many drawn points the Explore scatter is WebGL. An SVG scatter redraws every point
#: as a DOM element: at 10k points a recolour took 0.65 s in Chromium, against 0.13 s in WebGL.
WEBGL_ABOVE = 2_000
#: Most vertices a lasso selection may have. plotly.js keeps a lasso vertex only where the drawn
#: path bends by more than 1.5 px, so a hand-drawn lasso has a few hundred.
MAX_LASSO_VERTICES = 2_000
#: Most lasso edges that may span a point's row, on average: a hand-drawn lasso meets a
#: horizontal line a few times; more is a zig-zag built to cost vertices x n.
MAX_LASSO_CROSSINGS = 50


# -- colour ---------------------------------------------------------------------------------------------
def color_options(
    *,
    has_labels: bool,
    factor_names,
    latent_dim: int,
    has_kl: bool,
    has_recon: bool,
    has_neighbours: bool,
    has_clusters: bool = False,
) -> list[dict]:
    """The colour-by choices a run supports, as Dash dropdown options (value is a key for :func:`color_key`)."""
    options = [{"label": "nothing", "value": "none"}]
    if has_labels:
        options.append({"label": "label", "value": "label"})
    if has_clusters:
        options.append({"label": "cluster", "value": "cluster"})
    options += [{"label": f"factor: {name}", "value": f"factor:{name}"} for name in factor_names]
    if has_kl:
        options.append({"label": "KL to prior", "value": "kl"})
    if has_recon:
        options.append({"label": "reconstruction error", "value": "recon_error"})
    if has_neighbours:
        options.append({"label": "neighbourhood agreement", "value": "agreement"})
    options += [{"label": f"latent z{j}", "value": f"z:{j}"} for j in range(latent_dim)]
    return options


#: A label or factor colour-by value may end in ``@categorical`` or ``@continuous``: the choice that
#: forces how it is coloured (otherwise :func:`latentviz.figures.is_categorical` decides).
FORCED_COLORS = {"categorical": "as categories", "continuous": "on a colour scale"}


def forced_color_options(options: list[dict], auto_mode) -> list[dict]:
    """``options`` with, after label and each factor, the choice that colours it the other way.

    ``auto_mode(value)`` says how a choice is coloured unforced (``categorical`` or ``continuous``),
    or None when it cannot be forced (text labels).
    """
    out = []
    for option in options:
        out.append(option)
        mode = auto_mode(option["value"]) if color_key(option["value"])[0] in ("label", "factor") else None
        for forced, words in FORCED_COLORS.items():
            if mode is not None and forced != mode:
                out.append({"label": f"{option['label']} {words}", "value": f"{option['value']}@{forced}"})
    return out


def color_mode(value: str | None) -> tuple[str | None, str]:
    """``"label@categorical"`` -> ``("label", "categorical")``; a value without a forced mode -> ``(value, "auto")``."""
    base, _, mode = (value or "").rpartition("@")
    if base and mode in FORCED_COLORS:
        return base, mode
    return value, "auto"


def color_key(value: str | None) -> tuple[str, str | int | None]:
    """Split a colour-by value into ``(kind, argument)``: ``("z", 3)``, ``("factor", "scale")``, ``("kl", None)``.

    A forced mode (``label@categorical``) is ignored here; :func:`color_mode` reads it.
    """
    value = color_mode(value)[0]
    if not value or value == "none":
        return "none", None
    kind, _, arg = value.partition(":")
    if kind == "z":
        return "z", int(arg)
    if kind == "factor":
        return "factor", arg
    if kind in ("label", "cluster", "kl", "recon_error", "agreement", "run_agreement"):
        return kind, None
    raise InputError(
        f"color_by: unknown value '{value}'; choose label, cluster, factor:<name>, z:<dim>, kl, "
        "recon_error, agreement or run_agreement"
    )


def cluster_names(clusters: np.ndarray) -> np.ndarray:
    """Cluster numbers as the categories the colour-by shows: ``"3"``, and ``"outlier"`` for -1."""
    clusters = np.asarray(clusters)
    return np.where(clusters < 0, "outlier", clusters.astype(str))


def cluster_entries(facts: dict) -> list[dict]:
    """The cluster list's rows from ``clusters.json``, largest first: cluster, size, purity, top labels (text),
    medoid id and centroid."""
    out = []
    for entry in sorted(facts.get("clusters", []), key=lambda c: (-c["size"], c["cluster"])):
        top = ", ".join(str(name) for name, _ in entry.get("top_labels", []))
        out.append(
            {
                "cluster": int(entry["cluster"]),
                "size": int(entry["size"]),
                "purity": entry.get("purity"),
                "top_labels": top,
                "medoid": str(entry["medoid"]),
                "centroid": entry["centroid"],
            }
        )
    return out


def per_sample_kl(z: np.ndarray, logvar: np.ndarray | None) -> np.ndarray | None:
    """KL(q(z|x) || N(0, I)) of each sample, summed over dimensions; None without variances."""
    if logvar is None:
        return None
    return 0.5 * np.sum(z.astype(np.float64) ** 2 + np.exp(logvar) - logvar - 1.0, axis=1)


# -- selection ------------------------------------------------------------------------------------------
def rows_in_selection(xy, selected: dict | None) -> np.ndarray | None:
    """Rows of the full data inside a plotly box or lasso selection (not only the drawn sample).

    ``xy`` is an (n, 2) array or a pair ``(x, y)`` of (n,) arrays (a run's map columns, not copied). ``selected`` is Dash's ``selectedData``; its ``range`` (box) or ``lassoPoints`` (lasso) is
    applied to every point, so a downsampled plot still selects from all of them. Returns None
    when nothing is selected, or only points (no range or lasso). A lasso of more than :data:`MAX_LASSO_VERTICES` vertices, or one
    whose edges cross the points' rows more than :data:`MAX_LASSO_CROSSINGS` times each, is refused.
    """
    if not selected:
        return None
    x, y = (xy[:, 0], xy[:, 1]) if isinstance(xy, np.ndarray) else xy
    if selected.get("range"):
        (x0, x1), (y0, y1) = (sorted(_numbers(selected["range"][a], "selection range")[:2]) for a in ("x", "y"))
        return np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    if selected.get("lassoPoints"):
        px, py = (_numbers(selected["lassoPoints"][a], "lasso") for a in ("x", "y"))
        if len(px) != len(py) or len(px) > MAX_LASSO_VERTICES:
            raise InputError(
                f"lasso: {len(px)} x and {len(py)} y vertices; draw a lasso of at most {MAX_LASSO_VERTICES:,} vertices"
            )
        return np.flatnonzero(_inside_polygon(x, y, px, py))
    return None  # points alone (a 3-D or click selection): their customdata are ids, which the caller maps


def check_view(view) -> tuple[tuple[float, float], tuple[float, float], tuple[int, int]] | None:
    """A view store's ``{"x": [x0, x1], "y": [y0, y1], "w": px, "h": px}`` as (x range, y range, size); None
    for the whole map. Input from the browser: ranges must be finite, the size is clamped to 1..4096 pixels."""
    if not isinstance(view, dict):
        return None
    x, y = _numbers(view.get("x"), "view range"), _numbers(view.get("y"), "view range")
    if len(x) != 2 or len(y) != 2:
        raise InputError("view: give two x and two y limits")
    w, h = (int(clamp(view.get(side, 1), 1, 4096, name="view size")) for side in ("w", "h"))
    return (float(x[0]), float(x[1])), (float(y[0]), float(y[1])), (w, h)


def _numbers(values, name: str) -> np.ndarray:
    """``values`` as finite floats, or an InputError naming ``name``."""
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{name}: coordinates must be numbers") from None
    if not np.isfinite(array).all() or (name == "selection range" and len(array) < 2):
        raise InputError(f"{name}: coordinates must be finite numbers")
    return array


def _inside_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd rule: a point is inside when a ray to its right crosses the edges an odd number of times.

    Each edge is tested only against the points whose y lies in its span (found by binary search
    in the points sorted by y), so a hand-drawn lasso costs about n times the few edges a row
    meets, not n times its vertex count.
    """
    order = np.argsort(y, kind="stable")
    ys = y[order]
    xb, yb = np.roll(px, -1), np.roll(py, -1)
    lo = np.searchsorted(ys, np.minimum(py, yb))
    hi = np.searchsorted(ys, np.maximum(py, yb))
    if (hi - lo).sum() > MAX_LASSO_CROSSINGS * max(len(x), 1):
        raise InputError(
            f"lasso: its edges cross each point's row more than {MAX_LASSO_CROSSINGS} times; draw a simpler lasso"
        )
    inside = np.zeros(len(x), dtype=bool)
    for k in np.flatnonzero(hi > lo):
        rows = order[lo[k] : hi[k]]
        cross = px[k] + (y[rows] - py[k]) * (xb[k] - px[k]) / (yb[k] - py[k])
        inside[rows] ^= x[rows] < cross
    return inside


def check_row(value, n: int, *, name: str = "row") -> int:
    """``value`` as a row index of a run of ``n`` rows, or an InputError (a callback's input is untrusted)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n:
        raise InputError(f"{name}: {str(value)[:40]!r} is not a row of this run (0 to {n - 1})")
    return int(value)


def check_rows(rows, n: int, *, name: str = "selection") -> np.ndarray:
    """``rows`` as an array of at most ``n`` row indices of a run of ``n`` rows, or an InputError."""
    array = np.asarray(rows if isinstance(rows, list) else [None])
    if (
        array.ndim != 1
        or len(array) > n
        or (len(array) and (array.dtype.kind not in "iu" or array.min() < 0 or array.max() >= n))
    ):
        raise InputError(f"{name}: not a list of at most {n:,} row indices of this run")
    return array.astype(np.int64)


def one_of(value, choices, *, name: str):
    """``value`` if it is one of ``choices`` (what the control offers), else an InputError."""
    choices = list(choices)
    if isinstance(value, (dict, list)) or value not in choices:
        shown = ", ".join(map(str, choices[:8])) + (", ..." if len(choices) > 8 else "")
        raise InputError(f"{name}: unknown value {str(value)[:40]!r}; choose from {shown}")
    return value


def clamp(value, low: float, high: float, *, name: str) -> float:
    """``value`` within a slider's ``[low, high]`` (what the control can send); a non-number is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(f"{name}: {str(value)[:40]!r} is not a number")
    return float(min(max(value, low), high))


def check_text(value, max_chars: int, *, name: str) -> str:
    """``value`` as text of at most ``max_chars`` characters (an input box's ``maxLength``), or an InputError."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_chars:
        raise InputError(f"{name}: give text of at most {max_chars} characters")
    return value


def selection_summary(rows, *, labels=None, z: np.ndarray, top: int = 6) -> dict:
    """Count, label mix (largest first, the rest as "other") and mean latent of the selected rows."""
    rows = np.asarray(rows, dtype=int)
    summary = {"count": int(len(rows)), "labels": [], "mean": None}
    if not len(rows):
        return summary
    summary["mean"] = z[rows].astype(np.float64).mean(axis=0).tolist()
    if labels is not None:
        counts = Counter(map(str, np.asarray(labels)[rows])).most_common()
        head = [(name, n) for name, n in counts[:top]]
        rest = sum(n for _, n in counts[top:])
        summary["labels"] = head + ([("other", rest)] if rest else [])
    return summary


def search_rows(query: str | None, ids: np.ndarray, labels=None, *, limit: int = 10_000) -> np.ndarray:
    """Rows whose id equals ``query``, else whose label equals it, else whose id contains it."""
    query = (query or "").strip()
    if not query:
        return np.array([], dtype=int)
    ids = np.asarray(ids).astype(str)
    for hits in (ids == query, None if labels is None else np.asarray(labels).astype(str) == query):
        if hits is not None and hits.any():
            return np.flatnonzero(hits)[:limit]
    return np.flatnonzero(np.char.find(ids, query) >= 0)[:limit]


def highlight_size(count: int) -> int:
    """Ring size of highlighted points: big for a few, small for many, so a large selection stays readable."""
    return 15 if count <= 20 else 10 if count <= 200 else 7


def selection_csv(ids) -> str:
    """The selected ids as a one-column CSV (header ``id``), ready for ``dcc.send_string``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id"])
    writer.writerows([str(i)] for i in ids)
    return buffer.getvalue()


def nearest(indices: np.ndarray, distances: np.ndarray, row: int, k: int) -> list[tuple[int, float]]:
    """The ``k`` nearest neighbours of ``row`` from the run's graph, as ``(row, distance)`` pairs."""
    k = min(k, indices.shape[1])
    return [(int(i), float(d)) for i, d in zip(indices[row, :k], distances[row, :k], strict=True)]


# -- decode ---------------------------------------------------------------------------------------------
def informative_order(z: np.ndarray, kl_per_dim=None) -> list[int]:
    """Latent dimensions, most informative first: by KL to the prior, else by the variance of the means."""
    score = np.asarray(kl_per_dim, dtype=float) if kl_per_dim is not None else np.var(z, axis=0)
    return [int(j) for j in np.argsort(-score, kind="stable")]


def slider_range(z: np.ndarray, *, spread: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension slider bounds: the data's mean ± ``spread`` standard deviations, widened to ±``spread``.

    Widening to the prior's ±3 keeps a collapsed dimension (tiny variance) movable, which is how
    a user sees that moving it changes nothing.
    """
    mean, std = z.mean(axis=0), z.std(axis=0)
    lo = np.minimum(mean - spread * std, -spread)
    hi = np.maximum(mean + spread * std, spread)
    return lo, hi


def slider_code(values, order, base: np.ndarray, *, bounds=None) -> np.ndarray:
    """The latent code the sliders describe: ``base`` with dimension ``order[i]`` set to ``values[i]``.

    ``bounds`` (the sliders' ``(low, high)`` per dimension) clamps each value to what its slider
    can send; dimensions and values that no slider sends are refused.
    """
    code = np.array(base, dtype=np.float32, copy=True)
    if (
        not isinstance(values, list)
        or not isinstance(order, list)
        or len(values) != len(order)
        or len(order) > len(code)
    ):
        raise InputError(f"sliders: expected one value for each of at most {len(code)} latent dimensions")
    low, high = bounds if bounds is not None else (np.full(len(code), -np.inf), np.full(len(code), np.inf))
    for dim, value in zip(order, values, strict=True):
        dim = check_row(dim, len(code), name="slider dimension")
        if value is not None:
            code[dim] = clamp(value, low[dim], high[dim], name=f"slider z{dim}")
    return code


def ab_state(state, n: int) -> dict:
    """Decode's picked points ``{"a": row, "b": row or None, "next": "a" or "b"}``, checked against a run of ``n`` rows."""
    if not isinstance(state, dict):
        raise InputError("decode: the picked points are not an {a, b, next} record")
    b = state.get("b")
    return {
        "a": check_row(state.get("a"), n, name="point A"),
        "b": None if b is None else check_row(b, n, name="point B"),
        "next": one_of(state.get("next", "a"), ("a", "b"), name="next point"),
    }


def next_ab(state: dict | None, row: int) -> dict:
    """Decode's two picked points: a click fills A, the next fills B, then A again."""
    state = dict(state or {"a": None, "b": None, "next": "a"})
    slot = state.get("next", "a")
    state[slot] = int(row)
    state["next"] = "b" if slot == "a" else "a"
    return state


# -- compare ------------------------------------------------------------------------------------------
def shared_rows(ids_from, selected_rows, ids_to) -> np.ndarray:
    """Rows of run B holding the ids selected in run A (linked selection across runs)."""
    wanted = set(np.asarray(ids_from).astype(str)[np.asarray(selected_rows, dtype=int)])
    return np.flatnonzero([i in wanted for i in np.asarray(ids_to).astype(str)])


def metric_deltas(metrics: dict[str, dict], facts: dict | None = None) -> list[dict]:
    """Rows ``{metric, group, <run>: value, ..., delta, better}`` of the runs' scalar metrics.

    ``metrics`` maps run -> ``{name: value}``; rows follow the registry's order (``facts``),
    unknown metrics last by name. ``delta`` is last run minus first; ``better`` says whether that
    change is an improvement, from the registry's ``higher_is_better``.
    """
    facts = facts or {}
    runs = list(metrics)
    scalar = [
        {k: v for k, v in metrics[r].items() if isinstance(v, (int, float)) and not isinstance(v, bool)} for r in runs
    ]
    rank = {name: k for k, name in enumerate(facts)}
    names = sorted(
        set().union(*[s.keys() for s in scalar]) if scalar else [], key=lambda n: (rank.get(n, len(rank)), n)
    )
    rows = []
    for name in names:
        row = {
            "metric": name,
            "group": getattr(facts.get(name), "group", ""),
            **{r: s.get(name) for r, s in zip(runs, scalar, strict=True)},
        }
        first, last = row[runs[0]], row[runs[-1]]
        row["delta"] = None if first is None or last is None or len(runs) < 2 else last - first
        higher = getattr(facts.get(name), "higher_is_better", None)
        row["better"] = None if row["delta"] in (None, 0) or higher is None else (row["delta"] > 0) == higher
        rows.append(row)
    return rows


# -- safety ---------------------------------------------------------------------------------------------
def file_in_run(run_path, relative) -> Path:
    """Resolve ``relative`` inside the run folder, refusing anything that escapes it (``..``, links, absolute)."""
    root = Path(run_path).resolve()
    target = (root / str(relative)).resolve()
    if target != root and root not in target.parents:
        raise InputError(f"{relative}: outside the run folder {root}; the dashboard serves only files of its runs")
    if not target.is_file():
        raise InputError(f"{relative}: no such file in the run folder {root}")
    return target


def direction_options(*, classes, factor_names, n_principal: int) -> list[dict]:
    """Directions the Decode page offers: towards each label, along each factor, along principal axes."""
    options = [{"label": f"principal axis {k + 1}", "value": f"pc:{k}"} for k in range(n_principal)]
    options += [{"label": f"factor: {name}", "value": f"factor:{name}"} for name in factor_names]
    options += [{"label": f"towards label {c}", "value": f"label:{c}"} for c in classes]
    return options


def direction_key(value: str) -> tuple[str, str]:
    """Split a direction choice into ``(kind, argument)``: ``("pc", "0")``, ``("label", "circle")``."""
    kind, sep, arg = (value or "").partition(":")
    if not sep or kind not in ("pc", "factor", "label"):
        raise InputError(f"direction: unknown value '{value}'; choose pc:<k>, factor:<name> or label:<class>")
    return kind, arg
