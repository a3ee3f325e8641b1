"""``latentviz run``: every stage, in order, into one complete run folder."""

from __future__ import annotations

import json

import pytest
from conftest import SMALL_SHAPES, VAE_FACTORY

from latentviz.cli.pipeline import STAGES
from latentviz.run import Run


@pytest.mark.slow
def test_run_writes_every_stage_and_prints_where(tmp_path, vae_checkpoint, cli):
    out = tmp_path / "run"
    result = cli("run", vae_checkpoint, "--model", VAE_FACTORY, "--data", SMALL_SHAPES, "--out", out, "--quiet")
    assert result.code == 0, result.err
    run = Run(out)
    assert run.complete
    assert [name for name, _ in STAGES] == ["project", "cluster", "traverse", "metrics", "report"]
    assert set(run.manifest["timings"]) >= {"encode", "project", "cluster", "traverse", "metrics", "report"}
    assert len(run.clusters) == run.n and run.cluster_facts["space"] == "latents"  # the DemoVAE's 8-D code
    assert {"pca_0", "tsne_1", "umap_1"} <= set(run.projections.columns) and len(run.projections) == run.n
    assert json.loads((out / "metrics.json").read_text())["mig"] is not None
    index = run.traversals
    assert index["files"] and all((run.traversal_dir / f["file"]).exists() for f in index["files"])
    assert (out / "report.html").stat().st_size > 100_000
    assert str(out.resolve() / "report.html") in result.out
    assert result.err == ""  # --quiet: no progress bars or status lines
