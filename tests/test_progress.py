"""Every long stage shows its progress on stderr, and --quiet silences all of it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import invoke, write_run


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


def test_metrics_stage_names_each_metric_as_it_runs(mixture_run):
    result = invoke("metrics", mixture_run)
    assert result.code == 0, result.err
    for name in ("metrics: total_correlation", "metrics: intrinsic_dimension", "metrics: effective_rank"):
        assert name in result.err


@pytest.mark.parametrize("args", [("project", "{run}", "--sample", "200", "--quiet"), ("--quiet", "metrics", "{run}")])
def test_quiet_silences_progress(mixture_run, args):
    result = invoke(*[str(mixture_run) if a == "{run}" else a for a in args])
    assert result.code == 0, result.err
    assert result.err == ""
