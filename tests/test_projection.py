"""Projections: PCA against SVD, separation, determinism, degenerate inputs, sample-and-transform, alignment."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import invoke, write_run
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from latentviz.errors import InputError
from latentviz.metrics import trustworthiness
from latentviz.projection import PCA, TSNE, UMAP, align_procrustes, project, stratified_sample


def clusters(n=360, d=10, centers=4, seed=0, spread=12.0):
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centers, d)) * spread
    labels = np.arange(n) % centers
    return (middle[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def knn_accuracy(coords, labels):
    return cross_val_score(KNeighborsClassifier(5), coords, labels, cv=3).mean()


@pytest.fixture(scope="module")
def projected(tmp_path_factory):
    """One run of four clusters, projected with every method (shared by several tests)."""
    z, labels = clusters()
    path = write_run(tmp_path_factory.mktemp("proj") / "a", z, labels=labels)
    result = project(path, seed=3, quiet=True)
    return path, z, labels, result


def test_pca_equals_svd_up_to_sign_and_signs_are_fixed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    pca = PCA(3, device="cpu").fit(x)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    for i in range(3):
        assert abs(abs(pca.components_[i] @ vt[i]) - 1) < 1e-9
        assert pca.components_[i][np.argmax(np.abs(pca.components_[i]))] > 0
    np.testing.assert_allclose(pca.explained_variance_, s[:3] ** 2 / 499, rtol=1e-9)
    np.testing.assert_allclose(pca.explained_variance_ratio_, s[:3] ** 2 / (s**2).sum(), rtol=1e-9)
    np.testing.assert_allclose(np.abs(pca.embedding_), np.abs(centred @ vt[:3].T), atol=1e-8)
    flipped = PCA(3, device="cpu").fit(x[::-1])  # same data, other order: same axes
    np.testing.assert_allclose(flipped.components_, pca.components_, atol=1e-12)
    np.testing.assert_allclose(pca.transform(x[:5]), pca.embedding_[:5], atol=1e-10)


def test_projectors_follow_the_estimator_contract():
    from sklearn.base import clone

    tsne = TSNE(perplexity=5.0, backend="sklearn", random_state=1)
    assert clone(tsne).get_params() == tsne.get_params()
    assert not tsne.supports_transform and TSNE().supports_transform and UMAP().supports_transform
    x, _ = clusters(40)
    tsne.fit(x)
    assert tsne.embedding_.shape == (40, 2) and tsne.perplexity_ == 5.0
    with pytest.raises(InputError, match="sklearn backend cannot place new points"):
        tsne.transform(x)
    with pytest.raises(InputError, match="call fit before transform"):
        PCA().transform(x)


def test_clusters_stay_separated_in_every_embedding(projected):
    path, z, labels, result = projected
    table = pd.read_parquet(path / "projections.parquet")
    assert list(table.columns) == ["id", "pca_0", "pca_1", "tsne_0", "tsne_1", "umap_0", "umap_1"]
    for method in ("pca", "tsne", "umap"):
        accuracy = knn_accuracy(result.coordinates(method), labels)
        assert accuracy >= 0.95, f"{method}: kNN accuracy {accuracy:.3f}"


def test_manifest_records_graph_parameters_time_and_quality(projected):
    path, z, labels, result = projected
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["neighbors"]["k"] == 30 and manifest["neighbors"]["method"] == "exact"
    for method in ("pca", "tsne", "umap"):
        entry = manifest["projections"][method]
        assert entry["seconds"] >= 0 and entry["quality_k"] == 10 and entry["quality_n"] == len(z)
        assert 0.9 <= entry["trustworthiness"] <= 1, (method, entry["trustworthiness"])
        assert 0 <= entry["knn_preservation"] <= 1
    assert manifest["projections"]["tsne"]["perplexity_used"] == 10.0
    assert "perplexity 30 -> 10" in manifest["projections"]["tsne"]["notes"][0]
    assert len(manifest["projections"]["pca"]["explained_variance_ratio"]) == 2
    assert manifest["parameters"]["project"]["seed"] == 3 and "project" in manifest["timings"]
    graph = np.load(path / "neighbors.npz")
    assert graph["indices"].shape == (len(z), 30) and str(graph["metric"]) == "euclidean"


def test_same_seed_gives_identical_projections(projected, tmp_path):
    path, z, labels, _ = projected
    again = write_run(tmp_path / "b", z, labels=labels)
    project(again, seed=3, quiet=True)
    first = pd.read_parquet(path / "projections.parquet")
    second = pd.read_parquet(again / "projections.parquet")
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12])
def test_tiny_runs_never_crash(tmp_path, n):
    z, labels = clusters(n, d=3)
    path = write_run(tmp_path / "tiny", z, labels=labels)
    result = project(path, quiet=True)
    table = pd.read_parquet(path / "projections.parquet")
    assert len(table) == n and np.isfinite(table.drop(columns="id").to_numpy()).all()
    assert result.neighbors.k == min(30, n - 1)


def test_duplicates_constant_dims_and_nonfinite_rows(tmp_path):
    z, labels = clusters(120, d=5)
    z[:40] = z[0]  # 40 identical rows
    z[:, 3] = 7.0  # a constant dimension
    z[5, 1], z[50, 0], z[60, 2] = np.nan, np.inf, -np.inf
    path = write_run(tmp_path / "odd", z, labels=labels)
    result = project(path, quiet=True)
    table = pd.read_parquet(path / "projections.parquet")
    bad = table["id"].isin(["5", "50", "60"])
    assert table[bad].drop(columns="id").isna().all().all()
    assert np.isfinite(table[~bad].drop(columns="id").to_numpy()).all()
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["parameters"]["project"]["excluded_nonfinite"] == 3
    assert (result.neighbors.indices[[5, 50, 60]] == -1).all()
    assert not np.isin([5, 50, 60], result.neighbors.indices).any()


def test_sample_then_transform_places_every_finite_point_and_keeps_clusters(tmp_path):
    z, labels = clusters(700)
    z[3] = np.nan
    path = write_run(tmp_path / "big", z, labels=labels)
    result = project(path, methods="tsne,umap,pca", sample=200, seed=1, quiet=True)
    for method in ("tsne", "umap", "pca"):
        coords = result.coordinates(method)
        finite = np.isfinite(coords).all(axis=1)
        assert finite.sum() == 699 and not finite[3]
        accuracy = knn_accuracy(coords[finite], np.delete(labels, 3))
        assert accuracy >= 0.95, f"{method}: kNN accuracy {accuracy:.3f}"
        entry = result.methods[method]
        if method != "pca":
            assert entry["fitted_on"] == 200 and entry["placed_by_transform"] == 499
    with pytest.raises(InputError, match="cannot place new points"):
        project(path, methods="tsne", sample=200, tsne_backend="sklearn", quiet=True)


def test_stratified_sample_keeps_every_class():
    labels = np.array([0] * 950 + [1] * 45 + [2] * 5)
    rows = stratified_sample(1000, 100, labels=labels, random_state=0)
    assert len(rows) == 100 and len(set(rows)) == 100
    assert np.bincount(labels[rows]).tolist() == [95, 4, 1]


def test_rotated_runs_align_to_the_same_map(projected, tmp_path):
    path, z, labels, _ = projected
    rotation, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(z.shape[1], z.shape[1])))
    rotated = write_run(tmp_path / "rot", (z @ rotation).astype(np.float32), labels=labels)
    result = project(rotated, seed=3, reference=path, align="procrustes", quiet=True)
    stored = pd.read_parquet(path / "projections.parquet")
    for method in ("pca", "tsne", "umap"):
        reference = stored[[f"{method}_0", f"{method}_1"]].to_numpy()
        aligned = result.coordinates(method)
        info = result.methods[method]["aligned_to"]
        assert info["how"] == "procrustes" and info["shared"] == len(z)
        if method == "pca":  # exact: same axes once the rotation is undone
            assert np.abs(aligned - reference).max() < 1e-3 * np.abs(reference).max()
            continue
        # t-SNE and UMAP start from the reference layout: clusters land where the reference has them
        assert info["disparity"] < 0.3, (method, info)
        nearest = np.argmin(((aligned[:, None] - reference[None]) ** 2).sum(-1), axis=1)
        assert (labels[nearest] == labels).mean() >= 0.95, method


def test_transform_places_a_second_run_into_the_first_map(projected, tmp_path):
    path, z, labels, _ = projected
    noisy = z[::3] + np.random.default_rng(2).normal(scale=0.05, size=z[::3].shape).astype(np.float32)
    second = write_run(tmp_path / "second", noisy, labels=labels[::3], ids=np.arange(len(z))[::3])
    result = project(second, seed=3, reference=path, quiet=True)
    stored = pd.read_parquet(path / "projections.parquet").iloc[::3]
    for method in ("pca", "tsne", "umap"):
        assert result.methods[method]["aligned_to"]["how"] == "transform"
        reference = stored[[f"{method}_0", f"{method}_1"]].to_numpy()
        placed = result.coordinates(method)
        # each placed point lands among the first map's points of its own cluster
        nearest = np.argmin(((placed[:, None] - stored_all(path, method)[None]) ** 2).sum(-1), axis=1)
        assert (labels[nearest] == labels[::3]).mean() >= 0.95, method
        # and close to where the same sample sits in the first map (measured: 0.3% to 4% of the spread)
        spread = np.linalg.norm(reference - reference.mean(axis=0), axis=1).mean()
        offset = np.median(np.linalg.norm(placed - reference, axis=1))
        assert offset < 0.1 * spread, (method, offset, spread)


def stored_all(path, method):
    table = pd.read_parquet(path / "projections.parquet")
    return table[[f"{method}_0", f"{method}_1"]].to_numpy()


def test_procrustes_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    b = 2.5 * a @ q + 1.0
    order = rng.permutation(50)  # the reference's rows in another order: the fit pairs rows by id
    aligned, info = align_procrustes(b, a[order], moving_ids=np.arange(50), reference_ids=order)
    np.testing.assert_allclose(aligned, a, atol=1e-9)  # every row of b (in b's order) moved onto its own id
    assert info["shared"] == 50 and info["disparity"] < 1e-12
    by_position, _ = align_procrustes(b, a[order])  # without ids the rows are paired by position: no fit
    assert np.abs(by_position - a).max() > 0.5
    with pytest.raises(InputError, match="share 0 finite points"):
        align_procrustes(b, a, moving_ids=np.arange(50), reference_ids=np.arange(50, 100))


def test_trustworthiness_matches_scikit_learn():
    from sklearn.manifold import trustworthiness as reference

    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 6))
    e = x[:, :2] + rng.normal(scale=0.5, size=(150, 2))
    assert trustworthiness(x, e, 7) == pytest.approx(reference(x, e, n_neighbors=7), abs=1e-12)
    assert trustworthiness(x, x @ np.diag([2, 2, 2, 2, 2, 2.0]), 5) == pytest.approx(1.0)


def test_whole_number_labels_are_sampled_as_their_names_are():
    """Classes are ordered by name ("10" before "2"), whichever form the labels take: the seeded sample of
    integer labels is the one of the same labels as strings."""
    from latentviz.projection._sample import stratified_sample

    labels = np.random.default_rng(1).integers(-3, 25, 20_000)
    for seed in range(3):
        as_numbers = stratified_sample(20_000, 777, labels=labels, random_state=seed)
        np.testing.assert_array_equal(
            as_numbers, stratified_sample(20_000, 777, labels=labels.astype(str), random_state=seed)
        )


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_one_quality_sample_scores_every_map_as_the_references_do(metric):
    """The sample and its latent neighbours are drawn once and shared by every map: each map's figures are
    still scikit-learn's trustworthiness and the naive overlap of neighbour sets on that sample's rows."""
    from sklearn.manifold import trustworthiness as reference

    from latentviz.projection._quality import QualitySample
    from latentviz.projection._sample import stratified_sample

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 900)
    z = (rng.normal(size=(4, 8))[labels] * 3 + rng.normal(size=(900, 8))).astype(np.float32)
    maps = {"near": z[:, :2] * 2.0, "noisy": z[:, :2] + rng.normal(scale=2.0, size=(900, 2))}
    sampled = QualitySample(z, k=7, sample=400, labels=labels, random_state=5, metric=metric)
    rows = stratified_sample(900, 400, labels=labels, random_state=5)
    x = z[rows].astype(np.float64)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)

    def neighbours(points):
        d = ((points[:, None] - points[None]) ** 2).sum(axis=2)
        np.fill_diagonal(d, np.inf)
        return [set(row) for row in np.argsort(d, axis=1, kind="stable")[:, :7]]

    for embedding in maps.values():
        scores = sampled.score(embedding)
        e = embedding[rows].astype(np.float64)
        overlap = np.mean([len(a & b) / 7 for a, b in zip(neighbours(x), neighbours(e), strict=True)])
        assert scores["trustworthiness"] == pytest.approx(reference(x, e, n_neighbors=7), abs=1e-12)
        assert scores["knn_preservation"] == pytest.approx(overlap, abs=1e-12)
        assert scores["quality_n"] == 400 and scores["quality_k"] == 7
    assert sampled.score(maps["near"])["trustworthiness"] > sampled.score(maps["noisy"])["trustworthiness"] + 0.05


def test_cli_projects_and_keeps_other_methods(projected, tmp_path):
    _, z, labels, _ = projected
    path = write_run(tmp_path / "cli", z[:100], labels=labels[:100])
    result = invoke("project", path, "--methods", "pca,umap", "--dims", "3", "--quiet")
    assert result.code == 0, result.err
    assert result.out.startswith("projected 100 points with pca, umap (3-D)") and "trustworthiness@10" in result.out
    result = invoke("project", path, "--methods", "pca", "--dims", "3", "--quiet")
    table = pd.read_parquet(path / "projections.parquet")
    assert list(table.columns) == ["id", "pca_0", "pca_1", "pca_2", "umap_0", "umap_1", "umap_2"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "pca,tnse"], "--methods: unknown projection 'tnse'; choose from pca, tsne, umap"),
        (["--reference", "nowhere"], "does not exist"),
        (["--sample", "3"], "--sample"),
    ],
)
def test_cli_errors_are_one_line(projected, args, message):
    path = projected[0]
    result = invoke("project", path, *args, "--quiet")
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1, result.err
