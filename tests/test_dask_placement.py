"""Placement on a real Dask LocalCluster equals the single-process result for the same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import invoke, write_run

from latentviz.projection import PCA, TSNE, UMAP, project
from latentviz.stages import project as _project


def _refuse_here(*args, **kwargs):
    raise AssertionError("placement ran in the driver process, not on a Dask worker")


def test_dask_local_2_places_on_the_workers_and_equals_single_process(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 8
    labels = np.arange(420) % 3
    z = (centres[labels] + rng.normal(size=(420, 6))).astype(np.float32)
    monkeypatch.setattr(_project, "_PLACE_CHUNK", 90)  # 3 shards of the 270 placed points, 5 of PCA's 420
    alone = project(write_run(tmp_path / "alone", z, labels=labels), sample=150, seed=4, quiet=True)

    # The driver's projectors cannot place: every transform of the Dask run must happen on a worker.
    for cls in (PCA, TSNE, UMAP):
        monkeypatch.setattr(cls, "transform", _refuse_here)
    spread = project(write_run(tmp_path / "dask", z, labels=labels), sample=150, seed=4, quiet=True, dask="local:2")

    for method in ("pca", "tsne", "umap"):
        assert spread.methods[method]["placed_by_transform"] == alone.methods[method]["placed_by_transform"]
        np.testing.assert_allclose(spread.coordinates(method), alone.coordinates(method), rtol=1e-5, atol=1e-4)
    assert alone.methods["tsne"]["placed_by_transform"] == 270
    stored = pd.read_parquet(tmp_path / "dask" / "projections.parquet")
    np.testing.assert_allclose(stored[["umap_0", "umap_1"]].to_numpy(), alone.coordinates("umap"), atol=1e-4)


@pytest.mark.parametrize("spec", ["local:0", "local:two"])
def test_a_bad_local_spec_is_one_line(tmp_path, spec):
    path = write_run(tmp_path / "run", np.random.default_rng(0).normal(size=(40, 3)))
    result = invoke("project", path, "--methods", "pca", "--dask", spec)
    assert result.code == 2
    assert result.err.startswith(f"latentviz: error: --dask {spec}: give local:N") and result.err.count("\n") == 1
