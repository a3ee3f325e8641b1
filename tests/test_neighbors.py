"""The shared kNN graph: exact against brute force, approximate recall, adapters, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

from latentviz.errors import InputError
from latentviz.neighbors import IVFIndex, Neighbors, knn, recall, search_index


def brute_force(x, k, metric="euclidean", queries=None):
    """Naive reference: every distance, self excluded by index, ties by index."""
    x = np.asarray(x, np.float64)
    q = x if queries is None else np.asarray(queries, np.float64)
    if metric == "cosine":
        unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
        d = 1.0 - unit(q) @ unit(x).T
    else:
        d = np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    if queries is None:
        np.fill_diagonal(d, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), d.shape), d), axis=1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def clustered(n, d=16, centers=10, seed=0):
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centers, d)) * 6
    labels = rng.integers(0, centers, n)
    return middle[labels] + rng.normal(size=(n, d)), labels


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_exact_knn_equals_brute_force(metric):
    x, _ = clustered(700, d=12)
    x[10] = x[20]  # an exact duplicate pair
    graph = knn(x, 15, metric=metric, method="exact")
    ref_idx, ref_dist = brute_force(x, 15, metric)
    np.testing.assert_array_equal(graph.indices, ref_idx)
    np.testing.assert_allclose(graph.distances, ref_dist, rtol=1e-5, atol=1e-6)
    assert graph.metric == metric and graph.method == "exact"


def test_self_is_excluded_by_index_and_duplicates_are_neighbours():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    graph = knn(x, 2)
    for i in range(3):
        assert i not in graph.indices[i]
        assert graph.distances[i].tolist() == [0.0, 0.0]
    assert (np.diff(graph.distances, axis=1) >= 0).all()


def test_more_duplicates_than_candidates_never_list_a_point_as_its_own_neighbour():
    """40 copies of one point and k = 10: the candidate pass sees only some of them (self not always among
    them); every copy still gets 10 other copies at distance 0, never itself."""
    rng = np.random.default_rng(4)
    x = np.vstack([np.ones((40, 6)), rng.normal(size=(100, 6)) + 5])
    graph = knn(x, 10, method="exact")
    for i in range(40):
        assert i not in graph.indices[i] and set(graph.indices[i]) <= set(range(40))
        assert (graph.distances[i] == 0).all()


@pytest.mark.slow  # pynndescent compiles for about 30 CPU-seconds in every new process
def test_approximate_recall_is_high_on_clustered_data():
    x, _ = clustered(3000, d=32)
    exact = knn(x, 15, method="exact")
    approximate = knn(x, 15, method="pynndescent", random_state=0)
    assert approximate.method == "pynndescent"
    assert not (approximate.indices == np.arange(len(x))[:, None]).any()
    assert (np.diff(approximate.distances, axis=1) >= 0).all()
    value = recall(approximate, exact)
    assert value > 0.95, f"recall {value:.3f}"


def test_a_descent_answer_loses_self_wherever_it_stands_and_ties_go_by_index():
    """pynndescent's rows (nearest first, self usually first): self is dropped by index wherever it is (a
    duplicate can stand before it), the last column when self is missing, and rows with ties or out of
    order end in (distance, index) order."""
    from latentviz.neighbors import _drop_self

    indices = np.array([[0, 4, 2, 3], [5, 1, 0, 2], [3, 4, 1, 5], [2, 3, 0, 1]])
    distances = np.array([[0, 1, 2, 3], [0, 0, 1, 1], [1, 2, 2, 3], [4, 0, 1, 2]], np.float32)
    graph = _drop_self(indices, distances, 3, metric="euclidean")
    np.testing.assert_array_equal(graph.indices, [[4, 2, 3], [5, 0, 2], [3, 1, 4], [0, 1, 2]])
    np.testing.assert_array_equal(graph.distances, [[1, 2, 3], [0, 1, 1], [1, 2, 2], [1, 2, 4]])
    assert graph.indices.dtype == np.int64 and graph.distances.dtype == np.float32


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_ivf_probing_every_list_is_exact(metric):
    x, _ = clustered(900, d=12)
    index = IVFIndex(x, metric=metric, list_rows=100, nprobe=64)  # 9 lists, all of them probed
    assert index.method == "faiss-ivf9-nprobe9"
    for found, (ref_idx, ref_dist) in [
        (index.graph(10), brute_force(x, 10, metric)),
        (index.query(x[:50] + 0.5, 10), brute_force(x, 10, metric, queries=x[:50] + 0.5)),
    ]:
        assert recall(found, Neighbors(ref_idx, ref_dist.astype(np.float32))) > 0.999  # float32 may swap a near-tie
        np.testing.assert_allclose(found.distances, ref_dist, rtol=1e-4, atol=1e-4)
        assert (np.diff(found.distances, axis=1) >= 0).all()


def test_ivf_scans_exactly_the_probed_lists_like_faiss_ivf_flat():
    import faiss

    x, _ = clustered(900, d=12)
    index = IVFIndex(x, list_rows=60, nprobe=3)  # 15 lists, 3 probed
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(12), 12, len(index.centroids))
    ivf.quantizer.add(index.centroids)
    ivf.is_trained, ivf.nprobe = True, 3
    ivf.add(index.reference)
    new, _ = clustered(200, d=12, seed=1)
    expected = ivf.search(new.astype(np.float32), 8)[1]
    np.testing.assert_array_equal(index.query(new, 8).indices, expected)
    graph = index.graph(8)
    with_self = ivf.search(index.reference, 9)[1]
    others = np.array([row[row != i][:8] for i, row in enumerate(with_self)])
    np.testing.assert_array_equal(graph.indices, others)
    assert 0.5 < recall(graph, knn(x, 8, method="exact")) < 1  # approximate, yet mostly right


def test_auto_switches_to_approximate_above_the_threshold(monkeypatch):
    import latentviz.neighbors as nb

    monkeypatch.setattr(nb, "EXACT_MAX_N", 100)
    assert nb.resolve_method("auto", 100, device="cpu") == "exact"
    assert nb.resolve_method("auto", 101, device="cpu") == "pynndescent"  # a whole graph
    assert nb.resolve_method("auto", 50, device="cpu", n_queries=200) == "exact"
    assert nb.resolve_method("auto", 50, device="cpu", n_queries=201) == "ivf"  # new points against a reference
    assert isinstance(nb.search_index(np.zeros((50, 2)) + np.arange(50)[:, None], n_queries=201), nb.IVFIndex)


def test_search_index_queries_new_points_exactly():
    x, _ = clustered(500)
    new, _ = clustered(40, seed=1)
    found = search_index(x, method="exact").query(new, 7)
    ref_idx, ref_dist = brute_force(x, 7, queries=new)
    np.testing.assert_array_equal(found.indices, ref_idx)
    np.testing.assert_allclose(found.distances, ref_dist, rtol=1e-5)


def test_adapters_keep_the_graph():
    from sklearn.neighbors import NearestNeighbors

    x, _ = clustered(300)
    graph = knn(x, 10)
    indices, distances = graph.to_umap()
    assert (indices[:, 0] == np.arange(300)).all() and (distances[:, 0] == 0).all()
    np.testing.assert_array_equal(indices[:, 1:], graph.indices)
    reference = NearestNeighbors(n_neighbors=10).fit(x).kneighbors_graph(mode="distance")
    np.testing.assert_allclose(graph.to_sparse().toarray(), reference.toarray(), rtol=1e-5)
    built = graph.to_opentsne().build()
    np.testing.assert_array_equal(built[0], graph.indices)
    with_self = graph.to_sparse(include_self=True)
    assert with_self.nnz == 300 * 11


def test_a_custom_index_object_is_used_as_given():
    class Fixed:
        def build(self):
            return np.array([[1], [0]]), np.array([[1.0], [1.0]])

    graph = knn(None, 1, method=Fixed())
    assert graph.indices.tolist() == [[1], [0]] and graph.method == "Fixed"


def test_save_and_load_round_trip_and_refuse_stale_graphs(tmp_path):
    x, _ = clustered(200)
    graph = knn(x, 12)
    path = tmp_path / "neighbors.npz"
    graph.save(path)
    back = Neighbors.load(path, k=5, n=200)
    np.testing.assert_array_equal(back.indices, graph.indices[:, :5])
    assert back.metric == "euclidean" and back.method == "exact" and back.k == 5
    with pytest.raises(InputError, match="graph holds 12"):
        Neighbors.load(path, k=30)
    with pytest.raises(InputError, match="200 points but the run has 150"):
        Neighbors.load(path, n=150)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((np.zeros((5, 2)), 5), {}, "must be smaller than n_samples"),
        ((np.zeros((5, 2)), 0), {}, "positive integer"),
        ((np.array([[0.0], [np.nan], [1.0]]), 1), {}, "1 rows with NaN or inf"),
        ((np.zeros((5, 2)), 2), {"metric": "manhattan"}, "unknown metric 'manhattan'"),
        ((np.zeros((5, 2)), 2), {"method": "annoy"}, "unknown method 'annoy'"),
        ((np.zeros(5), 2), {}, "is 1-D"),
    ],
)
def test_bad_input_raises_with_a_message(args, kwargs, message):
    with pytest.raises(InputError, match=message):
        knn(*args, **kwargs)


def test_numba_cache_goes_to_the_user_cache(monkeypatch, tmp_path):
    from latentviz._numba_cache import numba_cache_dir

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert numba_cache_dir() == tmp_path / "latentviz" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert numba_cache_dir() == tmp_path / "mine"
