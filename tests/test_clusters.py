"""The cluster stage: HDBSCAN recovers known groups, finds none in noise, and writes its facts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from latentviz._validation import ParameterError
from latentviz.clusters import (
    assign_by_neighbours,
    cluster_latents,
    default_min_cluster_size,
)
from latentviz.errors import InputError
from latentviz.run import Run


def blobs(n=600, d=4, centers=4, seed=0):
    return make_blobs(n, n_features=d, centers=centers, cluster_std=0.5, random_state=seed)


def test_well_separated_gaussians_are_recovered_in_the_latents():
    x, truth = blobs()
    result = cluster_latents(x, random_state=0)
    ari = adjusted_rand_score(truth, result.labels)
    assert ari >= 0.95, ari
    assert result.info["space"] == "latents" and result.info["n_clusters"] == 4
    assert result.info["parameters"]["min_cluster_size"] == default_min_cluster_size(600) == 10


def test_high_dimensional_gaussians_are_clustered_in_a_5d_umap():
    x, truth = blobs(n=400, d=16, centers=3, seed=1)
    result = cluster_latents(x, random_state=0)
    assert result.info["space"] == "umap-5"
    assert adjusted_rand_score(truth, result.labels) >= 0.95


@pytest.mark.parametrize("seed", [0, 1])
def test_uniform_noise_is_one_cluster_or_none(seed):
    x = np.random.default_rng(seed).uniform(size=(800, 5))
    result = cluster_latents(x, random_state=seed)
    assert result.info["n_clusters"] <= 1, result.info


def test_large_n_fits_a_sample_and_assigns_the_rest():
    x, truth = blobs(n=1500, d=3, centers=3, seed=2)
    result = cluster_latents(x, sample=300, random_state=0)
    assert result.info["n_fit"] == 300 and result.info["n_assigned"] == 1200
    assert adjusted_rand_score(truth, result.labels) >= 0.95
    assert ((result.probabilities > 0) & (result.probabilities <= 1))[result.labels >= 0].all()


def test_assignment_is_the_majority_of_the_nearest_reference_points():
    rng = np.random.default_rng(3)
    reference, points = rng.normal(size=(60, 3)), rng.normal(size=(40, 3))
    labels = rng.integers(-1, 3, size=60)
    assigned, share = assign_by_neighbours(reference, labels, points, k=5)
    nearest = np.argsort(cdist(points, reference), axis=1, kind="stable")[:, :5]
    for row, order in enumerate(nearest):
        votes = labels[order].tolist()
        best = max(votes, key=lambda c: (votes.count(c), -votes.index(c)))  # ties: the nearer neighbour's
        assert assigned[row] == best and share[row] == votes.count(best) / 5


def test_stage_writes_the_table_and_the_facts(tmp_path, make_run, cli):
    x, truth = blobs(n=300, d=3, centers=3, seed=4)
    x[0] = np.nan
    names = np.array(["a", "b", "c"])[truth]
    path = make_run(tmp_path / "run", x, labels=names)
    result = cli("cluster", path, "--quiet")
    assert result.code == 0, result.err
    assert "3 clusters" in result.out and "ARI" in result.out
    run = Run(path)
    table = pd.read_parquet(path / "clusters.parquet")
    assert list(table.columns) == ["id", "cluster", "probability", "outlier"]
    assert table["cluster"].iloc[0] == -1 and table["outlier"].iloc[0]
    facts = json.loads((path / "clusters.json").read_text())
    assert facts["excluded_nonfinite"] == 1 and facts["space"] == "latents"
    assert sum(c["size"] for c in facts["clusters"]) + facts["n_outliers"] == 299
    finite = np.isfinite(x).all(axis=1)
    assert facts["ari"] == pytest.approx(adjusted_rand_score(names[finite], table["cluster"][finite]))
    assert facts["nmi"] == pytest.approx(normalized_mutual_info_score(names[finite], table["cluster"][finite]))
    for entry in facts["clusters"]:
        members = table["cluster"].to_numpy() == entry["cluster"]
        z = x[members]
        assert entry["centroid"] == pytest.approx(z.mean(axis=0).tolist(), abs=1e-5)
        medoid = table["id"][members].to_numpy()[np.argmin(cdist(z, z).sum(axis=1))]
        assert entry["medoid"] == medoid
        top_name, top_count = entry["top_labels"][0]
        assert entry["purity"] == top_count / entry["size"] == pytest.approx(np.mean(names[members] == top_name))
    assert run.manifest["parameters"]["cluster"]["min_cluster_size"] == 10 and "cluster" in run.manifest["timings"]


def test_too_few_points_for_the_cluster_size_is_one_line(tmp_path, make_run, cli):
    path = make_run(tmp_path / "run", np.random.default_rng(0).normal(size=(20, 2)))
    result = cli("cluster", path, "--min-cluster-size", "50")
    assert result.code == 2 and result.err.count("\n") == 1
    assert (
        result.err
        == "latentviz: error: --min-cluster-size: 50 is more than the 20 finite points; give a smaller size\n"
    )
    with pytest.raises(ParameterError, match=r"^cluster: space: unknown value 'tsne'; choose from "):
        cluster_latents(np.zeros((20, 2)), space="tsne")


def test_report_section_shows_the_facts_of_clusters_json_and_a_strip_per_cluster(report_run, cli):
    from conftest import XSS_LABEL

    from latentviz import figures
    from reports._build import build_report, render_report
    from reports._sections import figure_json

    assert cli("cluster", report_run, "--min-cluster-size", "5", "-q").code == 0
    run = Run(report_run)
    facts = run.cluster_facts
    model = build_report(run)
    section = next(s for s in model.sections if s.id == "clusters")
    assert not section.missing
    by_id = {row[0].text: row for row in section.rows}
    for entry in facts["clusters"]:
        row = by_id[str(entry["cluster"])]
        assert row[1].text == f"{entry['size']:,}" and row[2].text == entry["medoid"]
        assert row[4].text == f"{entry['purity']:.3g}"
    assert f"ARI {facts['ari']:.3g}" in [f.value for f in section.facts][-1]
    assert [p.title for p in section.pictures] == [
        f"Cluster {c['cluster']}" for c in sorted(facts["clusters"], key=lambda c: -c["size"])
    ]
    sizes = figures.cluster_sizes([c["size"] for c in facts["clusters"]], facts["n_outliers"])
    assert section.figures[0].figure == figure_json(sizes)  # the same builder, the same figure
    part = render_report(model).split('id="clusters"')[1].split("<section")[0]
    assert f"ARI {facts['ari']:.3g}" in part and part.count("data:image/png;base64,") == len(section.pictures)
    assert XSS_LABEL not in part and "&lt;script&gt;alert(1)&lt;/script&gt;" in part  # a top label, escaped


def test_report_without_clusters_says_how_to_compute_them(report_run):
    from reports._groups import cluster_section

    assert cluster_section(Run(report_run)).missing == "not computed: run `latentviz cluster RUN`"


def test_exports_carry_the_clusters(tmp_path, make_run, cli):
    x, truth = blobs(n=120, d=3, centers=2, seed=5)
    path = make_run(tmp_path / "run", x, labels=truth)
    assert cli("cluster", path, "-q").code == 0
    clusters = pd.read_parquet(path / "clusters.parquet")
    assert cli("export", path, tmp_path / "out.csv", "--format", "csv").code == 0
    table = pd.read_csv(tmp_path / "out.csv")
    assert table["cluster"].tolist() == clusters["cluster"].tolist()
    assert table["cluster_outlier"].tolist() == clusters["outlier"].tolist()
    assert table["cluster_probability"].to_numpy() == pytest.approx(clusters["probability"].to_numpy(), abs=1e-6)
    assert cli("export", path, tmp_path / "tb", "--format", "tensorboard").code == 0
    rows = (tmp_path / "tb" / "metadata.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    assert header[-1] == "cluster" and len(rows) == 121
    assert [int(r.split("\t")[-1]) for r in rows[1:]] == clusters["cluster"].tolist()


def test_dashboard_cluster_list_and_colours(tmp_path, make_run, cli):
    from dashboards import logic
    from dashboards.store import RunData

    x, truth = blobs(n=150, d=2, centers=3, seed=6)
    path = make_run(tmp_path / "run", x, labels=np.array(["a", "b", "c"])[truth])
    data = RunData("r", path, load_model=False)
    assert data.clusters is None and data.cluster_entries == []
    assert "cluster" not in [o["value"] for o in data.color_options()]
    assert cli("cluster", path, "-q").code == 0
    data = RunData("r", path, load_model=False)
    table = pd.read_parquet(path / "clusters.parquet")
    sizes = [e["size"] for e in data.cluster_entries]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == int((table["cluster"] >= 0).sum())
    assert "cluster" in [o["value"] for o in data.color_options()]
    values, name = data.color_values("cluster", "")
    assert name == "cluster" and values.tolist() == logic.cluster_names(table["cluster"]).tolist()
    assert logic.cluster_names(np.array([-1, 2])).tolist() == ["outlier", "2"]
    first = data.cluster_entries[0]
    assert data.cluster_rows(first["cluster"]) == np.flatnonzero(table["cluster"] == first["cluster"]).tolist()
    with pytest.raises(InputError, match="cluster: unknown value"):
        data.cluster_rows(99)


def test_a_tiny_run_is_clustered_with_a_cluster_size_it_can_hold():
    x = np.random.default_rng(0).normal(size=(6, 2))
    result = cluster_latents(x)
    assert result.info["parameters"]["min_cluster_size"] == 6 and result.info["n_clusters"] <= 1
    with pytest.raises(ParameterError, match="^cluster: min_cluster_size: 2 is more than the 1 finite points"):
        cluster_latents(x[:1])


def test_the_shared_graph_of_a_run_with_excluded_rows_is_renumbered_for_the_umap():
    from latentviz.clusters import _fit_graph
    from latentviz.neighbors import Neighbors, knn

    z = np.random.default_rng(7).normal(size=(30, 3))
    z[4] = np.nan
    finite = np.flatnonzero(np.isfinite(z).all(axis=1))
    graph = knn(z[finite], 5)
    full = np.full((30, 5), -1)
    full[finite] = finite[graph.indices]  # the run's graph (neighbors.npz): run rows, excluded rows all -1
    distances = np.full((30, 5), np.inf, np.float32)
    distances[finite] = graph.distances
    renumbered = _fit_graph(Neighbors(full, distances), finite, 30)
    assert np.array_equal(renumbered.indices, graph.indices) and np.array_equal(renumbered.distances, graph.distances)
    assert _fit_graph(Neighbors(full[:20], distances[:20]), finite, 30) is None  # a stale graph is not used
