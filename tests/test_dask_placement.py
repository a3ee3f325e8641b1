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


def test_the_graph_is_built_on_the_workers_from_streamed_shards_and_is_exact_when_every_list_is_probed(
    tmp_path, monkeypatch
):
    from latentviz.neighbors import knn
    from latentviz.projection import _shards
    from latentviz.run import Run

    rng = np.random.default_rng(1)
    z = rng.normal(size=(700, 5)).astype(np.float32)
    z[[3, 500]] = np.nan  # excluded, as without Dask
    path = write_run(tmp_path / "run", z)
    monkeypatch.setattr(_project, "_SHARDED_GRAPH_MIN_N", 0)
    monkeypatch.setattr(_project, "_IVF_TRAIN", 8 * 39)  # 8 lists
    monkeypatch.setattr(_shards, "GRAPH_BLOCK_ROWS", 250)  # 3 index blocks
    monkeypatch.setattr(_shards, "QUERY_BLOCK_ROWS", 100)  # 7 query blocks
    monkeypatch.setattr(_shards, "NPROBE", 8)  # every list: IVF is then exact
    # The driver never reads all latents: the workers read them from latents.parquet, shard by shard.
    monkeypatch.setattr(Run, "z", property(lambda self: pytest.fail("the driver read every latent")))
    result = project(path, methods="pca", k=6, quiet=True, dask="local:2")

    finite = np.flatnonzero(np.isfinite(z).all(axis=1))
    exact = knn(z[finite], 6, method="exact")
    assert result.neighbors.method == "faiss-ivf8-nprobe8"
    np.testing.assert_array_equal(result.neighbors.indices[finite], finite[exact.indices])
    np.testing.assert_allclose(result.neighbors.distances[finite], exact.distances, rtol=1e-4, atol=1e-4)
    assert (result.neighbors.indices[[3, 500]] == -1).all()
    assert np.isnan(result.coordinates("pca")[[3, 500]]).all()


def test_a_latent_shards_view_reads_only_its_rows_across_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from latentviz.projection._shards import LatentShards

    z = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    pq.write_table(pa.table({f"z_{j}": z[:, j] for j in range(3)}), tmp_path / "t.parquet", row_group_size=128)
    view = LatentShards.of(tmp_path / "t.parquet", ["z_0", "z_1", "z_2"])
    assert len(view.row_groups()) == 8 and view.shape == (1000, 3)
    rows = np.array([0, 127, 128, 500, 999])
    np.testing.assert_array_equal(np.asarray(view[rows]), z[rows])
    np.testing.assert_array_equal(np.asarray(view[rows][1:4]), z[rows[1:4]])
    np.testing.assert_array_equal(np.asarray(view[120:260]), z[120:260])
