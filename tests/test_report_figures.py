"""The shared figure builders (``latentviz.figures``): pure functions, tested without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentviz import figures
from latentviz.errors import InputError


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    n = 400
    projections = pd.DataFrame(
        {"id": [f"p{i}" for i in range(n)], "pca_0": rng.normal(size=n), "pca_1": rng.normal(size=n)}
    )
    metadata = pd.DataFrame(
        {
            "id": projections["id"],
            "label": np.where(np.arange(n) < 4, "rare", "common"),
            "factor_scale": np.arange(n) % 5,
        }
    )
    return projections, metadata


def test_sample_rows_keeps_everything_under_budget_and_is_seeded():
    everything = figures.sample_rows(10, max_points=10)
    assert sorted(everything.tolist()) == list(range(10)) and everything.tolist() != list(range(10))  # shuffled
    strata = np.where(np.arange(1000) < 5, "rare", "common")
    first = figures.sample_rows(1000, max_points=50, seed=3, strata=strata)
    assert len(first) == len(set(first)) == 50
    assert np.array_equal(first, figures.sample_rows(1000, max_points=50, seed=3, strata=strata))
    assert (first < 5).sum() >= 1  # the rare stratum survives
    assert not np.array_equal(first, figures.sample_rows(1000, max_points=50, seed=4, strata=strata))


def test_scatter_layout_colours_and_highlight(maps):
    projections, metadata = maps
    fig = figures.projection_scatter(
        projections, metadata, color_by="label", highlight=["p0", "p399"], max_points=100, seed=0
    )
    points, *legend, ring = fig.data
    assert len(points.x) == 100 and fig.layout.title.subtitle.text == "showing 100 of 400 points (stratified by label)"
    assert [t.name for t in legend] == ["common", "rare"] and all(t.meta == "legend" for t in legend)
    assert ring.meta == "highlight" and list(ring.customdata) == ["p0", "p399"]  # shown even if not sampled
    colors = figures.scatter_colors(
        metadata["label"].iloc[figures.sample_rows(400, max_points=100, seed=0, strata=metadata["label"])], name="label"
    )
    assert list(points.marker.color) == colors["marker"]["color"]
    assert set(points.marker.color) == {legend[0].marker.color, legend[1].marker.color}


def test_numeric_colouring_uses_a_colour_scale(maps):
    projections, metadata = maps
    # five whole-number levels would be categories unforced (see test_day_one): force the scale
    fig = figures.projection_scatter(projections, metadata, color_by="factor_scale", color_mode="continuous")
    assert len(fig.data) == 1 and fig.data[0].marker.showscale
    assert fig.layout.legend.title.text == "scale"  # factor_ prefix dropped
    expected = [int(i[1:]) % 5 for i in fig.data[0].customdata]  # p17 has scale 17 % 5
    assert list(fig.data[0].marker.color) == expected


def _decoded(spec: dict) -> np.ndarray:
    """The (n, 3) RGB rows of a plotly typed-array spec, as plotly.js decodes them."""
    import base64

    n, width = (int(v) for v in spec["shape"].split(","))
    assert spec["dtype"] == "u1" and width == 3
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.uint8).reshape(n, 3)


def test_rgb_colours_are_the_category_colours_point_by_point():
    from latentviz.figures._style import MISSING_COLOR

    labels = pd.Series(["b", "a", None, "b", "a"])
    plain = figures.scatter_colors(labels, name="label")
    rgb = figures.scatter_colors(labels, name="label", rgb=True)
    hexes = ["#" + "".join(f"{c:02x}" for c in row) for row in _decoded(rgb["marker"]["color"])]
    assert hexes == plain["marker"]["color"] and hexes[2] == MISSING_COLOR
    assert rgb["legend"] == plain["legend"] and rgb["text"] == plain["text"]


def test_rgb_colours_follow_the_colour_scale_with_a_colour_bar_trace():
    from plotly.colors import get_colorscale

    values = pd.Series([2.0, 4.0, np.nan, 3.0, 2.5])
    rgb = figures.scatter_colors(values, name="z0", rgb=True)
    rows = _decoded(rgb["marker"]["color"]).astype(int)
    scale = get_colorscale("Viridis")
    first, last = (np.array([int(h[i : i + 2], 16) for i in (1, 3, 5)]) for h in (scale[0][1], scale[-1][1]))
    assert (rows[0] == first).all() and (rows[1] == last).all()  # the minimum and the maximum
    assert (rows[2] == [0xCB, 0xD2, 0xD9]).all()  # NaN: the missing colour
    middle = np.array([int(h[i : i + 2], 16) for h in (scale[4][1], scale[5][1]) for i in (1, 3, 5)]).reshape(2, 3)
    assert (np.abs(rows[3] - middle.mean(axis=0)) <= 1).all()  # halfway between the two middle stops
    assert not rgb["marker"]["showscale"]
    (bar,) = rgb["legend"]
    assert bar["meta"] == "legend" and bar["marker"]["showscale"]
    assert (bar["marker"]["cmin"], bar["marker"]["cmax"]) == (2.0, 4.0)
    assert rgb["text"] == ["2", "4", "", "3", "2.5"] == figures.scatter_colors(values, name="z0")["text"]


def test_many_categories_and_missing_values():
    values = pd.Series([f"c{i}" for i in range(30)] + [None])
    colors = figures.scatter_colors(values, name="label")
    assert len(colors["legend"]) == figures._scatter.MAX_LEGEND + 1
    assert colors["legend"][-1]["name"] == "… 11 more"
    assert colors["text"][-1] == "(missing)" and colors["marker"]["color"][-1] == figures._style.MISSING_COLOR


def test_bad_arguments_name_the_choices(maps):
    projections, metadata = maps
    with pytest.raises(InputError, match="no umap projection; this run has: pca"):
        figures.projection_scatter(projections, metadata, method="umap")
    with pytest.raises(InputError, match="cannot colour by 'colour'; choose from id, label, factor_scale"):
        figures.projection_scatter(projections, metadata, color_by="colour")


def test_histograms_are_densities_of_the_chosen_dimensions():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 20)) * np.linspace(0.1, 2.0, 20)
    fig = figures.latent_histograms(z, max_dims=4)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["z16", "z17", "z18", "z19"]  # the four of largest variance
    bars = [t for t in fig.data if t.type == "bar"]
    for bar in bars:
        assert float(np.sum(bar.y) * bar.width) == pytest.approx(1.0, abs=0.02)


def test_dimension_bars_split_at_the_threshold():
    fig = figures.kl_bars([2.0, 0.001, 0.5, 0.0], threshold=0.01)
    used, collapsed = fig.data
    assert (used.name, list(used.x)) == ("in use", ["z0", "z2"])
    assert (collapsed.name, list(collapsed.x)) == ("collapsed", ["z1", "z3"])


def test_correlation_heatmap_is_symmetric_with_unit_diagonal():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 3))
    z[:, 2] = z[:, 0] + 0.01 * rng.normal(size=500)
    corr = np.asarray(figures.correlation_heatmap(z).data[0].z, dtype=float)
    np.testing.assert_allclose(np.diag(corr), 1.0, atol=1e-6)
    np.testing.assert_allclose(corr, corr.T)
    assert corr[0, 2] > 0.99


def test_correlation_heatmap_is_pearsons_over_blocks_of_rows(monkeypatch):
    """Computed a block of rows at a time (no float64 copy of the codes), the matrix is np.corrcoef's over the
    rows finite in every dimension, for codes far from zero too; a constant dimension is left blank."""
    from latentviz.figures import _latents

    monkeypatch.setattr(_latents, "_BLOCK_ROWS", 7)  # many blocks, the last one short
    rng = np.random.default_rng(1)
    z = (rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) + 1e4).astype(np.float32)
    z[::9, 1] = np.nan
    z[5, 3] = np.inf
    finite = np.isfinite(z).all(axis=1)
    expected = np.corrcoef(z[finite].astype(np.float64), rowvar=False)
    corr = np.asarray(figures.correlation_heatmap(z).data[0].z, dtype=float)
    np.testing.assert_allclose(corr, expected, atol=1e-6)  # compact() stores float32
    shuffled = np.asarray(figures.correlation_heatmap(z[rng.permutation(200)]).data[0].z, dtype=float)
    np.testing.assert_allclose(shuffled, corr)
    z[:, 2] = 0.1
    blank = np.asarray(figures.correlation_heatmap(z).data[0].z, dtype=float)
    assert np.isnan(blank[2]).all() and np.isnan(blank[:, 2]).all()
    np.testing.assert_allclose(np.delete(np.delete(blank, 2, 0), 2, 1), np.delete(np.delete(corr, 2, 0), 2, 1))


@pytest.mark.parametrize("draw", [figures.latent_histograms, figures.correlation_heatmap])
def test_the_dimension_figures_never_copy_the_codes_whole(monkeypatch, draw):
    """At 10M x 64 a float64 copy of the codes is 5 GB: the figures read a column or a block of rows at a time."""
    import tracemalloc

    from latentviz.figures import _latents

    monkeypatch.setattr(_latents, "_BLOCK_ROWS", 4096)
    z = np.random.default_rng(0).normal(size=(200_000, 20)).astype(np.float32)  # 16 MB
    tracemalloc.start()
    try:
        draw(z)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < z.nbytes / 2, peak


def test_metric_rows_follow_the_registry():
    """Rows carry the real registry's facts, in its order; a metric it does not know comes last, blank."""
    from latentviz.metrics import REGISTRY

    mig, recon = REGISTRY["mig"], REGISTRY["reconstruction_error"]
    assert (mig.higher_is_better, mig.bounds, recon.higher_is_better, recon.bounds) == (
        True,
        (0, 1),
        False,
        (0, np.inf),
    )
    metrics = {"zeta": 2, "reconstruction_error": recon.typical[1] + 0.5, "mig": float("nan"), "detail": {"x": 1}}
    rows = figures.metric_rows(metrics, REGISTRY)
    assert [r.name for r in rows] == ["mig", "reconstruction_error", "zeta"]  # mig comes first in the registry
    assert rows[0].value is None and rows[0].higher_is_better is True and rows[0].bounds == "0 – 1"
    assert (rows[0].group, rows[0].explanation, rows[0].standing) == ("disentanglement", mig.explanation, "")
    assert rows[1].higher_is_better is False and rows[1].bounds == "0 – ∞" and rows[1].group == "decoder"
    assert rows[1].standing == "above"  # beyond the registry's typical range of a reconstruction error
    assert figures.metric_rows({"mig": mig.typical[0] + 1e-3}, REGISTRY)[0].standing == "within"
    assert rows[2].higher_is_better is None and rows[2].explanation == "" and rows[2].bounds == ""
