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


def test_dask_local_2_places_on_the_workers_and_equals_single_process(tmp_path, monkeypatch, capfd):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 8
    labels = np.arange(420) % 3
    z = (centres[labels] + rng.normal(size=(420, 6))).astype(np.float32)
    monkeypatch.setattr(_project, "_PLACE_CHUNK", 90)  # 3 shards of the 270 placed points, 5 of PCA's 420
    monkeypatch.setattr(_project, "_THREADED_PLACE_CHUNK", 60)  # UMAP's: 5 shards (the blocks placed here)
    alone = project(write_run(tmp_path / "alone", z, labels=labels), sample=150, seed=4, quiet=True)

    # The driver's projectors cannot place: every transform of the Dask run must happen on a worker.
    for cls in (PCA, TSNE, UMAP):
        monkeypatch.setattr(cls, "transform", _refuse_here)
    capfd.readouterr()
    spread = project(write_run(tmp_path / "dask", z, labels=labels), sample=150, seed=4, quiet=False, dask="local:2")
    err = capfd.readouterr().err
    for method in ("tsne", "umap"):  # the driver counts the points its workers place
        assert f"{method}: placing on Dask" in err and "270/270" in err.split(f"{method}: placing on Dask")[-1]

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
    from latentviz import _ivf
    from latentviz.neighbors import knn
    from latentviz.projection import _shards
    from latentviz.run import Run

    rng = np.random.default_rng(1)
    z = rng.normal(size=(700, 5)).astype(np.float32)
    z[[3, 500]] = np.nan  # excluded, as without Dask
    path = write_run(tmp_path / "run", z)
    monkeypatch.setattr(_project, "_SHARDED_GRAPH_MIN_N", 0)
    monkeypatch.setattr(_ivf, "LIST_ROWS", 87)  # 698 // 87 = 8 lists
    monkeypatch.setattr(_shards, "PART_ROWS", 250)  # lists grouped into several parts
    monkeypatch.setattr(_shards, "_ROUTE_ROWS", 100)  # 7 routing tasks
    monkeypatch.setattr(_ivf, "NPROBE", 8)  # every list: IVF is then exact
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


def test_the_routed_graph_equals_faiss_ivf_flat_search_with_the_same_lists(tmp_path):
    """With fewer lists probed than exist, the graph is approximate: it must be the answer faiss's own
    IndexIVFFlat gives with the same centroids and nprobe (self excluded), list groups notwithstanding."""
    import faiss
    from distributed import Client, LocalCluster

    from latentviz.neighbors import knn
    from latentviz.projection import _shards

    rng = np.random.default_rng(2)
    centres = rng.normal(size=(6, 8)) * 3
    z = (centres[rng.integers(0, 6, 900)] + rng.normal(size=(900, 8))).astype(np.float32)
    path = write_run(tmp_path / "run", z)
    view = _shards.LatentShards.of(path / "latents.parquet", [f"z_{j}" for j in range(8)])
    kmeans = faiss.Kmeans(8, 12, niter=10, seed=3, verbose=False)
    kmeans.train(z)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(8), 8, 12)
    ivf.quantizer.add(kmeans.centroids)
    ivf.is_trained = True
    ivf.add(z)
    ivf.nprobe = 3
    dist, found = ivf.search(z, 8)

    sizes = np.bincount(ivf.quantizer.search(z, 1)[1][:, 0], minlength=12)
    assert len(np.unique(_shards._partition(kmeans.centroids, sizes, 200))) >= 4  # queries span list groups

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_shards, "PART_ROWS", 200)
            patch.setattr(_shards, "_ROUTE_ROWS", 256)
            graph = _shards.routed_graph(client, view, 7, centroids=kmeans.centroids, nprobe=3, metric="euclidean")
    expected = np.full((900, 7), -1)
    expected_d = np.full((900, 7), np.inf)
    for row in range(900):  # drop the point itself; a list shorter than k pads with -1
        keep = (found[row] != row) & (found[row] >= 0)
        got = found[row][keep][:7]
        expected[row, : len(got)] = got
        expected_d[row, : len(got)] = np.sqrt(dist[row][keep][:7])
    np.testing.assert_array_equal(graph.indices, expected)
    np.testing.assert_allclose(graph.distances, expected_d, rtol=1e-4, atol=1e-4)
    assert graph.method == "faiss-ivf12-nprobe3"
    exact = knn(z, 7, method="exact").indices
    recall = np.mean([len(np.intersect1d(a, b)) / 7 for a, b in zip(graph.indices, exact, strict=True)])
    assert 0.5 < recall < 1  # approximate, yet mostly right


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
