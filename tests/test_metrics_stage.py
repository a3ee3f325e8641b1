"""The metrics stage and command: every applicable metric, one line per skipped one, metrics.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentviz.metrics import REGISTRY, compute_run_metrics
from latentviz.run import Run


def factor_run(make_run, path, n=300):
    rs = np.random.RandomState(0)
    f = rs.randint(3, size=(n, 3))
    z = f + 0.1 * rs.randn(n, 3)
    z[0, 0] = np.nan
    return make_run(
        path,
        np.c_[z, rs.randn(n)],
        labels=np.where(f[:, 0] > 0, "a", "b"),
        factors={"shape": f[:, 0], "size": f[:, 1], "pos": f[:, 2]},
        logvar=np.zeros((n, 4)) - 1,
    )


def test_registry_facts_are_consistent():  # which keys the stage writes: tests/test_metric_registry.py
    for info in REGISTRY.values():
        assert info.bounds[0] <= info.typical[0] <= info.typical[1] <= info.bounds[1], info.name
        assert info.explanation.endswith(".") and info.reference


def test_stage_computes_what_applies_and_says_why_the_rest_is_skipped(tmp_path, make_run):
    run = Run(factor_run(make_run, tmp_path / "run"))
    out = compute_run_metrics(run, seed=1, repeats=2, quiet=True)
    for name in ("mig", "dci_disentanglement", "beta_vae", "kl_total", "silhouette", "total_correlation"):
        assert np.isfinite(out[name]), name
    assert out["mig"] > 0.5
    mig = out["detail"]["mig"]  # what the report's MI heatmap reads: MI per latent and factor, factor entropies
    mi, h = np.asarray(mig["mutual_info_matrix"]), np.asarray(mig["factor_entropy"])
    np.testing.assert_allclose(h, np.log(3), atol=0.02)  # three equally likely values per factor
    gaps = -np.diff(np.sort(mi, axis=0)[-2:][::-1], axis=0)[0]
    np.testing.assert_allclose(mig["per_factor"], gaps / h)
    assert out["detail"]["nonfinite_rows"] == 1
    assert out["skipped"]["reconstruction_error"] == "the run has no model (imported latents)"
    for name in ("trustworthiness", "continuity", "knn_preservation"):  # they compare the codes with the inputs
        assert out["skipped"][name] == "the inputs cannot be read (the run records no data source)", name
    assert len(out["detail"]["beta_vae"]["values"]) == 2 and "std" in out["detail"]["beta_vae"]
    assert len(out["detail"]["mig"]["values"]) == 2  # drawn on the seed's split, so repeated too
    assert "values" not in out["detail"]["kl_total"]  # every code, no draw: computed once
    saved = json.loads((run.path / "metrics.json").read_text())
    assert saved["mig"] == pytest.approx(out["mig"])
    assert "metrics" in run.manifest["timings"]


def test_metrics_command(tmp_path, make_run, cli):
    path = factor_run(make_run, tmp_path / "run")
    result = cli("metrics", path, "--seed", "3")
    assert result.code == 0, result.err
    assert "metrics" in result.out and "skipped" in result.out and "metrics.json" in result.out
    assert "skipped reconstruction_error: the run has no model" in result.err
    result = cli("metrics", tmp_path / "missing")
    assert result.code == 2 and "does not exist" in result.err


def test_stage_on_a_vae_run_uses_the_decoder_and_the_shapes_grid(vae_run):
    import torch
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness

    from latentviz.data import open_source

    out = compute_run_metrics(Run(vae_run), quiet=True)
    for name in ("reconstruction_error", "consistency", "interpolation_smoothness", "trustworthiness", "factor_vae"):
        assert name in out, out["skipped"].get(name)
    # reconstruction error and trustworthiness against their definitions, on every sample of the run
    run = Run(vae_run)
    model = run.load_model(device="cpu")
    recorded = run.manifest["data"]
    source = open_source(recorded["spec"], image_size=recorded.get("image_size"), channels=recorded.get("channels"))
    x = source.read(0, len(source)).x
    with torch.inference_mode():
        x_hat = model.decode(model.encode(x)[0])
    assert out["detail"]["reconstruction_error"]["n_samples"] == len(x) == run.n
    assert out["reconstruction_error"] == pytest.approx(float(((x_hat - x) ** 2).flatten(1).mean(1).mean()), rel=1e-5)
    flat = x.flatten(1).numpy().astype(np.float64)
    reduced = PCA(out["detail"]["trustworthiness"]["input_dims"], random_state=0).fit_transform(flat)
    reference = trustworthiness(reduced, run.z, n_neighbors=out["detail"]["trustworthiness"]["k"])
    # 64 of the 192 shapes are exact duplicates (rotated circles): their input distances tie, and
    # the two implementations break those ties differently (about 1e-3 of the score).
    assert out["trustworthiness"] == pytest.approx(reference, abs=2e-3)
    assert out["detail"]["beta_vae"]["protocol"] == "fresh fixed-factor batches of builtin:shapes"


def test_interpolation_smoothness_reuses_the_traversal_paths(tmp_path, vae_run):
    """With traversals/paths.npz present, the metric scores those paths rather than decoding new ones."""
    import shutil

    from latentviz import run as runfolder
    from latentviz.metrics import compute_run_metrics

    folder = tmp_path / "run"
    shutil.copytree(vae_run, folder)
    (folder / runfolder.TRAVERSALS).mkdir(exist_ok=True)
    np.savez(
        folder / runfolder.TRAVERSALS / runfolder.TRAVERSAL_PATHS,
        lerp_step_sizes=np.array([[1.0, 1.0, 2.0], [1.0, 1.0, 1.0]]),
        lerp_outputs=np.zeros((2, 4, 1, 32, 32), dtype=np.float16),
    )
    out = compute_run_metrics(runfolder.Run(folder), quiet=True)
    assert out["detail"]["interpolation_smoothness"]["paths"].startswith("traversals/paths.npz")
    assert out["interpolation_smoothness"] == pytest.approx((1.5 + 1.0) / 2)
    assert out["path_length"] == pytest.approx(np.mean((np.array([1, 1, 2, 1, 1, 1]) * 3.0) ** 2) / 1024)
