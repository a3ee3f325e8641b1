"""The functions behind the dashboard's callbacks, without a browser; and the app's behaviour on thin runs."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dashboards import logic
from latentviz.errors import InputError


# -- selection --------------------------------------------------------------------------------------
def test_box_selection_uses_every_point_not_only_the_drawn_ones():
    xy = np.array([[0, 0], [1, 1], [2, 2], [3, 3], [1.5, 0.2]], dtype=float)
    box = {"range": {"x": [2.5, 0.5], "y": [0.0, 2.5]}, "points": [{"customdata": "1"}]}
    assert logic.rows_in_selection(xy, box).tolist() == [1, 2, 4]


def test_lasso_selection_is_point_in_polygon():
    xy = np.array([[0.6, 0.6], [2.0, 2.0], [0.6, 0.1], [0.1, 0.6], [-0.1, 0.5]])
    triangle = {"lassoPoints": {"x": [0, 1, 0], "y": [0, 0, 1]}}  # inside: x > 0, y > 0, x + y < 1
    assert logic.rows_in_selection(xy, triangle).tolist() == [2, 3]


def test_no_selection_is_none():
    assert logic.rows_in_selection(np.zeros((3, 2)), None) is None


def test_selection_summary_counts_labels_and_means_the_latents():
    z = np.array([[0, 0], [2, 4], [4, 8], [9, 9]], dtype=np.float32)
    summary = logic.selection_summary([0, 1, 2], labels=np.array(["a", "b", "b", "c"]), z=z, top=1)
    assert summary["count"] == 3
    assert summary["labels"] == [("b", 2), ("other", 1)]
    assert summary["mean"] == pytest.approx([2.0, 4.0])
    assert logic.selection_summary([], z=z) == {"count": 0, "labels": [], "mean": None}


def test_search_prefers_exact_id_then_label_then_substring():
    ids = np.array(["1", "11", "21", "cat-3"])
    labels = np.array(["cat", "dog", "1", "cat"])
    assert logic.search_rows("1", ids, labels).tolist() == [0]
    assert logic.search_rows("cat", ids, labels).tolist() == [0, 3]
    assert logic.search_rows("-3", ids, labels).tolist() == [3]
    assert logic.search_rows("  ", ids, labels).tolist() == []


def test_highlight_rings_shrink_as_they_multiply():
    sizes = [logic.highlight_size(n) for n in (1, 100, 10_000)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]


def test_selection_csv_round_trips_ids_with_commas_and_quotes():
    ids = ["a", 'b,"c"', "7"]
    rows = list(csv.reader(io.StringIO(logic.selection_csv(ids))))
    assert rows == [["id"], *[[i] for i in ids]]


def test_shared_rows_links_runs_by_id_not_by_position():
    ids_a = np.array(["x", "y", "z"])
    ids_b = np.array(["z", "q", "x"])
    assert logic.shared_rows(ids_a, [0, 2], ids_b).tolist() == [0, 2]


# -- colour and neighbours -------------------------------------------------------------------------
def test_color_options_follow_what_the_run_has():
    values = [
        o["value"]
        for o in logic.color_options(
            has_labels=True, factor_names=["scale"], latent_dim=2, has_kl=False, has_recon=False, has_neighbours=True
        )
    ]
    assert values == ["none", "label", "factor:scale", "agreement", "z:0", "z:1"]
    assert logic.color_key("z:1") == ("z", 1)
    assert logic.color_key("factor:scale") == ("factor", "scale")
    with pytest.raises(InputError, match="unknown value 'nope'"):
        logic.color_key("nope")


def test_per_sample_kl_matches_the_closed_form_and_is_zero_at_the_prior():
    z = np.array([[0.0, 0.0], [1.0, 2.0]])
    logvar = np.array([[0.0, 0.0], [np.log(2.0), 0.0]])
    kl = logic.per_sample_kl(z, logvar)
    assert kl[0] == 0.0
    assert kl[1] == pytest.approx(0.5 * (1 + 2 - np.log(2) - 1) + 0.5 * 4)
    assert logic.per_sample_kl(z, None) is None


def test_overlap_per_point_counts_shared_neighbours():
    from latentviz.neighbors import overlap_per_point

    latent = np.array([[1, 2, 3], [0, 2, 3]])
    in_map = np.array([[3, 1, 4], [4, 5, 6]])
    assert overlap_per_point(latent, in_map).tolist() == [2, 0]


def test_partner_agreement_is_one_for_a_rotated_copy_and_low_for_noise(tmp_path, make_run):
    from dashboards.store import RunStore

    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    rotation = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    make_run(tmp_path / "a", z)
    make_run(tmp_path / "b", z @ rotation)
    make_run(tmp_path / "c", rng.normal(size=(200, 4)))
    store = RunStore([tmp_path / "a", tmp_path / "b", tmp_path / "c"], load_model=False)
    a, b, c = list(store)
    assert b.partner is a and a.partner is b and c.partner is a
    np.testing.assert_allclose(b.color_values("run_agreement", "pca")[0], 1.0)
    assert np.nanmean(c.color_values("run_agreement", "pca")[0]) < 0.2


def test_nearest_reads_the_graph_row():
    indices = np.array([[1, 2], [0, 2], [1, 0]])
    distances = np.array([[0.1, 0.5], [0.1, 0.2], [0.2, 0.5]], dtype=np.float32)
    assert logic.nearest(indices, distances, 2, 5) == [(1, pytest.approx(0.2)), (0, pytest.approx(0.5))]


# -- decode -------------------------------------------------------------------------------------------
def test_informative_order_by_kl_then_by_variance():
    z = np.array([[0, 5, 1], [0, -5, 2]], dtype=float)
    assert logic.informative_order(z, [0.1, 3.0, 0.0]) == [1, 0, 2]
    assert logic.informative_order(z) == [1, 2, 0]


def test_slider_range_keeps_collapsed_dimensions_movable():
    z = np.array([[0.0, 10.0], [0.0, 20.0]])
    lo, hi = logic.slider_range(z)
    assert (lo[0], hi[0]) == (-3.0, 3.0)
    assert lo[1] == -3.0 and hi[1] == pytest.approx(15 + 3 * 5)


def test_slider_code_writes_each_value_into_its_dimension():
    code = logic.slider_code([5.0, None], [2, 0], np.array([1.0, 1.0, 1.0]))
    assert code.tolist() == [1.0, 1.0, 5.0]


def test_clicks_fill_a_then_b_then_a_again():
    state = logic.next_ab(None, 4)
    state = logic.next_ab(state, 7)
    assert (state["a"], state["b"], state["next"]) == (4, 7, "a")
    assert logic.next_ab(state, 9)["a"] == 9


def test_direction_options_and_keys():
    options = logic.direction_options(classes=["a"], factor_names=["scale"], n_principal=1)
    assert [o["value"] for o in options] == ["pc:0", "factor:scale", "label:a"]
    assert logic.direction_key("label:a:b") == ("label", "a:b")
    with pytest.raises(InputError, match="unknown value"):
        logic.direction_key("up")


# -- compare ------------------------------------------------------------------------------------------
def test_metric_deltas_use_the_registry_direction():
    class Fact:
        def __init__(self, higher):
            self.higher_is_better = higher

    rows = logic.metric_deltas(
        {"a": {"mig": 0.2, "loss": 1.0, "detail": {}}, "b": {"mig": 0.5, "loss": 2.0}},
        {"mig": Fact(True), "loss": Fact(False)},
    )
    by_name = {r["metric"]: r for r in rows}
    assert set(by_name) == {"mig", "loss"}
    assert by_name["mig"]["delta"] == pytest.approx(0.3) and by_name["mig"]["better"] is True
    assert by_name["loss"]["better"] is False


def test_series_order_sorts_by_step_when_every_run_has_one():
    from types import SimpleNamespace as Run

    from latentviz.compare import series_order

    assert series_order([Run(step=30.0), Run(step=10.0), Run(step=20.0)]) == [1, 2, 0]
    assert series_order([Run(step=30.0), Run(step=None)]) is None


# -- safety -------------------------------------------------------------------------------------------
def test_files_outside_the_run_are_refused(tmp_path):
    run = tmp_path / "run"
    (run / "traversals").mkdir(parents=True)
    (run / "traversals" / "grid.png").write_bytes(b"png")
    (tmp_path / "secret.txt").write_text("no")
    assert logic.file_in_run(run, "traversals/grid.png") == (run / "traversals" / "grid.png").resolve()
    for escape in ("../secret.txt", str(tmp_path / "secret.txt")):
        with pytest.raises(InputError, match="outside the run folder"):
            logic.file_in_run(run, escape)
    os.symlink(tmp_path / "secret.txt", run / "link.txt")
    with pytest.raises(InputError, match="outside the run folder"):
        logic.file_in_run(run, "link.txt")


# -- the app over thin runs ------------------------------------------------------------------------------
def _render(app, tab, run_id):
    import plotly

    from dashboards.app import _pages

    return json.dumps(_pages()[tab].layout(app.store, run_id), cls=plotly.utils.PlotlyJSONEncoder)


def test_pages_say_what_is_missing_instead_of_failing(make_run, tmp_path):
    from dashboards.app import create_app

    z = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    path = make_run(tmp_path / "bare", z, labels=["a", "b", "c"] * 10)
    app = create_app([path], load_model=True)
    run_id = app.store.ids[0]
    assert "latentviz project" in _render(app, "explore", run_id)
    assert "latentviz metrics" in _render(app, "metrics", run_id)
    decode = _render(app, "decode", run_id)
    assert "no model (imported latents)" in decode and "latentviz traverse" in decode
    assert "Each latent dimension against the N(0, 1) prior" in _render(app, "dimensions", run_id)


def test_explore_recolours_with_a_patch_that_swaps_legend_traces(make_run, add_maps, tmp_path):
    from dash import Patch

    from dashboards.app import create_app
    from dashboards.pages import explore
    from latentviz.figures import projection_scatter

    z = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    path = add_maps(make_run(tmp_path / "r", z, labels=["a", "b"] * 20))
    data = create_app([path], load_model=False).store["r"]
    figure = explore.scatter(data, "umap", 2, "label")
    assert explore.legend_count(figure) == 2 and figure["data"][-1]["meta"] == "highlight"
    reference = projection_scatter(
        data.projections, data.metadata("label", "umap")[0], method="umap", color_by="label", highlight=[]
    )  # what the report draws
    assert list(figure["data"][0]["marker"]["color"]) == list(reference.data[0].marker.color)
    assert [t["name"] for t in figure["data"][1:3]] == [t.name for t in reference.data[1:3]]
    colors, title = explore.colors_of(data, "z:0", "umap")
    ops = explore.paint(Patch(), colors, 2, title=title).to_plotly_json()["operations"]
    assert [o["operation"] for o in ops].count("Delete") == 2
    assert not any(o["operation"] == "Insert" for o in ops)  # a colour scale needs no legend traces
    assert all(o["location"][:2] != ["data", 0] or o["location"][2] in ("marker", "text") for o in ops)  # no x/y resent


@pytest.mark.parametrize("n", [300, 2_500])
def test_every_map_draws_its_points_in_the_colour_format_its_trace_takes(make_run, add_maps, tmp_path, n):
    """SVG scatters get colour strings; WebGL scatters (above logic.WEBGL_ABOVE) RGB rows, on Explore and Compare."""
    from dashboards import logic
    from dashboards.app import create_app
    from dashboards.pages import compare, explore

    rng = np.random.default_rng(0)
    path = add_maps(make_run(tmp_path / "r", rng.normal(size=(n, 3)).astype(np.float32), labels=["a", "b"] * (n // 2)))
    store = create_app([path], load_model=False).store
    data = store["r"]
    webgl = n > logic.WEBGL_ABOVE
    for figure in (explore.scatter(data, "umap", 2, "label"), compare.panel_figure(store, data, "umap", "label")):
        points = figure["data"][0]
        assert points["type"] == ("scattergl" if webgl else "scatter")
        color = points["marker"]["color"]
        assert (
            (isinstance(color, dict) and color["shape"] == f"{n},3") if webgl else (color[0] in ("#4e79a7", "#f28e2b"))
        )


def test_run_store_rejects_unknown_runs_and_names_duplicates_apart(make_run, tmp_path):
    from dashboards.store import RunStore

    z = np.zeros((4, 2), dtype=np.float32)
    a = make_run(tmp_path / "one" / "run", z)
    b = make_run(tmp_path / "two" / "run", z)
    store = RunStore([a, b], load_model=False)
    assert store.ids == ["run", "run-2"]
    with pytest.raises(InputError, match="unknown run 'x'; choose from run, run-2"):
        store["x"]


def test_dashboard_command_fails_in_one_line_on_a_missing_run(cli, tmp_path):
    result = cli("dashboard", tmp_path / "nope")
    assert result.code == 2
    assert result.err.startswith("latentviz: error: run folder") and result.err.count("\n") == 1


def test_importing_latentviz_does_not_import_the_dashboard():
    code = "import sys, latentviz, latentviz.cli.main; print(any(m.split('.')[0] in ('dash', 'dashboards') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_show_needs_a_run():
    import latentviz

    with pytest.raises(InputError, match="give at least one run folder"):
        latentviz.show()


def test_metrics_page_shows_registry_rows_and_audit_results(make_run, tmp_path):
    from dashboards.app import create_app

    policy = tmp_path / "policy.yaml"
    policy.write_text("name: strict\nchecks:\n  - metric: mig\n    gte: 0.4\n  - metric: sap\n    gte: 0.01\n")
    z = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    path = make_run(tmp_path / "r", z)
    (path / "metrics.json").write_text(json.dumps({"mig": 0.31, "sap": 0.05, "detail": {}}))
    page = _render(create_app([path], load_model=False, policy=policy), "metrics", "r")
    assert "Audit: fail" in page
    assert "mig 0.31 < 0.4" in page.replace("0.40", "0.4")
    assert "Gap in mutual information" in page  # the registry's explanation beside the value


def test_without_a_model_decode_shows_saved_traversals_but_no_linked_outside_file(make_run, tmp_path):
    from dashboards.app import create_app
    from latentviz.thumbnails import png_bytes

    z = np.zeros((5, 2), dtype=np.float32)
    path = make_run(tmp_path / "r", z)
    (path / "traversals").mkdir()
    (path / "traversals" / "grid_00.png").write_bytes(png_bytes(np.ones((4, 4))))
    (tmp_path / "secret.png").write_bytes(png_bytes(np.zeros((4, 4))))
    os.symlink(tmp_path / "secret.png", path / "traversals" / "leak.png")
    page = _render(create_app([path], load_model=False), "decode", "r")
    assert "live decoding is off (--no-model)" in page
    assert "grid_00" in page and "leak" not in page
