"""Inputs that used to give a silently wrong run are refused in one line (issue 12, items 8, 9, 12, 13).

Factor and label arrays of the wrong length, ``--resume`` on changed inputs, misspelt audit metrics,
NaN thresholds, all-NaN or complex latents and duplicate ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import VAE_FACTORY
from test_cli_errors import assert_one_line_error

from latentviz.run import Run, write_json

N = 6  # rows in the small tables below

ODD_MODELS = '''
import torch
from torch import nn


class Odd(nn.Module):
    """A linear encoder of 6 features whose latents are real, complex or all NaN."""

    def __init__(self, out="real"):
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.out = out

    def encode(self, x):
        z = self.lin(x)
        if self.out == "complex":
            return torch.complex(z, z)
        return z * float("nan") if self.out == "nan" else z

    def forward(self, x):
        return self.encode(x)


def items():
    """A dataset whose items name their own ids: two of them say 'a'."""
    return [{"x": torch.full((6,), float(i)), "id": "a" if i < 2 else f"s{i}"} for i in range(4)]


def vector_labels():
    return [(torch.zeros(6), torch.tensor([i, i])) for i in range(4)]
'''


@pytest.fixture
def odd(tmp_path):
    """(checkpoint, factory spec, dataset module path) of the Odd model written to a file."""
    path = tmp_path / "odd_models.py"
    path.write_text(ODD_MODELS)
    torch.manual_seed(0)
    checkpoint = tmp_path / "odd.pt"
    torch.save({"lin.weight": torch.randn(3, 6), "lin.bias": torch.randn(3)}, checkpoint)
    return checkpoint, f"{path}:Odd", path


def _table(path, *, ids=None, **extra):
    """A table of N rows: 6 float features f0..f5, optional ids and extra columns."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"f{j}": rng.normal(size=N).astype(np.float32) for j in range(6)})
    if ids is not None:
        frame.insert(0, "id", ids)
    for name, values in extra.items():
        frame[name] = values
    frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path, frame


def _odd_latents(checkpoint, x):
    state = torch.load(checkpoint)
    return (torch.as_tensor(x, dtype=torch.float32) @ state["lin.weight"].T + state["lin.bias"]).numpy()


# -- item 8: factor and label arrays of the wrong length ---------------------------------------
@pytest.mark.parametrize("factors", [np.arange(2 * N), np.arange(2 * N).reshape(2, N)])
def test_encode_refuses_npz_factors_of_another_length(cli, tmp_path, vae_checkpoint, factors):
    data = tmp_path / "x.npz"
    np.savez(data, x=np.zeros((N, 1, 32, 32), np.float32), factors=factors)
    result = cli("encode", vae_checkpoint, "--model", VAE_FACTORY, "--data", data, "--out", tmp_path / "r", "--quiet")
    assert_one_line_error(result, "factors has 12 values", "for 6 rows")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "key,values,needle",
    [("factors", torch.arange(2 * N), "factors has 12 values"), ("y", torch.zeros(N, 2), "labels has 12 values")],
)
def test_encode_refuses_pt_factors_or_labels_of_another_length(cli, tmp_path, vae_checkpoint, key, values, needle):
    data = tmp_path / "x.pt"
    torch.save({"x": torch.zeros(N, 1, 32, 32), key: values}, data)
    result = cli("encode", vae_checkpoint, "--model", VAE_FACTORY, "--data", data, "--out", tmp_path / "r", "--quiet")
    assert_one_line_error(result, needle, "for 6 rows")


def test_encode_refuses_a_dataset_whose_labels_are_vectors(cli, tmp_path, odd):
    checkpoint, factory, module = odd
    result = cli(
        "encode",
        checkpoint,
        "--model",
        factory,
        "--data",
        f"{module}:vector_labels",
        "--out",
        tmp_path / "r",
        "--quiet",
    )
    assert_one_line_error(result, "label holds 2 values")


def test_import_refuses_factors_of_another_length_and_keeps_factor_columns(cli, tmp_path):
    z = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
    flat = tmp_path / "flat.npz"
    np.savez(flat, z=z, factors=np.arange(2 * N))
    assert_one_line_error(
        cli("import", flat, "--out", tmp_path / "a"), "factors has 12 values (shape (12,)) for 6 rows"
    )
    table = tmp_path / "z.parquet"
    pd.DataFrame({"z0": z[:, 0], "z1": z[:, 1], "factor_pos": [[i, 2 * i] for i in range(N)]}).to_parquet(table)
    assert_one_line_error(cli("import", table, "--out", tmp_path / "b"), "factor_pos holds 12 values for 6 rows")

    good = tmp_path / "good.npz"
    factors = np.stack([np.arange(N) % 2, np.arange(N) % 3], axis=1)
    np.savez(good, z=z, factors=factors, factor_names=np.array(["shape", "size"]))
    assert cli("import", good, "--out", tmp_path / "c").code == 0
    np.testing.assert_array_equal(Run(tmp_path / "c").factors, factors)


# -- item 9: --resume compares everything that decides the latents ------------------------------
def _interrupt(out, checkpoint, data, *, after: int = 32):
    """Start an encode of ``data`` into ``out`` that dies after ``after`` samples (two 16-row shards written)."""
    from latentviz.data import open_source
    from latentviz.encode import EncodeOptions, encode
    from latentviz.models import load_model

    model = load_model(str(checkpoint), factory=VAE_FACTORY)
    inner, seen = model.encode, [0]

    def dying(x):
        if seen[0] >= after:
            raise KeyboardInterrupt("killed")
        seen[0] += len(x)
        return inner(x)

    model.encode = dying
    with pytest.raises(KeyboardInterrupt):
        encode(model, open_source(str(data)), out, EncodeOptions(batch_size=16, shard_size=16, quiet=True))
    assert len(list((out / "shards").glob("latents-*.parquet"))) == 2


def _images(path, seed: int):
    np.save(path, np.random.default_rng(seed).random((48, 1, 32, 32), dtype=np.float32))
    return path


@pytest.fixture
def interrupted(tmp_path, vae_checkpoint):
    data = _images(tmp_path / "x.npy", seed=1)
    out = tmp_path / "r"
    _interrupt(out, vae_checkpoint, data)
    return out, data


def _resume(cli, checkpoint, data, out, *extra):
    return cli(
        "encode",
        checkpoint,
        "--model",
        VAE_FACTORY,
        "--data",
        data,
        "--out",
        out,
        "--resume",
        "--batch-size",
        "16",
        "--shard-size",
        "16",
        "--quiet",
        *extra,
    )


@pytest.mark.parametrize(
    "extra,needle",
    [
        (("--layer", "encoder_net.8"), "--layer differs"),
        (("--pool", "mean"), "--pool differs"),
        (("--normalize", "0.5,0.5"), "--normalize differs"),
        (("--model-kwargs", '{"latent_dim": 8}'), "--model-kwargs differs"),
        (("--limit", "40"), "--limit differs"),
        (("--image-size", "16x16"), "image_size differs"),
    ],
)
def test_resume_refuses_other_encode_options(cli, interrupted, vae_checkpoint, extra, needle):
    out, data = interrupted
    assert_one_line_error(_resume(cli, vae_checkpoint, data, out, *extra), "--resume: ", needle, "--overwrite")


def test_resume_refuses_a_replaced_data_file_and_continues_the_same_one(cli, interrupted, vae_checkpoint, tmp_path):
    out, data = interrupted
    original = data.read_bytes()
    _images(data, seed=2)  # another data set of the same length, under the same name
    assert_one_line_error(
        _resume(cli, vae_checkpoint, data, out),
        "--resume: the data changed since the run started",
        "x.npy",
        "--overwrite",
    )
    assert not Run(out).complete

    data.write_bytes(original)
    assert _resume(cli, vae_checkpoint, data, out).code == 0
    fresh = tmp_path / "fresh"
    assert cli("encode", vae_checkpoint, "--model", VAE_FACTORY, "--data", data, "--out", fresh, "--quiet").code == 0
    assert Run(out).complete and list(Run(out).ids) == list(Run(fresh).ids)
    np.testing.assert_allclose(Run(out).z, Run(fresh).z, atol=1e-6)


def test_resume_refuses_another_data_folder_listing(cli, tmp_path, vae_checkpoint):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(48):
        Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    out = tmp_path / "r"
    _interrupt(out, vae_checkpoint, folder)
    (folder / "00.png").rename(folder / "zz.png")  # same count of files, another listing
    assert_one_line_error(_resume(cli, vae_checkpoint, folder, out), "the data changed since the run started")


# -- item 12: policies name metrics that exist, with finite thresholds ---------------------------
@pytest.fixture
def measured(make_run, tmp_path):
    path = make_run(tmp_path / "run", np.zeros((5, 2), np.float32))
    write_json(path / "metrics.json", {"active_units": 2, "skipped": {"mig": "the data has no factors"}})
    return path


@pytest.mark.parametrize(
    "check,needle",
    [
        ("metric: mgi\n    gte: 0.1", "unknown metric 'mgi'; did you mean mig"),
        ("metric: trustworthines\n    gte: 0.9", "did you mean trustworthiness"),
        ("metric: active_units\n    gte: .nan", "finite number"),
        ("metric: mig\n    between: [0.1, .nan]", "finite number"),
    ],
)
def test_a_policy_with_a_misspelt_metric_or_nan_threshold_is_refused(cli, measured, tmp_path, check, needle):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"checks:\n  - {check}\n")
    assert_one_line_error(cli("audit", measured, "--policy", policy), needle)


def test_a_metric_the_run_lacks_stays_a_skip(cli, measured, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "checks:\n  - metric: mig\n    gte: 0.1\n  - metric: projection_trustworthiness_umap\n"
        "    gte: 0.9\n  - metric: active_units\n    gte: 1\n"
    )
    result = cli("audit", measured, "--policy", policy)
    assert result.code == 0, result.err
    assert "the data has no factors" in result.out and "audit: pass (1 pass, 2 skip)" in result.out


# -- item 13: degenerate latents and duplicate ids ----------------------------------------------
def test_import_refuses_all_nan_and_complex_latents_but_keeps_some_nan_rows(cli, tmp_path):
    z = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
    np.save(tmp_path / "nan.npy", np.full_like(z, np.nan))
    assert_one_line_error(cli("import", tmp_path / "nan.npy", "--out", tmp_path / "a"), "all 6 latent rows hold NaN")
    np.save(tmp_path / "complex.npy", z + 1j * z)
    assert_one_line_error(cli("import", tmp_path / "complex.npy", "--out", tmp_path / "b"), "complex")
    some = z.copy()
    some[1] = np.nan
    np.save(tmp_path / "some.npy", some)
    assert cli("import", tmp_path / "some.npy", "--out", tmp_path / "c").code == 0
    np.testing.assert_array_equal(Run(tmp_path / "c").z, some)


@pytest.mark.parametrize("out,needle", [("complex", "complex"), ("nan", "NaN or inf for all 6 samples")])
def test_encode_refuses_complex_or_all_nan_latents(cli, tmp_path, odd, out, needle):
    checkpoint, factory, _ = odd
    data, _ = _table(tmp_path / "t.csv")
    result = cli(
        "encode",
        checkpoint,
        "--model",
        factory,
        "--model-kwargs",
        f'{{"out": "{out}"}}',
        "--data",
        data,
        "--out",
        tmp_path / "r",
        "--quiet",
    )
    assert_one_line_error(result, needle)
    assert not Run(tmp_path / "r", must_exist=False).complete


DUPLICATES = ["a", "b", "a", "c", "a", "a#2"]  # 'a' three times; 'a#2' is taken already


def test_import_refuses_duplicate_ids_unless_dedupe_says_how(cli, tmp_path):
    table = tmp_path / "z.csv"
    z = np.arange(2 * N, dtype=np.float32).reshape(N, 2)
    pd.DataFrame({"id": DUPLICATES, "z0": z[:, 0], "z1": z[:, 1]}).to_csv(table, index=False)
    assert_one_line_error(
        cli("import", table, "--out", tmp_path / "r"), "duplicate id", "'a' appears 3 times", "--dedupe-ids"
    )
    assert cli("import", table, "--out", tmp_path / "s", "--dedupe-ids", "suffix").code == 0
    assert list(Run(tmp_path / "s").ids) == ["a", "b", "a#3", "c", "a#4", "a#2"]
    np.testing.assert_array_equal(Run(tmp_path / "s").z, z)
    assert cli("import", table, "--out", tmp_path / "f", "--dedupe-ids", "first").code == 0
    assert list(Run(tmp_path / "f").ids) == ["a", "b", "c", "a#2"]
    np.testing.assert_array_equal(Run(tmp_path / "f").z, z[[0, 1, 3, 5]])


def test_encode_refuses_duplicate_ids_unless_dedupe_says_how(cli, tmp_path, odd):
    checkpoint, factory, _ = odd
    data, frame = _table(tmp_path / "t.parquet", ids=DUPLICATES)
    x = frame[[f"f{j}" for j in range(6)]].to_numpy(copy=True)

    def encode(out, *extra):
        return cli("encode", checkpoint, "--model", factory, "--data", data, "--out", tmp_path / out, "--quiet", *extra)

    assert_one_line_error(encode("r"), "duplicate id", "--dedupe-ids")
    assert not (tmp_path / "r").exists()
    assert encode("s", "--dedupe-ids", "suffix").code == 0
    assert list(Run(tmp_path / "s").ids) == ["a", "b", "a#3", "c", "a#4", "a#2"]
    np.testing.assert_allclose(Run(tmp_path / "s").z, _odd_latents(checkpoint, x), atol=1e-6)
    assert encode("f", "--dedupe-ids", "first").code == 0
    first = Run(tmp_path / "f")
    assert list(first.ids) == ["a", "b", "c", "a#2"] and first.manifest["n"] == 4
    np.testing.assert_allclose(first.z, _odd_latents(checkpoint, x[[0, 1, 3, 5]]), atol=1e-6)


def test_encode_refuses_duplicate_ids_a_dataset_gives(cli, tmp_path, odd):
    checkpoint, factory, module = odd
    spec = f"{module}:items"
    result = cli("encode", checkpoint, "--model", factory, "--data", spec, "--out", tmp_path / "r", "--quiet")
    assert_one_line_error(result, "duplicate id", "'a' appears 2 times")
    result = cli(
        "encode",
        checkpoint,
        "--model",
        factory,
        "--data",
        spec,
        "--out",
        tmp_path / "r",
        "--quiet",
        "--resume",
        "--dedupe-ids",
        "suffix",
    )
    assert result.code == 0, result.err
    assert list(Run(tmp_path / "r").ids) == ["a", "a#2", "s2", "s3"]
