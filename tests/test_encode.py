"""The encoding engine: exact latents, shards, resume, torchrun, import and sample."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SMALL_SHAPES, VAE_FACTORY

from latentviz.data import open_source
from latentviz.encode import EncodeOptions, encode
from latentviz.models import load_model
from latentviz.run import Run


def _direct_vae(checkpoint, x):
    from latentviz.models.demo_vae import DemoVAE

    model = DemoVAE()
    model.load_state_dict(torch.load(checkpoint))
    with torch.no_grad():
        return [t.numpy() for t in model.eval().encode(x)]


def test_latents_equal_a_direct_call(vae_run, vae_checkpoint):
    run = Run(vae_run)
    x = open_source(SMALL_SHAPES).read(0, 192).x
    mu, logvar = _direct_vae(vae_checkpoint, x)
    np.testing.assert_allclose(run.z, mu, atol=1e-5)
    np.testing.assert_allclose(run.logvar, logvar, atol=1e-5)
    m = run.manifest
    assert m["complete"] and m["kind"] == "vae" and m["latent_dim"] == 8 and m["n"] == 192
    assert m["model"]["form"] == "state_dict" and len(m["model"]["sha256"]) == 64
    assert set(m["versions"]) == {"latentviz", "torch", "numpy", "python"}
    assert m["timings"]["encode"] > 0
    assert len(m["latent_stats"]["kl_per_dim"]) == 8
    np.testing.assert_allclose(m["latent_stats"]["mean"], run.z.mean(0), atol=1e-5)
    np.testing.assert_allclose(m["latent_stats"]["var"], run.z.astype(np.float64).var(0), rtol=1e-4, atol=1e-9)
    assert not run.has("shards")


def test_thumbnails_are_small_pngs(vae_run):
    import io

    from PIL import Image

    thumbs = Run(vae_run).thumbnails
    assert len(thumbs) == 192
    img = Image.open(io.BytesIO(thumbs["7"]))
    assert img.format == "PNG" and max(img.size) <= 64


class _Flaky(torch.nn.Module):
    """Wraps an encoder and raises once ``fail_after`` samples are done, counting what it encoded."""

    def __init__(self, inner, fail_after=None):
        super().__init__()
        self.inner, self.fail_after, self.seen = inner, fail_after, 0

    def encode(self, x):
        if self.fail_after is not None and self.seen >= self.fail_after:
            raise KeyboardInterrupt("killed")
        self.seen += len(x)
        return self.inner.encode(x)


def _flaky_model(checkpoint, fail_after=None):
    from latentviz.models import LatentModel

    base = load_model(str(checkpoint), factory=VAE_FACTORY)
    wrapper = _Flaky(base.module, fail_after)
    return LatentModel(wrapper, spec=base.spec), wrapper


def test_resume_after_a_kill_redoes_nothing_and_duplicates_nothing(tmp_path, vae_checkpoint, vae_run):
    source = open_source(SMALL_SHAPES)
    options = dict(batch_size=16, shard_size=48, quiet=True)
    model, _ = _flaky_model(vae_checkpoint, fail_after=80)  # dies in the 2nd shard: 80 samples done, shard 0 holds 48
    with pytest.raises(KeyboardInterrupt):
        encode(model, source, tmp_path / "r", EncodeOptions(**options))
    assert not Run(tmp_path / "r").complete
    assert len(list((tmp_path / "r" / "shards").glob("latents-*.parquet"))) == 1
    model, counter = _flaky_model(vae_checkpoint)
    run = encode(model, source, tmp_path / "r", EncodeOptions(resume=True, **options))
    assert counter.seen == 192 - 48
    assert run.complete and len(set(run.ids)) == 192
    reference = Run(vae_run)
    assert list(run.ids) == list(reference.ids)
    np.testing.assert_allclose(run.z, reference.z, atol=1e-6)


def test_resume_refuses_a_different_data_size(tmp_path, vae_checkpoint, cli):
    model, _ = _flaky_model(vae_checkpoint, fail_after=32)
    with pytest.raises(KeyboardInterrupt):
        encode(
            model, open_source(SMALL_SHAPES), tmp_path / "r", EncodeOptions(batch_size=16, shard_size=16, quiet=True)
        )
    result = cli(
        "encode",
        vae_checkpoint,
        "--model",
        VAE_FACTORY,
        "--data",
        SMALL_SHAPES,
        "--out",
        tmp_path / "r",
        "--resume",
        "--limit",
        "100",
        "--shard-size",
        "16",
        "--batch-size",
        "16",
        "--quiet",
    )
    assert result.code == 2 and "--resume" in result.err


def test_complete_run_is_not_overwritten_without_the_flag(vae_run, vae_checkpoint, cli):
    before = (Path(vae_run) / "latents.parquet").read_bytes()
    result = cli("encode", vae_checkpoint, "--model", VAE_FACTORY, "--data", SMALL_SHAPES, "--out", vae_run, "--quiet")
    assert result.code == 2 and "--overwrite" in result.err
    assert (Path(vae_run) / "latents.parquet").read_bytes() == before


def test_limit_and_workers(tmp_path, vae_checkpoint, vae_run, cli):
    result = cli(
        "encode",
        vae_checkpoint,
        "--model",
        VAE_FACTORY,
        "--data",
        SMALL_SHAPES,
        "--out",
        tmp_path / "r",
        "--limit",
        "50",
        "--num-workers",
        "2",
        "--batch-size",
        "8",
        "--quiet",
    )
    assert result.code == 0, result.err
    run = Run(tmp_path / "r")
    assert run.n == 50
    np.testing.assert_allclose(run.z, Run(vae_run).z[:50], atol=1e-6)


@pytest.mark.slow
def test_torchrun_two_processes_equal_single_process(tmp_path, vae_checkpoint, vae_run):
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        str(torchrun),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "latentviz",
        "encode",
        str(vae_checkpoint),
        "--model",
        VAE_FACTORY,
        "--data",
        SMALL_SHAPES,
        "--out",
        str(tmp_path / "dist"),
        "--shard-size",
        "40",
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run, reference = Run(tmp_path / "dist"), Run(vae_run)
    assert run.complete
    assert list(run.ids) == list(reference.ids)
    np.testing.assert_allclose(run.z, reference.z, atol=1e-6)
    pd.testing.assert_frame_equal(
        run.latents.drop(columns=run.z_columns + run.logvar_columns),
        reference.latents.drop(columns=reference.z_columns + reference.logvar_columns),
    )


def test_import_npz_and_table(tmp_path, cli):
    z = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    np.savez(
        tmp_path / "z.npz",
        z=z,
        labels=np.arange(30) % 3,
        factors=np.arange(60).reshape(30, 2) % 5,
        factor_names=np.array(["a", "b"]),
    )
    assert cli("import", tmp_path / "z.npz", "--out", tmp_path / "r1").code == 0
    run = Run(tmp_path / "r1")
    np.testing.assert_array_equal(run.z, z)
    assert run.factor_names == ["a", "b"] and list(run.labels) == list(np.arange(30) % 3)
    frame = pd.DataFrame(z, columns=["e0", "e1", "e2", "e3"]).assign(id=[f"s{i}" for i in range(30)], city="x")
    frame.to_parquet(tmp_path / "z.parquet")
    assert cli("import", tmp_path / "z.parquet", "--out", tmp_path / "r2", "--columns", "e0,e1,e2").code == 0
    run = Run(tmp_path / "r2")
    np.testing.assert_array_equal(run.z, z[:, :3])
    assert run.ids[0] == "s0" and set(run.latents.columns) >= {"e3", "city"}


def test_sample_decodes_prior_draws(tmp_path, vae_checkpoint, cli):
    result = cli(
        "sample",
        vae_checkpoint,
        "--model",
        VAE_FACTORY,
        "--out",
        tmp_path / "g",
        "--latent-dim",
        "8",
        "--n",
        "20",
        "--seed",
        "3",
        "--quiet",
    )
    assert result.code == 0, result.err
    run = Run(tmp_path / "g")
    expected = torch.randn(20, 8, generator=torch.Generator().manual_seed(3)).numpy()
    np.testing.assert_allclose(run.z, expected, atol=1e-6)
    assert len(run.thumbnails) == 20 and run.manifest["kind"] == "generator"


def test_importing_latentviz_stays_light():
    code = "import sys, latentviz, latentviz.run\nprint(','.join(m for m in ('dash', 'dashboards', 'reports', 'torch', 'umap') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_checkpoint_series_step_from_the_checkpoint_or_its_name(tmp_path, vae_checkpoint, cli):
    """A Lightning checkpoint's global_step lands in the manifest; otherwise the file name says the step."""
    state = torch.load(vae_checkpoint)
    torch.save({"state_dict": state, "global_step": 1200, "epoch": 3}, tmp_path / "last.ckpt")
    torch.save(state, tmp_path / "vae-epoch=7.pt")
    for name, expected in (("last.ckpt", 1200.0), ("vae-epoch=7.pt", 7.0)):
        out = tmp_path / name.replace(".", "_")
        result = cli(
            "encode",
            tmp_path / name,
            "--model",
            VAE_FACTORY,
            "--data",
            SMALL_SHAPES,
            "--limit",
            "8",
            "--out",
            out,
            "--quiet",
        )
        assert result.code == 0, result.err
        assert Run(out).step == expected
    assert Run(tmp_path / "last_ckpt").manifest["model"]["epoch"] == 3


def test_recon_error_column_equals_a_direct_decode(tmp_path, vae_checkpoint, cli):
    from latentviz.models.demo_vae import DemoVAE

    out = tmp_path / "r"
    result = cli(
        "encode",
        vae_checkpoint,
        "--model",
        VAE_FACTORY,
        "--data",
        SMALL_SHAPES,
        "--limit",
        "40",
        "--recon-error",
        "--out",
        out,
        "--quiet",
    )
    assert result.code == 0, result.err
    model = DemoVAE()
    model.load_state_dict(torch.load(vae_checkpoint))
    x = open_source(SMALL_SHAPES).read(0, 40).x
    with torch.no_grad():
        expected = (model.eval().decode(model.encode(x)[0]) - x).pow(2).flatten(1).mean(1).numpy()
    np.testing.assert_allclose(Run(out).latents["recon_error"].to_numpy(), expected, rtol=1e-4, atol=1e-7)


def test_recon_error_needs_a_decoder(tmp_path, cli):
    np.save(tmp_path / "x.npy", np.zeros((4, 3), dtype=np.float32))
    (tmp_path / "enc.py").write_text("import torch\ndef make():\n    return torch.nn.Linear(3, 2)\n")
    result = cli(
        "encode",
        f"{tmp_path / 'enc.py'}:make",
        "--data",
        tmp_path / "x.npy",
        "--recon-error",
        "--out",
        tmp_path / "r",
        "--quiet",
    )
    assert result.code == 2 and "--recon-error" in result.err and "no decoder" in result.err


class _OutOfMemoryAbove(torch.nn.Module):
    """A linear encoder that raises CUDA's out-of-memory error for batches above ``limit`` rows."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.sizes = limit, []
        self.net = torch.nn.Linear(6, 2)

    def forward(self, x):
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        self.sizes.append(len(x))
        return self.net(x)


def test_out_of_memory_halves_the_batch_and_loses_nothing(tmp_path):
    from latentviz.models import LatentModel

    x = np.random.default_rng(0).normal(size=(100, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    module = _OutOfMemoryAbove(limit=10)
    run = encode(
        LatentModel(module, spec={"form": "test"}),
        open_source(str(tmp_path / "x.npy")),
        tmp_path / "r",
        EncodeOptions(batch_size=32, quiet=True),
    )
    assert max(module.sizes) <= 10 and sum(module.sizes) == 100
    with torch.no_grad():
        np.testing.assert_allclose(run.z, module.net(torch.from_numpy(x)).numpy(), atol=1e-6)


def test_json_is_strict_and_files_get_ordinary_permissions(tmp_path):
    import json

    from latentviz.run import write_json

    write_json(tmp_path / "m.json", {"inf": float("inf"), "nan": np.float64("nan"), "x": np.float32(1.5)})

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    assert json.loads((tmp_path / "m.json").read_text(), parse_constant=refuse) == {"inf": None, "nan": None, "x": 1.5}
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".*.tmp"))


def test_import_overwrite_clears_every_later_stage(tmp_path, cli):
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32))
    assert cli("import", tmp_path / "z.npy", "--out", tmp_path / "r").code == 0
    (tmp_path / "r" / "traversals").mkdir()
    (tmp_path / "r" / "report.html").write_text("old")
    assert cli("import", tmp_path / "z.npy", "--out", tmp_path / "r").code == 2
    assert cli("import", tmp_path / "z.npy", "--out", tmp_path / "r", "--overwrite").code == 0
    assert not (tmp_path / "r" / "traversals").exists() and not (tmp_path / "r" / "report.html").exists()


@pytest.mark.slow
def test_torchrun_ranks_all_stop_on_a_bad_output_folder(tmp_path, vae_checkpoint, vae_run):
    """Rank 0 refuses to overwrite a complete run; the other rank must stop too, not wait forever."""
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nproc_per_node",
        "2",
        "--master_port",
        "29518",
        "-m",
        "latentviz",
        "encode",
        str(vae_checkpoint),
        "--model",
        VAE_FACTORY,
        "--data",
        SMALL_SHAPES,
        "--out",
        str(vae_run),
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=180)
    assert proc.returncode != 0
    assert "already holds a complete run" in proc.stderr
