"""Traversals beyond images of a flat VAE: manipulate, heatmaps, spatial channels, generators, directions, modes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import VAE_FACTORY, invoke, write_run
from PIL import Image
from scipy.special import ndtr

from latentviz.errors import InputError
from latentviz.run import Run
from latentviz.stages import traverse as _stage
from latentviz.traversal import direction, grid, manipulate, traverse

STEPS = 5


def _index(run_path) -> dict:
    return json.loads((Path(run_path) / "traversals" / "traversals.json").read_text())


def _user_directions(index: dict) -> dict:
    return {
        e["direction"]["name"]: e
        for e in index["files"]
        if e["kind"] == "direction" and e["direction"]["method"] == "file"
    }


class _Recorder:
    """A decoder (outputs = 2 z, so not images) that keeps every code it was asked to decode."""

    def __init__(self):
        self.codes = []

    def __call__(self, z):
        self.codes.append(z.numpy().copy())
        return 2 * z

    def decoded(self) -> np.ndarray:
        return np.concatenate(self.codes)


def _assert_decoded(recorder: _Recorder, expected: np.ndarray) -> None:
    """Every expected code (n, d) was decoded (up to float32 rounding)."""
    seen = recorder.decoded()
    for code in expected.reshape(-1, seen.shape[1]):
        assert np.abs(seen - code).max(axis=1).min() < 1e-4, code


@pytest.fixture(scope="module")
def skewed_run(tmp_path_factory):
    """A run of 400 codes (exponential, normal, uniform latents) with no model: tests pass ``model=``."""
    rng = np.random.RandomState(7)
    z = np.stack([rng.exponential(1.0, 400), rng.randn(400), rng.uniform(-1, 1, 400)], axis=1).astype(np.float32)
    return write_run(tmp_path_factory.mktemp("skewed") / "run", z, manifest={"kind": "autoencoder"})


# -- manipulate ---------------------------------------------------------------------------------------------------
def test_manipulate_moves_one_dimension_by_delta_and_leaves_the_input_alone():
    z = np.random.RandomState(0).randn(6)
    before = z.copy()
    out = manipulate(z, dim=3, delta=2.5)
    assert np.array_equal(z, before)
    assert out[3] == z[3] + 2.5
    assert np.array_equal(np.delete(out, 3), np.delete(z, 3))
    out[0] = 99.0  # a copy, not a view of the input
    assert z[0] == before[0]

    batch = np.random.RandomState(1).randn(4, 6)
    kept = batch.copy()
    moved = manipulate(batch, dim=0, delta=-1.0)
    assert np.array_equal(batch, kept)
    np.testing.assert_array_equal(moved[:, 0], batch[:, 0] - 1.0)
    np.testing.assert_array_equal(moved[:, 1:], batch[:, 1:])


# -- outputs that are not images ----------------------------------------------------------------------------------
TABULAR_AE = """\
import torch


class TabularAE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc = torch.nn.Linear(6, 3)
        self.dec = torch.nn.Linear(3, 6)

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)


def make():
    return TabularAE()
"""


def test_tabular_outputs_are_drawn_as_heatmaps(tmp_path, cli):
    (tmp_path / "tabular.py").write_text(TABULAR_AE)
    np.save(tmp_path / "x.npy", np.random.RandomState(0).randn(60, 6).astype(np.float32))
    run = tmp_path / "run"
    result = cli("encode", f"{tmp_path / 'tabular.py'}:make", "--data", tmp_path / "x.npy", "--out", run, "--quiet")
    assert result.code == 0, result.err
    result = cli("traverse", run, "--samples", "2", "--steps", str(STEPS), "--quiet")  # --gif is the default
    assert result.code == 0, result.err

    index = _index(run)
    assert index["image_outputs"] is False and index["output_shape"] == [6]
    files = index["files"]
    assert sum(e["kind"] == "grid" for e in files) == 2
    assert {e["layout"] for e in files} == {"heatmap"} and {e["format"] for e in files} == {"png"}
    assert not list((run / "traversals").glob("*.gif"))  # animations are for images only
    grid_entry = next(e for e in files if e["kind"] == "grid")
    heatmap = np.asarray(Image.open(run / "traversals" / grid_entry["file"]).convert("RGB")).astype(int)
    # a colour map (blue/red around white), not grey image tiles; one panel column per output feature (16 px)
    assert (np.abs(heatmap[..., 0] - heatmap[..., 2]) > 60).sum() > 100
    assert heatmap.shape[1] >= 6 * 16
    for entry in files:
        assert Image.open(run / "traversals" / entry["file"]).format == "PNG"


# -- spatial latents ----------------------------------------------------------------------------------------------
SPATIAL_AE = """\
import torch


class SpatialAE(torch.nn.Module):
    \"\"\"(1, 8, 8) -> (2, 4, 4) -> (1, 8, 8): channel 0 is the top-left pixel of each 2x2 block, channel 1 the
    bottom-right one; the other pixels decode to 0.\"\"\"

    def __init__(self):
        super().__init__()
        self.down = torch.nn.Conv2d(1, 2, 2, stride=2, bias=False)
        self.up = torch.nn.ConvTranspose2d(2, 1, 2, stride=2, bias=False)
        kernels = torch.zeros(2, 1, 2, 2)
        kernels[0, 0, 0, 0] = kernels[1, 0, 1, 1] = 1.0
        with torch.no_grad():
            self.down.weight.copy_(kernels)
            self.up.weight.copy_(kernels)

    def encode(self, x):
        return self.down(x)

    def decode(self, z):
        return self.up(z)


def make():
    return SpatialAE()
"""
CHANNEL_PIXELS = {0: (slice(0, None, 2), slice(0, None, 2)), 1: (slice(1, None, 2), slice(1, None, 2))}


def test_spatial_latents_are_traversed_channel_by_channel(tmp_path, cli, monkeypatch):
    """Each channel row shifts the whole channel: only the pixels that channel drives move, by the shift."""
    (tmp_path / "spatial.py").write_text(SPATIAL_AE)
    np.save(tmp_path / "x.npy", np.random.RandomState(0).rand(40, 1, 8, 8).astype(np.float32))
    run = tmp_path / "run"
    result = cli("encode", f"{tmp_path / 'spatial.py'}:make", "--data", tmp_path / "x.npy", "--out", run, "--quiet")
    assert result.code == 0, result.err
    assert Run(run).manifest["latent_shape"] == [2, 4, 4]

    drawn = {}
    original = _stage.to_png

    def capture(outputs, path, **kwargs):
        drawn[Path(path).stem] = np.array(outputs)
        return original(outputs, path, **kwargs)

    monkeypatch.setattr(_stage, "to_png", capture)
    result = cli("traverse", run, "--samples", "2", "--steps", str(STEPS), "--no-gif", "--quiet")
    assert result.code == 0, result.err

    index = _index(run)
    assert index["latent_shape"] == [2, 4, 4]
    assert sorted(row["channel"] for row in index["dimensions"]) == [0, 1]
    grids = [e for e in index["files"] if e["kind"] == "channel_grid"]
    assert len(grids) == 2 and not any(e["kind"] == "grid" for e in index["files"])
    for entry in grids:
        assert sorted(entry["channels"]) == [0, 1]
        outputs = drawn[Path(entry["file"]).stem]
        assert outputs.shape == (2, STEPS, 1, 8, 8)
        for row, channel in enumerate(entry["channels"]):
            shifts = np.asarray(entry["values"][row])
            assert shifts[0] < -0.1 < 0.1 < shifts[-1]
            change = outputs[row] - outputs[row, STEPS // 2]  # the middle step is the seed's code (shift 0)
            mine = change[:, 0][(slice(None), *CHANNEL_PIXELS[channel])]
            expected = np.broadcast_to((shifts - shifts[STEPS // 2])[:, None, None], mine.shape)
            np.testing.assert_allclose(mine, expected, atol=2e-3)  # the drawn tiles are float16
            rest = change.copy()
            rest[:, 0][(slice(None), *CHANNEL_PIXELS[channel])] = 0
            assert np.abs(rest).max() < 1e-5

    model = Run(run).load_model(device="cpu")
    z0 = Run(run).z[0]
    out = grid(model, z0, dims=[0, 16], values=[-1.0, 0.0, 1.0])  # flat 0: channel 0 at (0, 0); 16: channel 1
    assert out.shape == (2, 3, 1, 8, 8)
    np.testing.assert_allclose(out[0, :, 0, 0, 0], [-1.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[1, :, 0, 1, 1], [-1.0, 0.0, 1.0], atol=1e-6)
    for row, pixel in ((0, (0, 0)), (1, (1, 1))):
        moved = np.abs(out[row] - out[row, 0]).reshape(3, 8, 8)
        moved[:, pixel[0], pixel[1]] = 0
        assert moved.max() < 1e-6


# -- generator-only runs ------------------------------------------------------------------------------------------
def test_generator_runs_get_grids_around_prior_samples(tmp_path, vae_checkpoint, cli):
    run = tmp_path / "g"
    result = cli(
        "sample",
        vae_checkpoint,
        "--model",
        VAE_FACTORY,
        "--out",
        run,
        "--latent-dim",
        "8",
        "--n",
        "20",
        "--seed",
        "3",
        "--quiet",
    )
    assert result.code == 0, result.err
    result = cli("traverse", run, "--samples", "2", "--steps", str(STEPS), "--dims", "0,1", "--no-gif", "--quiet")
    assert result.code == 0, result.err

    index, z, ids = _index(run), Run(run).z.astype(np.float64), Run(run).ids
    assert index["kind"] == "generator" and index["image_outputs"] is True
    assert len(index["seed_ids"]) == 2 and set(index["seed_ids"]) <= set(ids)
    grids = [e for e in index["files"] if e["kind"] == "grid"]
    assert sorted(e["seed_ids"][0] for e in grids) == sorted(index["seed_ids"])
    for entry in grids:
        assert Image.open(run / "traversals" / entry["file"]).format == "PNG"
        for j, values in zip(entry["dims"], entry["values"], strict=True):  # swept over the prior draws' spread
            expected = z[:, j].mean() + np.linspace(-3, 3, STEPS) * z[:, j].std()
            np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)


# -- one CLI traverse of the demo VAE run: --ids, --no-gif, --mode prior, --direction (k, d) ------------------------
IDS = ["5", "17", "42"]


@pytest.fixture(scope="module")
def prior_run(tmp_path_factory, vae_run):
    run = tmp_path_factory.mktemp("prior") / "run"
    shutil.copytree(vae_run, run)
    vectors = np.zeros((2, 8))
    vectors[0, [0, 1]] = [3.0, 4.0]
    vectors[1, 7] = -2.0
    np.save(run.parent / "two.npy", vectors)
    result = invoke(
        "traverse",
        run,
        "--ids",
        ",".join(IDS),
        "--dims",
        "0,3",
        "--mode",
        "prior",
        "--range",
        "2",
        "--steps",
        str(STEPS),
        "--no-gif",
        "--direction",
        run.parent / "two.npy",
        "--quiet",
    )
    assert result.code == 0, result.err
    return run, vectors


def test_ids_are_exactly_the_seeds_of_every_grid(prior_run):
    run, _ = prior_run
    index = _index(run)
    assert index["seed_ids"] == IDS
    grids = [e for e in index["files"] if e["kind"] == "grid"]
    assert [e["seed_ids"] for e in grids] == [[i] for i in IDS]
    assert all(sorted(e["dims"]) == [0, 3] for e in grids)
    assert all(e["seed_ids"] == IDS for e in index["files"] if e["kind"] == "direction")
    given = [e for e in index["files"] if e["kind"] == "interpolation" and e.get("group") == "ids"]
    assert {e["method"] for e in given} == {"lerp", "slerp"}
    assert all(e["seed_ids"] == [["5", "17"], ["17", "42"]] for e in given)


def test_no_gif_writes_no_animation(prior_run):
    run, _ = prior_run
    folder = run / "traversals"
    assert list(folder.glob("*.png")) and not list(folder.glob("*.gif"))
    assert all(e["format"] == "png" for e in _index(run)["files"])


def test_prior_mode_sweeps_minus_range_to_range(prior_run):
    run, _ = prior_run
    index = _index(run)
    prior = np.linspace(-2, 2, STEPS)
    for row in index["dimensions"]:
        np.testing.assert_allclose(row["values"], prior)
    for entry in index["files"]:
        if entry["kind"] == "grid":
            np.testing.assert_allclose(entry["values"], [prior, prior])
            np.testing.assert_allclose([float(c) for c in entry["columns"]], prior)
        if entry["kind"] == "direction":
            np.testing.assert_allclose(entry["values"], prior)  # the projection on the direction


def test_direction_file_with_k_rows_gives_one_sweep_per_row(prior_run):
    run, vectors = prior_run
    found = _user_directions(_index(run))
    assert sorted(found) == ["two_0", "two_1"]
    for name, vector in (("two_0", vectors[0]), ("two_1", vectors[1])):
        np.testing.assert_allclose(found[name]["direction"]["vector"], vector / np.linalg.norm(vector), atol=1e-6)
        assert (run / "traversals" / found[name]["file"]).is_file()


def test_direction_file_with_one_row_moves_the_codes_along_that_unit_vector(tmp_path, skewed_run):
    run = tmp_path / "run"
    shutil.copytree(skewed_run, run)
    np.save(tmp_path / "u.npy", np.array([1.0, 2.0, 0.0]))
    recorder = _Recorder()
    index = traverse(
        run, model=recorder, samples=2, steps=STEPS, gif=False, quiet=True, direction_file=tmp_path / "u.npy"
    )
    entry = _user_directions(index)["u"]
    u = np.array([1.0, 2.0, 0.0]) / np.sqrt(5)
    np.testing.assert_allclose(entry["direction"]["vector"], u, atol=1e-6)
    z = Run(run).z.astype(np.float64)
    projection = z @ u
    values = np.asarray(entry["values"])
    np.testing.assert_allclose(values, projection.mean() + np.linspace(-3, 3, STEPS) * projection.std(), rtol=1e-5)
    seeds = z[[list(Run(run).ids).index(i) for i in entry["seed_ids"]]]
    # each seed code, moved along u until its projection is each value; the part orthogonal to u stays
    expected = seeds[:, None, :] + (values[None, :] - (seeds @ u)[:, None])[:, :, None] * u
    _assert_decoded(recorder, expected)


@pytest.mark.parametrize("shape", [(6,), (3, 2)])
def test_direction_file_whose_rows_are_not_codes_is_refused(tmp_path, skewed_run, shape):
    """Arrays whose size is a multiple of d but whose last axes are not one code are not cut into codes."""
    run = tmp_path / "run"
    shutil.copytree(skewed_run, run)
    np.save(tmp_path / "bad.npy", np.ones(shape))
    with pytest.raises(InputError, match=r"does not fit latents of dimension 3; give shape \(3,\) or \(k, 3\)"):
        traverse(
            run, model=_Recorder(), samples=1, steps=STEPS, gif=False, quiet=True, direction_file=tmp_path / "bad.npy"
        )


# -- quantile mode ------------------------------------------------------------------------------------------------
def test_quantile_mode_sweeps_the_data_quantiles(tmp_path, skewed_run):
    """``quantile`` visits each dimension's data quantiles at the normal levels Φ(-range) .. Φ(range)."""
    run = tmp_path / "run"
    shutil.copytree(skewed_run, run)
    recorder = _Recorder()
    index = traverse(run, model=recorder, samples=2, steps=STEPS, range_=1.5, mode="quantile", gif=False, quiet=True)
    z = Run(run).z.astype(np.float64)
    levels = ndtr(np.linspace(-1.5, 1.5, STEPS))
    for row in index["dimensions"]:
        j = row["dim"]
        np.testing.assert_allclose(row["values"], np.quantile(z[:, j], levels), rtol=1e-6)
    skewed = next(row for row in index["dimensions"] if row["dim"] == 0)
    std_sweep = z[:, 0].mean() + np.linspace(-1.5, 1.5, STEPS) * z[:, 0].std()
    assert skewed["values"][0] > 0 > std_sweep[0]  # exponential data: the quantiles stay where the data is
    for entry in (e for e in index["files"] if e["kind"] == "grid"):
        seed = z[list(Run(run).ids).index(entry["seed_ids"][0])]
        for j, values in zip(entry["dims"], entry["values"], strict=True):
            codes = np.repeat(seed[None, :], STEPS, axis=0)
            codes[:, j] = values
            _assert_decoded(recorder, codes)


# -- regression direction -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("slope", [2.0, -2.0])
def test_regression_direction_follows_the_latent_that_tracks_the_factor(slope):
    """z_0 = slope * factor + noise, the other latents noise: the direction is (almost) ±e_0, signed by the slope.

    The implementation regresses each latent on the factor (slopes cov(z_j, f) / var(f)), not the
    factor on the latents, so noise latents get slopes near zero — even a latent that shares z_0's
    noise (z_1 below), which the reverse regression (factor on codes) would weight as heavily as z_0.
    """
    rng = np.random.RandomState(3)
    factor = rng.uniform(0, 1, 500)
    z = rng.randn(500, 5)
    z[:, 0] = slope * factor + 0.1 * rng.randn(500)
    for method in ("regression", "auto"):
        u = direction(z, factor, method=method)
        np.testing.assert_allclose(np.linalg.norm(u), 1.0)
        assert np.sign(slope) * u[0] > 0.9, u

    shared = rng.randn(500)
    z[:, 0], z[:, 1] = slope * factor + shared, shared
    u = direction(z, factor, method="regression")
    assert np.sign(slope) * u[0] > 0.9 and abs(u[1]) < 0.3, u
