"""Every long stage shows its progress on stderr, and --quiet silences all of it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import invoke, read_json, write_report_run, write_run


@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory):
    """300 points of 3 clusters in 4-D (no factors: the metrics stage runs its quick unsupervised metrics)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    z = rng.normal(size=(3, 4))[labels] * 4 + rng.normal(size=(300, 4))
    return write_run(tmp_path_factory.mktemp("progress") / "run", z, labels=labels)


def test_project_reports_tsne_kl_umap_epochs_and_placement(mixture_run):
    result = invoke("project", mixture_run, "--sample", "200")
    assert result.code == 0, result.err
    err = result.err
    assert "t-SNE" in err and "KL " in err  # iterations with the current KL divergence
    assert "UMAP epochs" in err
    assert "tsne: placing" in err and "umap: placing" in err and "100/100" in err  # the 100 points outside the sample
    entries = read_json(mixture_run / "manifest.json")["projections"]
    assert 250 < entries["tsne"]["iterations_used"] <= 750 and entries["tsne"]["kl_divergence"] > 0
    assert entries["umap"]["beside_tsne"] is True


def test_metrics_stage_names_each_metric_as_it_runs(mixture_run):
    result = invoke("metrics", mixture_run)
    assert result.code == 0, result.err
    for name in ("metrics: total_correlation", "metrics: intrinsic_dimension", "metrics: effective_rank"):
        assert name in result.err


@pytest.fixture(scope="module")
def report_runs(tmp_path_factory):
    """Two runs of the same 120 samples with everything a report shows (the second's latents from another seed)."""
    folder = tmp_path_factory.mktemp("reported")
    return write_report_run(folder / "first"), write_report_run(folder / "second", seed=1)


def test_report_names_each_section_as_it_is_built(report_runs, tmp_path):
    result = invoke("report", report_runs[0], "--out", tmp_path / "report.html")
    assert result.code == 0, result.err
    for section in ("projections", "clusters", "latent dimensions", "metrics", "drift", "traversals", "audit"):
        assert f", {section}]" in result.err, section  # the bar's postfix names the section
    assert "/7.00 [" in result.err  # out of the seven sections


def test_compare_names_each_step_as_it_runs(report_runs, tmp_path):
    result = invoke("compare", *report_runs, "--out", tmp_path / "compare.html", "--permutations", "2")
    assert result.code == 0, result.err
    for step in ("matching rows by id", "linear CKA, first vs second", "mutual kNN, first vs second"):
        assert step in result.err, step
    assert "neighbourhood agreement of 120 points, second vs first" in result.err
    assert "aligning the maps" in result.err
    assert "/7.00 [" in result.err  # matching, 4 scores, 1 agreement, alignment


@pytest.mark.parametrize(
    "args",
    [
        ("project", "{run}", "--sample", "200", "--quiet"),
        ("--quiet", "metrics", "{run}"),
        ("report", "{first}", "--out", "{out}/report.html", "--quiet"),
        ("--quiet", "compare", "{first}", "{second}", "--out", "{out}/compare.html", "--permutations", "2"),
    ],
)
def test_quiet_silences_progress(mixture_run, report_runs, tmp_path, args):
    paths = {"{run}": mixture_run, "{first}": report_runs[0], "{second}": report_runs[1]}
    result = invoke(*[str(paths.get(a, a)).replace("{out}", str(tmp_path)) for a in args])
    assert result.code == 0, result.err
    assert result.err == ""


def test_tsne_stops_when_the_kl_divergence_stops_falling_without_losing_trustworthiness(mixture_run):
    from sklearn.manifold import trustworthiness

    from latentviz.neighbors import knn
    from latentviz.projection import TSNE
    from latentviz.run import Run

    z = Run(mixture_run).z
    graph = knn(z, 30)
    full = TSNE(early_stop=None).fit(z, neighbors=graph)
    stopped = TSNE().fit(z, neighbors=graph)
    assert full.n_iter_ == 750
    assert 250 < stopped.n_iter_ < 750 and stopped.n_iter_ % 25 == 0  # checked every 25, never during exaggeration
    assert stopped.kl_divergence_ >= full.kl_divergence_
    assert (
        trustworthiness(z, stopped.embedding_, n_neighbors=10)
        > trustworthiness(z, full.embedding_, n_neighbors=10) - 0.01
    )
