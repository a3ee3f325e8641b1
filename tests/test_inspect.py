"""``latentviz inspect``: one test per model kind, on the aligned text a new user reads first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latentviz._imports import import_callable

MODELS = Path(__file__).with_name("checkpoint_models.py")


def spec(name: str) -> str:
    return f"{MODELS}:{name}"


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inspect") / "x.npy"
    np.save(path, np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32))
    return path


def inspect(cli, *args) -> dict[str, str]:
    """Run ``latentviz inspect`` and return its rows as {label: value}, checking the alignment on the way."""
    result = cli("inspect", *args)
    assert result.code == 0, result.err
    rows = {}
    for line in result.out.splitlines():
        label, value = line[:12].strip(), line[12:]
        if label:
            assert line[11] == " " and value[0] != " ", f"misaligned row: {line!r}"
            rows[label] = value
    return {"_text": result.out, **rows}


def test_vae_state_dict(cli, tmp_path, features):
    model = import_callable(spec("make_TupleVAE"))()
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "vae.pt")
    rows = inspect(cli, tmp_path / "vae.pt", "--model", spec("TupleVAE"), "--data", features)
    assert rows["format"] == (
        f"state dict built by {spec('TupleVAE')} (unwrapped from 'model'; prefix 'module.' stripped)"
    )
    assert rows["kind"] == "VAE (the encoder gives a mean and a log variance)"
    assert rows["parameters"] == f"{sum(p.numel() for p in model.parameters()):,}"
    assert rows["encoder"] == "encode method"
    assert rows["decoder"] == "decode method -> (6,)"
    assert rows["latent"] == "2 dimensions, shape (2,)"
    assert rows["probe"].startswith("4 sample(s) of ") and rows["probe"].endswith("input shape (6,)")
    layers = rows["_text"].split("candidates for --layer (output shape per sample):\n")[1].splitlines()
    assert [line.split() for line in layers] == [
        ["body", "Sequential", "(8,)"],
        ["body.0", "Linear", "(8,)"],
        ["body.1", "Tanh", "(8,)"],
        ["stats", "Linear", "(4,)"],
        ["out", "Linear", "(6,)"],
    ]


def test_autoencoder_without_data_says_what_a_probe_would_tell(cli, features):
    rows = inspect(cli, spec("make_AttributeAutoencoder"))
    assert rows["kind"].startswith("VAE or autoencoder")
    assert rows["latent"] == "unknown until encoded: give --data DATA"
    assert "give --data DATA" in rows["note"]
    rows = inspect(cli, spec("make_AttributeAutoencoder"), "--data", features)
    assert rows["kind"] == "autoencoder"
    assert rows["encoder"] == "encoder attribute" and rows["decoder"] == "decoder attribute -> (6,)"
    assert rows["latent"] == "3 dimensions, shape (3,)"


def test_generator(cli):
    rows = inspect(cli, spec("make_Generator"), "--generator")
    assert rows["kind"] == "generator"
    assert rows["encoder"] == "none" and rows["decoder"] == "forward"
    assert rows["latent"] == "set by --latent-dim when sampling"


def test_feature_extractor(cli, features):
    rows = inspect(cli, spec("make_Classifier"), "--layer", "features", "--data", features)
    assert rows["kind"] == "feature extractor"
    assert rows["encoder"] == "layer 'features' (forward hook)"
    assert rows["latent"] == "5 dimensions, shape (5,)"


def test_embedding_of_token_ids_as_json(cli, tmp_path):
    np.save(tmp_path / "ids.npy", np.random.default_rng(0).integers(0, 20, size=(6, 5)))
    result = cli("inspect", spec("make_TokenEmbedder"), "--data", tmp_path / "ids.npy", "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert info["kind"] == "embedding" and info["decoder"] is None
    assert info["latent_shape"] == [4] and info["parameters"] == 80
    assert info["layers"] == [{"name": "embed", "type": "Embedding", "output_shape": [5, 4]}]


def test_spatial_latents_show_their_shape_and_the_pool_hint(cli, tmp_path):
    np.save(tmp_path / "images.npy", np.zeros((3, 1, 6, 6), dtype=np.float32))
    rows = inspect(cli, spec("make_SpatialAutoencoder"), "--data", tmp_path / "images.npy")
    assert rows["latent"] == "18 dimensions, shape (2, 3, 3) (flattened for analysis; --pool mean|channel to pool)"
    assert rows["decoder"] == "decode method -> (1, 6, 6)"


def test_torchscript_lists_no_hookable_layers(cli, tmp_path, features):
    torch.jit.script(import_callable(spec("make_TupleVAE"))()).save(str(tmp_path / "scripted.pt"))
    rows = inspect(cli, tmp_path / "scripted.pt", "--data", features)
    assert rows["format"] == "TorchScript archive (TupleVAE)"
    assert rows["layers"] == "none that --layer can hook"
    assert "TorchScript modules take no forward hooks" in rows["note"]


def test_data_that_does_not_fit_names_both_shapes(cli, tmp_path):
    np.save(tmp_path / "x9.npy", np.zeros((3, 9), dtype=np.float32))
    result = cli("inspect", spec("make_TupleVAE"), "--data", tmp_path / "x9.npy")
    assert result.code == 2 and "(9,)" in result.err and "6 input features" in result.err


def test_inputs_the_model_cannot_take_get_one_line_from_inspect_and_encode(cli, tmp_path):
    """inspect's probe and encode share one message for a shape mismatch, naming what the first layer expects."""
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((8, 5), np.float32))  # the model's first Linear takes 6 features
    expected = (
        "the model cannot encode inputs of shape (5,) from --data: its first layer (Linear) expects 6 input features"
    )
    for args in (
        ("inspect", spec("make_TupleVAE"), "--data", wrong),
        ("encode", spec("make_TupleVAE"), "--data", wrong, "--out", tmp_path / "run"),
    ):
        result = cli(*args)
        assert result.code == 2 and expected in result.err and "Traceback" not in result.err, result.err
