"""Placing the points outside the fitted sample: the same result, faster."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def test_umap_transform_start_is_the_weighted_mean_of_the_neighbours_positions():
    from latentviz.projection._umap import _transform_start

    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(50, 2)).astype(np.float32)
    rows = np.repeat(np.arange(200), 5)
    cols = np.concatenate([rng.choice(50, 5, replace=False) for _ in range(200)])
    weights = rng.uniform(0.05, 0.95, rows.size).astype(np.float32)
    weights[[7, 9, 13]] = 1.0  # row 1: two neighbours of weight 1 (after an ordinary one); row 2: one
    weights[rows == 5] = 0.0  # row 5 has no neighbours left
    graph = sp.csr_matrix((weights, (rows, cols)), shape=(200, 50))
    graph.eliminate_zeros()

    start = _transform_start(graph, embedding)

    assert start.shape == (200, 2) and start.dtype == np.float32
    for i in range(200):
        row = graph[i]
        if i == 5:
            assert np.isnan(start[i]).all()
        elif (row.data == 1).any():  # placed on its first neighbour of weight 1, as umap-learn does
            assert np.array_equal(start[i], embedding[row.indices[np.flatnonzero(row.data == 1)[0]]])
        else:
            expected = (row.data[:, None] * embedding[row.indices]).sum(axis=0) / row.data.sum()
            np.testing.assert_allclose(start[i], expected, rtol=1e-5, atol=1e-6)


def test_umap_places_blocks_on_several_threads_with_the_result_of_one(tmp_path, monkeypatch):
    import os
    import threading

    from conftest import write_run

    from latentviz.projection import UMAP, project
    from latentviz.stages import project as _project

    rng = np.random.default_rng(2)
    labels = np.arange(600) % 4
    z = (rng.normal(size=(4, 5))[labels] * 6 + rng.normal(size=(600, 5))).astype(np.float32)
    for chunk in ("_PLACE_CHUNK", "_THREADED_PLACE_CHUNK"):  # the 450 placed points in 5 blocks, either way
        monkeypatch.setattr(_project, chunk, 100)
    threads: set[str] = set()
    transform = UMAP.transform

    def recording(self, *args, **kwargs):
        threads.add(threading.current_thread().name)
        return transform(self, *args, **kwargs)

    monkeypatch.setattr(UMAP, "transform", recording)
    spread = project(write_run(tmp_path / "a", z, labels=labels), methods="umap", sample=150, quiet=True)
    assert len(threads) == min(5, os.cpu_count() or 1), threads  # a thread per core, at most one per block

    monkeypatch.setattr(UMAP, "transform_in_threads", False)
    alone = project(write_run(tmp_path / "b", z, labels=labels), methods="umap", sample=150, quiet=True)
    assert spread.methods["umap"]["placed_by_transform"] == 450
    np.testing.assert_array_equal(spread.coordinates("umap"), alone.coordinates("umap"))
