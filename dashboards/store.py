"""``RunStore``: the dashboard's runs, opened lazily and cached for the life of the server.

Everything a callback needs that costs more than an array lookup (the projections, the
neighbour graph, per-sample KL, the display sample, the reloaded model) is computed once per run
and kept here. Nothing is recomputed from scratch inside a callback: projections, the neighbour
graph and metrics come from the run folder, and a page whose file is absent says so.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path

import numpy as np

from dashboards import logic
from latentviz.errors import InputError, LatentvizError, UnsafeCheckpointError
from latentviz.neighbors import overlap_per_point
from latentviz.run import (
    CLUSTER_FACTS,
    FACTOR_PREFIX,
    LATENTS,
    PROJECTION_METHODS,
    PROJECTIONS,
    Run,
    projection_columns,
    projection_methods,
    projection_table,
)

#: The maps the dashboard offers, in its menus' order: the core's table reversed, so the neighbour-keeping
#: maps (UMAP, then t-SNE) come before PCA and a page opens on the first the run has.
MAP_ORDER = tuple(reversed(PROJECTION_METHODS))
NEIGHBOURS_SHOWN = 8


def per_run_cache(maxsize: int):
    """``functools.lru_cache`` for a RunData method, one cache per run: an ``lru_cache`` on the method itself is
    one cache shared by every run, so with three runs open (a Compare) each run's entries evicted the others'."""

    def wrap(method):
        attribute = f"_cache_{method.__name__}"

        @functools.wraps(method)
        def cached(self, *args):
            cache = self.__dict__.get(attribute)
            if cache is None:  # setdefault: two threads racing here share the one that lands first
                cache = self.__dict__.setdefault(
                    attribute, functools.lru_cache(maxsize)(functools.partial(method, self))
                )
            return cache(*args)

        return cached

    return wrap


class RunData:
    """One run folder as the dashboard sees it; each property is read or derived once.

    A column is read from the run's tables only when a page needs it, and only that column
    (:meth:`latentviz.run.Run.read_columns`): opening a 10M-point run reads its map and its labels,
    not its latents, and the latents are read once, when a colouring or a selection first needs them.
    """

    def __init__(
        self,
        run_id: str,
        path,
        *,
        load_model: bool = True,
        device: str = "auto",
        budget: int = logic.DISPLAY_BUDGET,
        trust_checkpoint: bool = False,
    ):
        self.id = run_id
        self.run = Run(path)
        self.run.require_complete()
        self.want_model = load_model
        self.trust_checkpoint = trust_checkpoint
        self.device = device
        self.budget = budget
        self.partner: RunData | None = None  # the run Compare measures this one's agreement against
        self.store: RunStore | None = None  # the store whose comparison gives that agreement
        self._model_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def name(self) -> str:
        return self.run.path.name

    # -- data ---------------------------------------------------------------------------------------
    @functools.cached_property
    def z(self) -> np.ndarray:
        """Latent codes (n, d) float32, column-major: a dimension (a colour-by) is a contiguous column."""
        return self._matrix(self.run.z_columns)

    def _matrix(self, columns: list[str]) -> np.ndarray:
        table = self.run.read_columns(LATENTS, columns)
        out = np.empty((table.num_rows, len(columns)), dtype=np.float32, order="F")
        for j, name in enumerate(columns):
            out[:, j] = table.column(name).to_numpy()
        return out

    @functools.cached_property
    def ids(self) -> np.ndarray:
        return self.run.ids

    @functools.cached_property
    def label_categories(self):
        """The label column as a ``pandas.Categorical``, dictionary-encoded by pyarrow (a code per row, each
        distinct label once), or None: the density image and the labels array are built from the codes."""
        if "label" not in self.run.latent_columns:
            return None
        return self.run.read_columns(LATENTS, ["label"]).column("label").dictionary_encode().to_pandas().array

    @functools.cached_property
    def labels(self) -> np.ndarray | None:
        """Each row's label, as the latents table stores it (NaN where missing)."""
        labels = self.label_categories
        if labels is None:
            return None
        distinct = labels.categories.to_numpy()
        missing = labels.codes < 0
        return (np.append(distinct, np.nan) if missing.any() else distinct)[labels.codes]

    @functools.cached_property
    def row_of(self) -> dict[str, int]:
        return {i: r for r, i in enumerate(self.ids)}

    @functools.cached_property
    def n(self) -> int:
        return self.run.read_columns(LATENTS, []).num_rows

    @functools.cached_property
    def kl(self) -> np.ndarray | None:
        """Per-sample KL to the prior (None when the model gives no variances)."""
        columns = self.run.logvar_columns
        return logic.per_sample_kl(self.z, self._matrix(columns)) if columns else None

    @functools.cached_property
    def kl_per_dim(self) -> list[float] | None:
        return (self.run.manifest.get("latent_stats") or {}).get("kl_per_dim")

    @functools.cached_property
    def order(self) -> list[int]:
        """Latent dimensions, most informative first."""
        return logic.informative_order(self.z, self.kl_per_dim)

    @functools.cached_property
    def slider_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension ``(low, high)`` of the Decode sliders; callbacks clamp to the same bounds."""
        return logic.slider_range(self.z)

    @per_run_cache(maxsize=8)
    def column(self, name: str) -> np.ndarray | None:
        """One metadata column of the latents table (``recon_error``, ``factor_scale``), read alone; None if absent."""
        if name not in self.run.latent_columns:
            return None
        return self.run.read_columns(LATENTS, [name]).column(name).to_pandas().to_numpy()

    def metadata_of(self, row: int, *, limit: int) -> list[tuple[str, object]]:
        """(column, value) of a row's first ``limit`` metadata columns (latents columns but the id, the codes and
        their variances), in file order; each column is read alone, once."""
        names = [c for c in self.run.metadata_columns if c != "id"][:limit]
        columns = {c: self.labels if c == "label" else self.column(c) for c in names}
        return [(c, values[row]) for c, values in columns.items() if values is not None]

    # -- projections ---------------------------------------------------------------------------------
    @functools.cached_property
    def projections(self):
        """The whole projections table (the sampled and 3-D scatters take it); a dense 2-D map reads :meth:`xy`."""
        return self.run.projections

    @functools.cached_property
    def methods(self) -> dict[str, int]:
        """Projection name -> number of components stored (``{"umap": 2, "pca": 3}``), from the table's footer;
        none when the table is stale or another run's (its ids are not the latents', in their order)."""
        if not self.run.has(PROJECTIONS) or not self.run.holds_latent_rows(PROJECTIONS):
            return {}
        import pandas as pd

        stored = projection_methods(pd.DataFrame(columns=self.run.columns_of(PROJECTIONS)))
        return {method: stored[method] for method in MAP_ORDER if stored.get(method, 0) >= 2}

    def coords(self, method: str, dims: int = 2) -> np.ndarray:
        """(n, dims) coordinates of ``method`` (a new array); raises when the run has no such projection."""
        if method not in self.methods:
            raise InputError(f"run {self.name} has no {method} projection; run 'latentviz project {self.path}'")
        dims = min(dims, self.methods[method])
        return np.column_stack(self.xy(method)) if dims == 2 else self.run.projection(method, dims)

    @per_run_cache(maxsize=8)
    def xy(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """The 2-D map's x and y, read alone from the projections table (memory-mapped, float32 as stored): the
        one copy of the coordinates the density image, the selection and the points drawn all read."""
        if method not in self.methods:
            raise InputError(f"run {self.name} has no {method} projection; run 'latentviz project {self.path}'")
        table = self.run.read_columns(PROJECTIONS, projection_columns(method, 2))
        x, y = (column.to_numpy() for column in table.columns)
        return x, y

    @per_run_cache(maxsize=8)
    def extent(self, method: str) -> tuple[tuple[float, float], tuple[float, float]]:
        """The ranges that show the whole map."""
        from latentviz.figures import extent

        return extent(*self.xy(method))

    def dense(self, dims: int) -> bool:
        """Whether the map shows every point as a density image: a 2-D map of more points than the display budget."""
        return dims == 2 and self.n > self.budget

    @per_run_cache(maxsize=2)
    def density_coloring(self, color: str | None, method: str) -> dict:
        """How the density image colours every point by ``color`` (``density_image``'s keywords: each point's
        category and their colours, or each point's value and the column's span; {} for counts), kept for the
        current colouring only. The points drawn over the image take the same categories and span."""
        import pandas as pd

        from latentviz.figures import category_colors, is_categorical

        values, _ = self.color_values(color, method)
        if values is None:
            return {}
        if is_categorical(values, logic.color_mode(color)[1]):
            coded = self.label_categories if values is self.labels else pd.Categorical(values)
            # the categories and colours of the distinct values (a few; a missing value last, where code -1
            # finds it), then every point's category from its code: no string per point
            distinct = list(coded.categories) + ([None] if (coded.codes < 0).any() else [])
            names, categories, colors = category_colors(distinct)
            position = np.asarray([categories.index(name) for name in names], dtype=np.int32)
            points = pd.Categorical.from_codes(position[coded.codes], categories=categories)
            return {"categories": points, "category_colors": colors}
        numbers = values if values.dtype.kind == "f" else values.astype(np.float64)  # float32 columns are not copied
        finite = numbers[np.isfinite(numbers)]
        return {"values": numbers, "span": (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)}

    @per_run_cache(maxsize=4)
    def whole_map(self, color: str | None, method: str) -> dict:
        """The density image of the whole map, coloured by ``color``, at the default size: every page view's first
        figure shows it (built once per colouring; a zoom or the plot's own size re-aggregates)."""
        from latentviz.figures import DENSITY_SIZE, density_image

        x_range, y_range = self.extent(method)
        coloring = self.density_coloring(color, method)
        return density_image(*self.xy(method), x_range=x_range, y_range=y_range, size=DENSITY_SIZE, **coloring)

    @functools.cached_property
    def shown(self) -> np.ndarray:
        """Rows drawn in scatters: all, or a seeded sample stratified by label within the display budget."""
        from latentviz.figures import sample_rows

        return sample_rows(self.n, max_points=self.budget, seed=self.seed, strata=self.labels)

    @property
    def seed(self) -> int:
        return int(self.run.manifest.get("seed", 0) or 0)

    # -- neighbours ---------------------------------------------------------------------------------------
    @functools.cached_property
    def neighbours(self):
        """The run's kNN graph (``neighbors.npz``), or None when it was not computed."""
        try:
            return self.run.neighbors()
        except InputError:
            return None

    @per_run_cache(maxsize=8)
    def agreement(self, method: str) -> np.ndarray | None:
        """Per point, how much of its latent neighbourhood the ``method`` map keeps (in [0, 1])."""
        graph = self.neighbours
        if graph is None or method not in self.methods:
            return None
        from latentviz.neighbors import knn

        k = min(graph.k, 15, self.n - 1)
        in_map = knn(self.coords(method, 2), k, method="exact" if self.n <= 50_000 else "auto")
        return overlap_per_point(graph.indices[:, :k], in_map.indices) / k

    @property
    def partner_agreement(self) -> np.ndarray | None:
        """Per point, the Jaccard index of its latent k-NN here and in the partner run (over the shared ids;
        NaN elsewhere), read from the store's comparison, which the report renders too; None without one."""
        if self.partner is None or self.store is None:
            return None
        try:
            comparison = self.store.comparison()
        except InputError:  # too few shared ids: the Compare page says so
            return None
        return comparison.run_agreement(self.store.ids.index(self.id))

    # -- clusters ---------------------------------------------------------------------------------------------
    @functools.cached_property
    def clusters(self) -> np.ndarray | None:
        """Each row's cluster (-1: outlier) from ``clusters.parquet``, or None before the cluster stage
        (or when the file does not match the run's ids)."""
        try:
            table = self.run.clusters
        except InputError:  # stale, or another run's: the run is shown without clusters
            return None
        return None if table is None else table["cluster"].to_numpy(dtype=np.int64)

    @functools.cached_property
    def cluster_entries(self) -> list[dict]:
        """The cluster list (largest first), from ``clusters.json``; empty without clusters (or when the file is
        damaged: the run is then shown without clusters, as with a stale ``clusters.parquet``)."""
        if self.clusters is None:
            return []
        try:
            with self.run.reading(CLUSTER_FACTS):
                return logic.cluster_entries(self.run.cluster_facts)
        except InputError:
            return []

    def cluster_rows(self, cluster: int) -> list[int]:
        """The rows of one cluster; an InputError for a cluster the run does not have."""
        logic.one_of(cluster, [e["cluster"] for e in self.cluster_entries], name="cluster")
        return np.flatnonzero(self.clusters == cluster).tolist()

    # -- colour -----------------------------------------------------------------------------------------------
    def color_options(self) -> list[dict]:
        options = logic.color_options(
            has_labels=self.labels is not None,
            factor_names=self.run.factor_names,
            latent_dim=self.z.shape[1],
            has_kl=self.kl is not None,
            has_recon="recon_error" in self.run.latent_columns,
            has_neighbours=self.neighbours is not None and bool(self.methods),
            has_clusters=self.clusters is not None,
        )
        return logic.forced_color_options(options, self._auto_color_modes.get)

    @functools.cached_property
    def _auto_color_modes(self) -> dict:
        """How the label and each factor are coloured unforced (None: text, always categories), decided once
        (every callback checks its colour-by value against the options)."""
        import pandas as pd

        from latentviz.figures import is_categorical

        modes = {}
        for value in ("label", *(f"factor:{name}" for name in self.run.factor_names)):
            values = self.color_values(value, "")[0]
            series = pd.Series(values) if values is not None else None
            numeric = (
                series is not None and pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
            )
            modes[value] = ("categorical" if is_categorical(series) else "continuous") if numeric else None
        return modes

    def color_values(self, value: str | None, method: str) -> tuple[np.ndarray | None, str | None]:
        """(values for every row, column name) of a colour-by choice; (None, None) for "nothing"."""
        kind, arg = logic.color_key(value)
        if kind == "none":
            return None, None
        if kind == "label":
            return self.labels, "label"
        if kind == "cluster":
            return (None, None) if self.clusters is None else (logic.cluster_names(self.clusters), "cluster")
        if kind == "factor":
            return self.column(f"{FACTOR_PREFIX}{arg}"), f"{FACTOR_PREFIX}{arg}"
        if kind == "z" and isinstance(arg, int):
            return self.z[:, arg], f"z{arg}"
        if kind == "kl":
            return self.kl, "KL to prior"
        if kind == "recon_error":
            return self.column("recon_error"), "reconstruction error"
        if kind == "run_agreement":
            return self.partner_agreement, f"agreement with {self.partner.name}" if self.partner else None
        return self.agreement(method), "neighbourhood agreement"

    def metadata(self, value: str | None, method: str):
        """The metadata frame the shared scatter builder colours by: ``label`` plus the chosen column."""
        import pandas as pd

        frame = pd.DataFrame({"label": self.labels} if self.labels is not None else {}, index=range(self.n))
        values, name = self.color_values(value, method)
        if values is None:
            return frame, None
        frame[name] = values
        return frame, name

    # -- directions -----------------------------------------------------------------------------------------
    def direction_options(self) -> list[dict]:
        classes = [] if self.labels is None else sorted(set(map(str, self.labels)))[:30]
        return logic.direction_options(
            classes=classes, factor_names=self.run.factor_names, n_principal=min(3, self.z.shape[1])
        )

    @per_run_cache(maxsize=32)
    def direction(self, value: str) -> np.ndarray:
        """Unit vector of a direction choice (computed once per choice from all codes)."""
        from latentviz.traversal import direction

        kind, arg = logic.direction_key(value)
        if kind == "pc":
            return direction(self.z, method="pca", component=int(arg), random_state=self.seed)
        if kind == "factor":
            return direction(self.z, self.column(f"{FACTOR_PREFIX}{arg}"))
        if self.labels is None:
            raise InputError(f"direction: run {self.name} has no labels; choose pc:<k> or factor:<name>")
        return direction(self.z, self.labels.astype(str), method="class_mean", positive=arg)

    # -- images ----------------------------------------------------------------------------------------------
    def thumbnail(self, row: int) -> str | None:
        from dashboards.images import data_uri

        png = self.run.thumbnails.get(str(self.ids[row]))
        return data_uri(png) if png else None

    # -- model --------------------------------------------------------------------------------------------------
    @functools.cached_property
    def _loaded(self) -> tuple[object | None, str]:
        if not self.want_model:
            return None, "live decoding is off (--no-model)"
        if not self.run.manifest.get("model"):
            return None, "this run has no model (imported latents)"
        try:
            model = self.run.load_model(device=self.device, trust_checkpoint=self.trust_checkpoint)
        except UnsafeCheckpointError as exc:  # it would run code that neither the flag nor the record allows
            return None, str(exc)
        except LatentvizError as exc:
            return None, f"the model could not be loaded: {exc}"
        except Exception as exc:  # a checkpoint that moved or changed shape must not take the page down
            return None, f"the model could not be loaded: {type(exc).__name__}: {exc}"
        if model is None or not model.has_decoder:
            return None, "the model has no decoder"
        return model, ""

    @property
    def model(self):
        """The run's model with a decoder, loaded on first use (see :mod:`latentviz.trust`); or None."""
        with self._model_lock:
            return self._loaded[0]

    @property
    def model_note(self) -> str:
        with self._model_lock:
            return self._loaded[1]

    def decode(self, codes) -> np.ndarray:
        """Decoded outputs of latent codes (n, d), batched on the server's device."""
        from dashboards.images import decode

        return decode(self.model, codes, self._model_lock)

    def grid(self, code, dims, values) -> np.ndarray:
        """The traversal grid (len(dims), len(values), ...) of ``code``, decoded like the traversal stage does."""
        from latentviz.traversal import grid

        model = self.model
        with self._model_lock:
            return grid(model, code, dims, values)


class RunStore:
    """The runs of one dashboard, keyed by a short id derived from the folder name."""

    def __init__(
        self,
        run_paths,
        *,
        load_model: bool = True,
        device: str = "auto",
        budget: int = logic.DISPLAY_BUDGET,
        policy=None,
        trust_checkpoint: bool = False,
    ):
        self.policy = policy  # an audit policy file whose results the Metrics page shows, or None
        paths = [Path(p) for p in run_paths]
        if not paths:
            raise InputError("dashboard: give at least one run folder")
        self._runs: dict[str, RunData] = {}
        self._comparisons: dict[tuple[str, ...], object] = {}  # run ids -> their Comparison
        for path in paths:
            run_id = _unique(re.sub(r"[^A-Za-z0-9_.-]+", "-", path.resolve().name) or "run", self._runs)
            self._runs[run_id] = RunData(
                run_id, path, load_model=load_model, device=device, budget=budget, trust_checkpoint=trust_checkpoint
            )
        runs = list(self._runs.values())
        for data in runs:
            data.store = self
        for data in runs:  # Compare colours each run by its agreement with the first run (the first: with the second)
            data.partner = (runs[1] if data is runs[0] else runs[0]) if len(runs) > 1 else None

    def __getitem__(self, run_id: str) -> RunData:
        try:
            return self._runs[run_id]
        except KeyError:
            raise InputError(f"unknown run '{run_id}'; choose from {', '.join(self._runs)}") from None

    def __iter__(self):
        return iter(self._runs.values())

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def ids(self) -> list[str]:
        return list(self._runs)

    @functools.cached_property
    def shared_ids(self) -> dict[str, int]:
        """How many sample ids each run shares with the first (Compare matches rows by id)."""
        first = next(iter(self))
        return {data.id: len(np.intersect1d(data.ids, first.ids)) for data in self}

    def comparison(self, run_ids: tuple[str, ...] | None = None):
        """The :class:`latentviz.compare.Comparison` of ``run_ids`` (default: all runs, in order), computed
        once per set of runs: the same result ``latentviz compare`` renders into its report."""
        from latentviz.compare import compare_runs

        key = tuple(run_ids or self.ids)
        if key not in self._comparisons:
            self._comparisons[key] = compare_runs([self[r].run for r in key])
        return self._comparisons[key]

    def aligned_xy(self, run_id: str, method: str) -> tuple[np.ndarray, np.ndarray]:
        """x and y of a run's ``method`` map moved onto the first run's (see :meth:`comparison`), rows in the run's
        order: views of the comparison's arrays, not copies."""
        data = self[run_id]
        if len(self) == 1:  # nothing to align to
            return data.xy(method)
        maps = self.comparison().maps
        if method not in maps:
            raise InputError(f"compare: not every run has a {method} projection; run 'latentviz project' on each")
        xy = maps[method][self.ids.index(run_id)]
        return xy[:, 0], xy[:, 1]

    def aligned(self, run_id: str, method: str):
        """``id, {method}_0, {method}_1`` of a run's :meth:`aligned_xy` map (a table the shared scatter builder takes)."""
        return projection_table(self[run_id].ids, {method: np.column_stack(self.aligned_xy(run_id, method))})


def _unique(name: str, taken) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}-{k}", k + 1
    return candidate
