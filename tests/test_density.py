"""The density image (datashader) against numpy's 2-D histogram, and the dashboard's dense view."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from conftest import write_run

from latentviz.figures._density import density_image


def _pixels(image: dict) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(image["source"].split(",", 1)[1]))).convert("RGBA"))


def _hex(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    # cell centres of a 40 x 30 grid over [0, 4) x [0, 3): no point sits on a pixel edge
    cells = rng.integers(0, [40, 30], size=(3000, 2))
    return ((cells + 0.5) / 10.0).astype(np.float64), cells


def test_counts_draw_exactly_the_pixels_numpy_bins_points_into(points):
    xy, cells = points
    image = density_image(xy[:, 0], xy[:, 1], x_range=(0, 4), y_range=(0, 3), size=(40, 30))
    pixels = _pixels(image)
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=(40, 30), range=((0, 4), (0, 3)))
    assert pixels.shape == (30, 40, 4)
    np.testing.assert_array_equal(pixels[::-1, :, 3] > 0, counts.T > 0)  # image rows run top to bottom
    assert (image["x"], image["y"], image["sizex"], image["sizey"]) == (0.0, 3.0, 4.0, 3.0)
    # histogram-equalised: a fuller pixel is never lighter than an emptier one
    alpha = pixels[::-1, :, 3].T.astype(int)
    filled = counts > 0
    order = np.argsort(counts[filled], kind="stable")
    assert (np.diff(alpha[filled][order]) >= 0).all()


def test_categories_blend_and_a_pure_pixel_has_its_category_colour(points):
    from latentviz.figures._scatter import category_colors

    xy, cells = points
    labels = np.where(cells[:, 0] < 20, "left", "right")
    labels[(cells[:, 0] == 20) & (np.arange(len(cells)) % 2 == 0)] = "left"  # column 20 holds both
    text, categories, colors = category_colors(labels)
    image = density_image(
        xy[:, 0],
        xy[:, 1],
        x_range=(0, 4),
        y_range=(0, 3),
        size=(40, 30),
        categories=pd.Categorical(text, categories=categories),
        category_colors=colors,
    )
    pixels = _pixels(image)[::-1].transpose(1, 0, 2)  # [x cell, y cell]
    left = [tuple(pixels[i, j, :3]) for i, j in cells[cells[:, 0] < 20]]
    right = [tuple(pixels[i, j, :3]) for i, j in cells[cells[:, 0] > 20]]
    assert set(left) == {_hex(colors["left"])} and set(right) == {_hex(colors["right"])}
    both = {
        tuple(pixels[20, j, :3])
        for i, j in cells[cells[:, 0] == 20]
        if ((labels == "left") & (cells[:, 1] == j) & (cells[:, 0] == 20)).any()
        and ((labels == "right") & (cells[:, 1] == j) & (cells[:, 0] == 20)).any()
    }
    assert both and not both & {_hex(colors["left"]), _hex(colors["right"])}  # mixed pixels are blends


def test_mean_of_a_column_follows_the_whole_columns_span(points):
    xy, cells = points
    values = cells[:, 0].astype(float)  # mean per pixel = its x cell
    image = density_image(
        xy[:, 0], xy[:, 1], x_range=(0, 4), y_range=(0, 3), size=(40, 30), values=values, span=(0.0, 39.0)
    )
    pixels = _pixels(image)[::-1].transpose(1, 0, 2)
    low, high = (
        pixels[cells[cells[:, 0] == 0][0][0], cells[cells[:, 0] == 0][0][1], :3],
        pixels[cells[cells[:, 0] == 39][0][0], cells[cells[:, 0] == 39][0][1], :3],
    )
    from plotly.colors import get_colorscale

    from latentviz.figures._style import SEQUENTIAL

    scale = get_colorscale(SEQUENTIAL)
    assert np.abs(low.astype(int) - _hex(scale[0][1])).max() <= 3
    assert np.abs(high.astype(int) - _hex(scale[-1][1])).max() <= 3


@pytest.mark.parametrize("colouring", ["count", "categories", "values"])
def test_aggregating_row_blocks_on_threads_draws_the_image_of_one_pass(points, monkeypatch, colouring):
    from latentviz.figures import _density

    xy, cells = points
    rng = np.random.default_rng(1)
    options = {
        "count": {},
        "categories": {
            "categories": pd.Categorical(np.array(list("abc"))[cells[:, 0] % 3]),
            "category_colors": {"a": "#ff0000", "b": "#00ff00", "c": "#0000ff"},
        },
        "values": {"values": rng.normal(size=len(xy)), "span": (-2.0, 2.0)},
    }[colouring]

    def draw():
        return density_image(xy[:, 0], xy[:, 1], x_range=(0, 4), y_range=(0, 3), size=(40, 30), **options)

    one = draw()
    monkeypatch.setattr(_density, "_PARALLEL_FROM", 1000)  # 3000 points: three blocks, on up to 3 threads
    monkeypatch.setattr(_density.os, "cpu_count", lambda: 3)
    assert draw()["source"] == one["source"]


def test_dashboard_above_the_budget_sends_no_points_until_the_view_holds_the_budget(tmp_path):
    from dashboards.pages.explore import dense_scatter, dense_update
    from dashboards.store import RunStore

    rng = np.random.default_rng(1)
    n = 600
    xy = rng.uniform(0, 10, size=(n, 2)).astype(np.float32)
    path = write_run(tmp_path / "run", xy, labels=np.where(xy[:, 0] < 5, "a", "b"))
    pd.DataFrame({"id": [str(i) for i in range(n)], "umap_0": xy[:, 0], "umap_1": xy[:, 1]}).to_parquet(
        path / "projections.parquet"
    )
    data = RunStore([path], load_model=False, budget=100)[path.name]
    assert data.dense(2) and not data.dense(3)

    figure = dense_scatter(data, "umap", "label")
    assert len(figure["data"][0]["x"]) == 0 and len(figure["layout"]["images"]) == 1
    assert "all 600 points as density" in figure["layout"]["title"]["subtitle"]["text"]
    assert figure["data"][-1]["meta"] == "highlight"  # search rings its matches over the image, wherever they are

    view = ((2.0, 4.0), (2.0, 4.0), (200, 200))
    inside = np.flatnonzero((xy[:, 0] >= 2) & (xy[:, 0] <= 4) & (xy[:, 1] >= 2) & (xy[:, 1] <= 4))
    assert 0 < len(inside) <= 100
    dense_update(figure, data, "umap", "label", view, 2)
    assert sorted(figure["data"][0]["customdata"]) == sorted(data.ids[inside])
    assert _pixels(figure["layout"]["images"][0]).shape == (200, 200, 4)


def test_report_above_max_points_draws_every_point_under_the_sample(tmp_path):
    from latentviz.figures._density import DEFAULT_SIZE
    from latentviz.run import Run
    from reports._sections import projection_section

    rng = np.random.default_rng(2)
    n = 4000
    z = rng.normal(size=(n, 3)).astype(np.float32)
    path = write_run(tmp_path / "run", z, labels=np.arange(n) % 3)
    pd.DataFrame({"id": [str(i) for i in range(n)], "pca_0": z[:, 0], "pca_1": z[:, 1]}).to_parquet(
        path / "projections.parquet"
    )
    section = projection_section(Run(path), max_points=300, seed=0)
    figure = section.figures[0].figure
    assert len(base64.b64decode(figure["data"][0]["x"]["bdata"])) == 300 * 4  # the sampled points, float32
    assert "Showing 300 of 4,000 points" in section.note and "all 4,000 points as density" in section.note
    image = figure["layout"]["images"][0]
    pixels = _pixels(image)
    width, height = DEFAULT_SIZE
    assert pixels.shape == (height, width, 4)
    # every one of the 4,000 points lands on a drawn pixel (the axes show exactly the image's area)
    assert figure["layout"]["xaxis"]["range"] == [image["x"], image["x"] + image["sizex"]]
    col = np.floor((z[:, 0] - image["x"]) / image["sizex"] * width).astype(int)
    row = np.floor((image["y"] - z[:, 1]) / image["sizey"] * height).astype(int)
    assert (pixels[row, col, 3] > 0).mean() > 0.995
    assert (pixels[..., 3] > 0).sum() <= len(
        {(r, c) for r, c in zip(row, col, strict=True)}
    ) + 20  # and nothing else is drawn


def test_a_view_from_the_browser_is_checked():
    from dashboards.logic import check_view
    from latentviz.errors import InputError

    assert check_view(None) is None
    assert check_view({"x": [0, 1], "y": [2, 3], "w": 10**6, "h": 0}) == ((0.0, 1.0), (2.0, 3.0), (4096, 1))
    for bad in (
        {"x": [0, float("nan")], "y": [0, 1]},
        {"x": [0, 1, 2], "y": [0, 1]},
        {"x": "a", "y": [0, 1]},
        {"x": [0, 1], "y": [0, 1], "w": "wide"},
    ):
        with pytest.raises(InputError):
            check_view(bad)
