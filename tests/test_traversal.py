"""Traversals and interpolation: path geometry, grids, directions, GIF/PNG layout and the CLI stage."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import torch
from PIL import Image

from latentviz.traversal import direction, grid, interpolate, to_gif, to_png, traverse
from latentviz.traversal._render import PAD, TILE_MIN


def test_slerp_keeps_endpoints_sphere_and_linear_norm():
    rng = np.random.RandomState(0)
    a, b = rng.randn(6), rng.randn(6)
    path = interpolate(a, b, 11, method="slerp")
    assert path.shape == (11, 6)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    t = np.linspace(0, 1, 11)
    expected_norm = (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), expected_norm, rtol=1e-12)
    # the direction moves along the great circle: equal angles between consecutive points
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-9)

    for u, v in ((a / np.linalg.norm(a), b / np.linalg.norm(b)), (np.eye(6)[0], -np.eye(6)[0])):  # incl. antipodal
        on_sphere = interpolate(u, v, 9, method="slerp")
        np.testing.assert_allclose(np.linalg.norm(on_sphere, axis=1), 1.0, rtol=1e-12)
        assert np.array_equal(on_sphere[0], u) and np.array_equal(on_sphere[-1], v)


def test_lerp_midpoint_is_the_mean():
    a, b = np.array([1.0, -2.0, 4.0]), np.array([3.0, 6.0, -4.0])
    path = interpolate(a, b, 5, method="lerp")
    np.testing.assert_allclose(path[2], (a + b) / 2)
    np.testing.assert_allclose(path[1] - path[0], (b - a) / 4)


def _blob_decoder(dim: int):
    """Images (n, 1, 16, 16) of a vertical bar whose x position follows latent ``dim`` only."""

    def decode(z):
        xs = torch.arange(16.0).view(1, 1, 16)
        centre = 8 + 2.5 * z[:, dim].view(-1, 1, 1)
        return torch.exp(-((xs - centre) ** 2) / 3).expand(len(z), 16, 16)[:, None]

    return decode


def test_grid_changes_only_the_decoded_dimension_and_marks_the_rest_inactive(tmp_path, make_run):
    decode = _blob_decoder(2)
    z0 = np.array([0.3, -0.5, 0.1, 0.9], dtype=np.float32)
    out = grid(decode, z0, dims=[0, 1, 2, 3], values=np.linspace(-2, 2, 5))
    assert out.shape == (4, 5, 1, 16, 16)
    change = np.abs(np.diff(out, axis=1)).reshape(4, -1).max(axis=1)
    assert change[2] > 0.1
    assert np.all(change[[0, 1, 3]] == 0)

    rng = np.random.RandomState(0)
    z = rng.randn(64, 4).astype(np.float32)
    run = make_run(tmp_path / "run", z, manifest={"kind": "autoencoder", "latent_stats": {"var": z.var(0).tolist()}})
    index = traverse(run, model=decode, samples=2, steps=5, gif=False, quiet=True)
    inactive = {row["dim"]: row["inactive"] for row in index["dimensions"]}
    assert inactive == {0: True, 1: True, 2: False, 3: True}
    grids = [e for e in index["files"] if e["kind"] == "grid"]
    assert len(grids) == 2 and all(e["inactive"] == [inactive[d] for d in e["dims"]] for e in grids)


def test_class_mean_direction_points_from_one_mean_to_the_other():
    rng = np.random.RandomState(1)
    mean_a, mean_b = np.array([1.0, 0.0, -1.0, 2.0]), np.array([-2.0, 3.0, 0.5, 2.0])
    z = np.vstack([mean_a + 0.1 * rng.randn(200, 4), mean_b + 0.1 * rng.randn(300, 4)])
    labels = np.array(["a"] * 200 + ["b"] * 300)
    u = direction(z, labels, method="class_mean")
    np.testing.assert_allclose(np.linalg.norm(u), 1.0)
    want = (mean_b - mean_a) / np.linalg.norm(mean_b - mean_a)
    assert u @ want > 0.999
    assert direction(z, labels, method="class_mean", positive="a") @ want < -0.999


def test_gif_has_the_requested_number_of_frames():
    steps = 7
    constant = np.full((3, steps, 1, 8, 8), 0.5, dtype=np.float32)  # identical pictures in every frame
    moving = grid(_blob_decoder(0), np.zeros(2), dims=[0, 1], values=np.linspace(-2, 2, steps))
    for array in (constant, moving):
        gif = Image.open(io.BytesIO(to_gif(array, tile_labels=["a", "b", "c"][: len(array)])))
        assert gif.format == "GIF" and gif.n_frames == steps


def test_png_grid_has_the_expected_pixel_layout(tmp_path):
    rows, steps = 2, 3
    levels = np.array([[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]])
    array = np.broadcast_to(levels[:, :, None, None, None], (rows, steps, 1, 16, 16)).astype(np.float32)
    path = tmp_path / "grid.png"
    data = to_png(array, path, row_labels=["", ""])
    assert path.read_bytes() == data
    image = np.asarray(Image.open(path).convert("L"))
    side, label_w = TILE_MIN, 8  # 16-px outputs are drawn at the minimum tile size; empty labels take 8 px
    assert image.shape == (rows * (side + PAD) + PAD, label_w + steps * (side + PAD) + PAD)
    for r in range(rows):
        for t in range(steps):
            y, x = r * (side + PAD), label_w + t * (side + PAD)
            tile = image[y : y + side, x : x + side]
            assert np.all(tile == round(levels[r, t] * 255)), (r, t)
            assert np.all(image[y : y + side, x + side : x + side + PAD] == 255)  # white gap after each tile

    labelled = Image.open(
        io.BytesIO(
            to_png(
                array,
                row_labels=["z0  KL 1.2", "z1  KL 0.0"],
                marks=[False, True],
                col_labels=["-1", "0", "+1"],
                title="sample 3",
            )
        )
    )
    assert labelled.width > image.shape[1] and labelled.height > image.shape[0]


def test_cli_traverse_on_a_demo_vae_run_writes_grids_strips_and_an_index(tmp_path, vae_run, cli, make_run):
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    result = cli("traverse", run, "--samples", "2", "--steps", "5", "--quiet")
    assert result.code == 0, result.err
    folder = run / "traversals"
    index = json.loads((folder / "traversals.json").read_text())
    files = index["files"]
    assert files and all((folder / e["file"]).is_file() for e in files)
    kinds = {(e["kind"], e["format"]) for e in files}
    assert {("grid", "png"), ("grid", "gif"), ("interpolation", "png"), ("direction", "png")} <= kinds
    assert {e["method"] for e in files if e["kind"] == "interpolation"} == {"lerp", "slerp"}
    assert sum(e["kind"] == "grid" and e["format"] == "png" for e in files) == 2
    first = next(e for e in files if e["kind"] == "grid")
    assert len(first["values"]) == len(first["dims"]) == 8 and len(first["values"][0]) == 5
    assert Image.open(folder / first["file"]).format == "PNG"
    with np.load(folder / index["paths"]["file"]) as paths:
        assert paths["lerp_z"].shape == (8, 5, 8) and paths["slerp_step_sizes"].shape == (8, 4)
        assert paths["lerp_outputs"].shape == (8, 5, 1, 32, 32) and int(paths["output_size"]) == 32 * 32
    manifest = json.loads((run / "manifest.json").read_text())
    assert "traverse" in manifest["timings"] and manifest["parameters"]["traverse"]["steps"] == 5

    imported = make_run(tmp_path / "imported", np.zeros((5, 2), dtype=np.float32))
    result = cli("traverse", imported)
    assert result.code == 2 and "no model" in result.err and "Traceback" not in result.err
