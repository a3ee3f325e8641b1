"""Shared fixtures: an in-process CLI runner, small models and run folders built in the test."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

SMALL_SHAPES = "builtin:shapes?size=32&scales=2&rotations=2&positions=4"  # 192 images


@dataclass
class Result:
    code: int
    out: str
    err: str


def invoke(*args: str) -> Result:
    """Run ``latentviz ARGS`` in-process, capturing stdout, stderr and the exit code."""
    from latentviz.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return invoke


@pytest.fixture(scope="session", autouse=True)
def trust_store(tmp_path_factory):
    """This session's own trust store (latentviz.trust), never the user's: runs the tests encode are recorded here."""
    folder = tmp_path_factory.mktemp("latentviz-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LATENTVIZ_DATA_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def vae_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised DemoVAE (32x32, 8-d) saved as a state dict."""
    from latentviz.models.demo_vae import DemoVAE

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "vae.pt"
    torch.save(DemoVAE().state_dict(), path)
    return path


VAE_FACTORY = "latentviz.models.demo_vae:DemoVAE"


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory, vae_checkpoint) -> Path:
    """A complete run of the random DemoVAE on a small shapes grid (192 images)."""
    out = tmp_path_factory.mktemp("runs") / "vae"
    result = invoke("encode", vae_checkpoint, "--model", VAE_FACTORY, "--data", SMALL_SHAPES, "--out", out, "--quiet")
    assert result.code == 0, result.err
    return out


def write_run(
    path: Path,
    z: np.ndarray,
    *,
    labels=None,
    factors: dict | None = None,
    logvar=None,
    ids=None,
    manifest: dict | None = None,
) -> Path:
    """Write a minimal complete run folder directly (no model), for stage tests."""
    import pandas as pd

    from latentviz.run import write_json, write_table

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"id": [str(i) for i in (ids if ids is not None else range(len(z)))]})
    if labels is not None:
        table["label"] = np.asarray(labels)
    for name, values in (factors or {}).items():
        table[f"factor_{name}"] = np.asarray(values)
    for j in range(z.shape[1]):
        table[f"z_{j}"] = z[:, j].astype(np.float32)
    if logvar is not None:
        for j in range(logvar.shape[1]):
            table[f"logvar_{j}"] = logvar[:, j].astype(np.float32)
    write_table(path / "latents.parquet", table)
    write_json(
        path / "manifest.json",
        {
            "complete": True,
            "n": len(z),
            "latent_dim": z.shape[1],
            "kind": "imported",
            "model": None,
            "seed": 0,
            "timings": {},
            **(manifest or {}),
        },
    )
    return path


@pytest.fixture
def make_run():
    return write_run


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def write_maps(path: Path, *, k: int = 10) -> Path:
    """Add projections.parquet (pca_0..2 and a second map, umap_0..1) and neighbors.npz to a run, fast.

    The maps are linear (PCA by SVD, and a rotated, squashed copy standing in for UMAP) so dashboard
    tests do not wait for a real UMAP; the neighbour graph is the real one.
    """
    import pandas as pd

    from latentviz.neighbors import knn
    from latentviz.run import Run, write_table

    run = Run(path)
    z = run.z.astype(np.float64)
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pca = centred @ vt[:3].T
    table = pd.DataFrame({"id": run.ids})
    for j in range(3):
        table[f"pca_{j}"] = pca[:, j].astype(np.float32)
    table["umap_0"] = np.tanh(pca[:, 0] - pca[:, 1]).astype(np.float32)
    table["umap_1"] = np.tanh(pca[:, 0] + pca[:, 1]).astype(np.float32)
    write_table(Path(path) / "projections.parquet", table)
    knn(run.z, k, method="exact").save(Path(path) / "neighbors.npz")
    return Path(path)


@pytest.fixture(scope="session")
def add_maps():
    return write_maps


XSS_LABEL = "<script>alert(1)</script>"


def write_report_run(path: Path, *, n: int = 120, d: int = 4, seed: int = 0, extras: bool = True) -> Path:
    """A run with every file a report shows: latents (one label is an XSS probe), projections,
    thumbnails (8x8 PNGs, a distinct grey per sample), metrics.json and a traversal PNG + GIF."""
    import io

    import pandas as pd
    from PIL import Image

    from latentviz.latent_stats import LatentStats
    from latentviz.run import Run, write_json, write_table
    from latentviz.thumbnails import png_bytes

    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d)).astype(np.float32) * np.linspace(2.0, 0.05, d).astype(np.float32)
    labels = np.array(["circle", "square", XSS_LABEL])[np.arange(n) % 3]
    logvar = np.full_like(z, -1.0)
    write_run(
        path, z, labels=labels, factors={"size": np.arange(n) % 4}, logvar=logvar, ids=[f"s{i}" for i in range(n)]
    )
    stats = LatentStats(d)  # what the encode stage records
    stats.update(z, logvar)
    Run(path).update_manifest(latent_stats=stats.compute())
    if not extras:
        return Path(path)
    write_maps(path)
    Run(path).update_manifest(projections={"pca": {"trustworthiness": 0.99}, "umap": {"trustworthiness": 0.96}})
    write_table(
        Path(path) / "thumbnails.parquet",
        pd.DataFrame(
            {
                "id": [f"s{i}" for i in range(n)],
                "png": [png_bytes(np.full((1, 8, 8), (i % 97) / 96.0)) for i in range(n)],
            }
        ),
    )
    write_json(
        Path(path) / "metrics.json",
        {"mig": 0.31, "trustworthiness": 0.97, "active_units": 3, "detail": {}, "timings": {}},
    )
    folder = Path(path) / "traversals"
    folder.mkdir(exist_ok=True)
    Image.new("L", (40, 20), 128).save(folder / "grid_00.png")
    frames = [Image.new("L", (20, 20), v) for v in (0, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    (folder / "grid_00.gif").write_bytes(buffer.getvalue())
    write_json(
        folder / "traversals.json",
        {
            "files": [
                {
                    "file": "grid_00.png",
                    "kind": "grid",
                    "format": "png",
                    "shows": "sample s0: each row sweeps one dimension",
                },
                {"file": "grid_00.gif", "kind": "grid", "format": "gif", "shows": "the same, animated"},
                {
                    "file": "../manifest.json",
                    "kind": "grid",
                    "format": "png",
                    "shows": "outside the folder: never embedded",
                },
            ]
        },
    )
    return Path(path)


@pytest.fixture
def report_run(tmp_path):
    """A small run holding everything a report shows (see :func:`write_report_run`)."""
    return write_report_run(tmp_path / "run")
