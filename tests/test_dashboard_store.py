"""What the dashboard's store reads from a run folder, and how often: only the columns a page needs, each once,
and per-run caches that three open runs (a Compare) share without evicting each other's entries."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from dashboards.testing import write_run
from latentviz.run import LATENTS, Run

N = 3_000
BUDGET = 1_000  # below N: every run here is drawn as a density map


def _run(path, seed=0, first_id=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, N)
    z = rng.normal(size=(N, 3)) + labels[:, None]
    return write_run(path, z=z, labels=labels, xy=z[:, :2], first_id=first_id)


@pytest.fixture
def reads(monkeypatch):
    """Every read of a run table: (file name, columns) for each column-projected read, ("whole", file name)
    for each read of a whole table through pandas."""
    log: list[tuple] = []
    read_columns, read_parquet = Run.read_columns, pd.read_parquet

    def spy_columns(self, name, columns):
        log.append((name, tuple(columns)))
        return read_columns(self, name, columns)

    def spy_parquet(path, *args, **kwargs):
        log.append(("whole", str(path).rsplit("/", 1)[-1]))
        return read_parquet(path, *args, **kwargs)

    monkeypatch.setattr(Run, "read_columns", spy_columns)
    monkeypatch.setattr(pd, "read_parquet", spy_parquet)
    return log


def _join_warm_threads():
    for thread in threading.enumerate():
        if thread.name.startswith("latentviz-warm-"):
            thread.join()


def test_opening_a_run_and_using_it_reads_each_latent_column_once_and_never_the_whole_table(tmp_path, reads):
    from dashboards import logic
    from dashboards.app import create_app
    from dashboards.pages import _parts, explore

    app = create_app([_run(tmp_path / "run")], load_model=False, budget=BUDGET)
    _join_warm_threads()
    data = next(iter(app.store))
    explore.layout(app.store, data.id)  # the page view
    figure = explore.scatter(data, "umap", 2, "label")
    for color in ("z:0", "z:2", "label", "z:0"):  # colourings, then a zoom
        explore.dense_update(figure, data, "umap", color, None, 0)
    explore.dense_update(figure, data, "umap", "z:1", ((0.0, 1.0), (0.0, 1.0), (400, 300)), 0)
    rows = logic.rows_in_selection(data.xy("umap"), {"range": {"x": [-1, 1], "y": [-1, 1]}})
    _parts.selection_panel(data, rows, limit=10)  # the gallery: the selection's labels and mean latent
    _parts.sample_card(data, int(rows[0]))  # a hover card: the row's metadata

    latents = [columns for name, columns in reads if name == LATENTS]
    assert ("whole", LATENTS) not in reads
    assert sorted(latents) == sorted([(), ("id",), ("label",), ("z_0", "z_1", "z_2")])  # each once; () is the row count
    # the map's ids once (checked against the latents'), then its columns once
    assert [c for name, c in reads if name != LATENTS] == [("id",), ("umap_0", "umap_1")]


def test_three_open_runs_keep_their_own_caches(tmp_path, reads, monkeypatch):
    from dashboards.store import RunData, RunStore

    store = RunStore([_run(tmp_path / f"run{k}", seed=k) for k in range(3)], load_model=False, budget=BUDGET)
    computed = []
    color_values = RunData.color_values

    def spy(self, value, method):
        computed.append((self.id, value))
        return color_values(self, value, method)

    monkeypatch.setattr(RunData, "color_values", spy)
    for _ in range(2):  # a Compare of three runs draws each panel, then draws them again (a recolour)
        for data in store:
            data.density_coloring("label", "umap")
            data.whole_map("label", "umap")
            data.extent("umap")
    assert sorted(computed) == sorted((data.id, "label") for data in store)  # once per run, never again
    # per run: the latents' and the map's ids (the map is checked to be over the run's rows), label, the map
    assert sorted(c for _, c in reads) == sorted([("id",)] * 6 + [("umap_0", "umap_1")] * 3 + [("label",)] * 3)


def test_label_colouring_from_the_codes_equals_the_colouring_of_the_whole_column(tmp_path):
    from dashboards.store import RunStore
    from latentviz.figures import category_colors

    path = _run(tmp_path / "run")
    table = pd.read_parquet(path / LATENTS)
    table.loc[[3, 7], "label"] = None  # missing labels are a category of their own
    table.loc[5, "label"] = "class 10"  # sorts between "class 1" and "class 2"
    table.to_parquet(path / LATENTS)
    data = next(iter(RunStore([path], load_model=False, budget=BUDGET)))

    coloring = data.density_coloring("label", "umap")
    names, categories, colors = category_colors(table["label"].to_numpy())
    assert list(coloring["categories"].categories) == categories
    assert coloring["category_colors"] == colors
    assert list(coloring["categories"].astype(str)) == list(names)
    assert data.labels[5] == "class 10" and pd.isna(data.labels[3]) and data.labels[0] == table["label"][0]
