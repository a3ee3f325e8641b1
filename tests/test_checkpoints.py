"""Every checkpoint form and encoder output convention, through ``latentviz encode`` as a user runs it.

Each test builds a tiny model, saves it in one form, encodes through the CLI, compares the latents
with a direct call of the model (atol 1e-5), decodes through the reloaded adapter where there is a
decoder, and checks that the manifest says how to load the model again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from latentviz._imports import import_callable
from latentviz.run import Run

MODELS = Path(__file__).with_name("checkpoint_models.py")
ATOL = 1e-5


def spec(name: str) -> str:
    return f"{MODELS}:{name}"


def build(name: str, **kwargs):
    return import_callable(spec(name))(**kwargs)


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> tuple[Path, torch.Tensor]:
    x = np.random.default_rng(0).normal(size=(24, 6)).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "x.npy"
    np.save(path, x)
    return path, torch.from_numpy(x)


def encode(cli, checkpoint, data, out, *options) -> Run:
    result = cli("encode", checkpoint, "--data", data, "--out", out, "--quiet", "--device", "cpu", *options)
    assert result.code == 0, result.err
    return Run(out)


def assert_close(actual, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=0)


def assert_decodes_like(run: Run, decode):
    """The reloaded adapter decodes the run's latents as the model's own decoder does."""
    model = run.load_model(device="cpu")
    z = torch.tensor(run.z)
    with torch.no_grad():
        assert_close(model.decode(z), decode(z))


# -- output conventions (the model comes from MODULE_OR_FILE:CALLABLE given as CHECKPOINT) ------------------------
def _tuple(m, x):
    return m.encode(x)


def _distribution(m, x):
    d = m.encode(x)
    return d.mean, torch.log(d.variance)


def _dict(m, x):
    out = m.encode(x)
    return out["mean"], 2 * torch.log(out["std"])


def _latent_dist(m, x):
    d = m.encode(x).latent_dist
    return d.mean, d.logvar


CONVENTIONS = [
    ("make_TupleVAE", _tuple, "vae"),
    ("make_TripleVAE", lambda m, x: m.encode(x)[1:], "vae"),
    ("make_DistributionVAE", _distribution, "vae"),
    ("make_DictVAE", _dict, "vae"),
    ("make_LatentDistVAE", _latent_dist, "vae"),
    ("make_AttributeAutoencoder", lambda m, x: (m.encoder(x), None), "autoencoder"),
]


@pytest.mark.parametrize("factory, expect, kind", CONVENTIONS, ids=[c[0][5:] for c in CONVENTIONS])
def test_output_conventions_encode_and_decode(cli, tmp_path, features, factory, expect, kind):
    data, x = features
    run = encode(cli, spec(factory), data, tmp_path / "run")
    model = build(factory)
    with torch.no_grad():
        mu, logvar = expect(model, x)
    assert_close(run.z, mu)
    if logvar is None:
        assert run.logvar is None
    else:
        assert_close(run.logvar, logvar)
    assert run.manifest["kind"] == kind
    assert run.manifest["model"]["form"] == "factory"
    decoder = model.decode if hasattr(model, "decode") else model.decoder
    assert_decodes_like(run, decoder)


def test_last_hidden_state_is_flattened_with_its_shape_kept(cli, tmp_path, features):
    data, x = features
    run = encode(cli, spec("make_HiddenStateEncoder"), data, tmp_path / "run")
    with torch.no_grad():
        expected = build("make_HiddenStateEncoder")(x).last_hidden_state
    assert_close(run.z, expected.reshape(len(x), -1))
    assert run.manifest["latent_shape"] == [2, 3]
    assert run.manifest["kind"] == "embedding"


def test_integer_token_ids_reach_an_embedding_as_integers(cli, tmp_path):
    ids = np.random.default_rng(1).integers(0, 20, size=(16, 5))
    np.save(tmp_path / "ids.npy", ids)
    run = encode(cli, spec("make_TokenEmbedder"), tmp_path / "ids.npy", tmp_path / "run")
    with torch.no_grad():
        assert_close(run.z, build("make_TokenEmbedder")(torch.from_numpy(ids)))


def test_layer_hook_takes_the_latent_from_a_submodule(cli, tmp_path, features):
    data, x = features
    run = encode(cli, spec("make_Classifier"), data, tmp_path / "run", "--layer", "features")
    with torch.no_grad():
        assert_close(run.z, build("make_Classifier").features(x))
    assert run.manifest["kind"] == "feature_extractor"
    assert run.manifest["model"]["layer"] == "features"
    bad = cli("encode", spec("make_Classifier"), "--data", data, "--out", tmp_path / "bad", "--layer", "feature")
    assert bad.code == 2 and "no submodule 'feature'" in bad.err and "features" in bad.err


def test_generator_forward_is_the_decoder(cli, tmp_path):
    result = cli(
        "sample",
        spec("make_Generator"),
        "--latent-dim",
        "3",
        "--n",
        "12",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--device",
        "cpu",
    )
    assert result.code == 0, result.err
    run = Run(tmp_path / "run")
    assert run.manifest["kind"] == "generator"
    assert_decodes_like(run, build("make_Generator"))


def test_shape_mismatch_names_both_shapes(cli, tmp_path):
    np.save(tmp_path / "x7.npy", np.zeros((4, 7), dtype=np.float32))
    result = cli("encode", spec("make_TupleVAE"), "--data", tmp_path / "x7.npy", "--out", tmp_path / "run")
    assert result.code == 2
    assert "(7,)" in result.err and "6 input features" in result.err
    assert "Traceback" not in result.err


# -- spatial latents and --pool ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def images(tmp_path_factory) -> tuple[Path, torch.Tensor]:
    x = np.random.default_rng(2).random(size=(10, 1, 6, 6)).astype(np.float32)
    path = tmp_path_factory.mktemp("images") / "images.npy"
    np.save(path, x)
    return path, torch.from_numpy(x)


def test_spatial_latents_are_flattened_and_decode_in_their_shape(cli, tmp_path, images):
    data, x = images
    run = encode(cli, spec("make_SpatialAutoencoder"), data, tmp_path / "run")
    model = build("make_SpatialAutoencoder")
    with torch.no_grad():
        assert_close(run.z, model.encode(x).reshape(len(x), -1))
    assert run.manifest["latent_shape"] == [2, 3, 3] and run.manifest["latent_dim"] == 18
    assert_decodes_like(run, lambda z: model.decode(z.reshape(len(z), 2, 3, 3)))


@pytest.mark.parametrize("pool", ["mean", "channel"])
def test_pool_summarises_spatial_latents(cli, tmp_path, images, pool):
    data, x = images
    run = encode(cli, spec("make_SpatialAutoencoder"), data, tmp_path / "run", "--pool", pool)
    with torch.no_grad():
        z = build("make_SpatialAutoencoder").encode(x)
    expected = z.mean(dim=(2, 3))
    if pool == "channel":
        expected = torch.cat([expected, z.std(dim=(2, 3), unbiased=False)], dim=1)
    assert_close(run.z, expected)
    assert run.manifest["model"]["pool"] == pool
    assert not run.load_model(device="cpu").has_decoder  # pooled latents cannot be decoded


def test_pool_on_flat_latents_is_refused(cli, tmp_path, features):
    result = cli("encode", spec("make_TupleVAE"), "--data", features[0], "--out", tmp_path / "run", "--pool", "mean")
    assert result.code == 2 and "no spatial axes" in result.err


# -- checkpoint forms ---------------------------------------------------------------------------------------------
def test_torchscript_with_exported_encode_and_decode(cli, tmp_path, features):
    data, x = features
    model = build("make_TupleVAE")
    torch.jit.script(model).save(str(tmp_path / "scripted.pt"))
    run = encode(cli, tmp_path / "scripted.pt", data, tmp_path / "run")
    with torch.no_grad():
        mu, logvar = model.encode(x)
    assert_close(run.z, mu)
    assert_close(run.logvar, logvar)
    assert run.manifest["model"]["form"] == "torchscript"
    assert run.manifest["kind"] == "vae"
    assert_decodes_like(run, model.decode)


def test_torch_export_program_forward_is_the_encoder(cli, tmp_path, features):
    data, x = features
    torch.manual_seed(0)
    model = build("ExportedEncoder").eval()
    program = torch.export.export(model, (x[:2],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(tmp_path / "encoder.pt2"))
    run = encode(cli, tmp_path / "encoder.pt2", data, tmp_path / "run")
    with torch.no_grad():
        assert_close(run.z, model(x))
    assert run.manifest["model"]["form"] == "export"
    assert run.manifest["kind"] == "embedding"  # the program's decoder weights are not a decoder
    reloaded = run.load_model(device="cpu")
    assert reloaded.encoder_source == "forward" and not reloaded.has_decoder


def _ddp(state):
    return {f"module.{k}": v for k, v in state.items()}


STATE_DICT_FORMS = [
    ("plain.pt", lambda sd: sd, None, None),
    (
        "trainer.pth",
        lambda sd: {"model_state_dict": sd, "epoch": 3, "optimizer_state_dict": {"lr": 0.1}},
        "model_state_dict",
        None,
    ),
    ("ddp.bin", _ddp, None, "module."),
    ("ema.pt", lambda sd: {"model": {}, "ema": _ddp(sd), "step": 7}, "ema", "module."),
    (
        "lightning.ckpt",
        lambda sd: {
            "state_dict": {f"model.{k}": v for k, v in sd.items()},
            "hyper_parameters": {"latent_dim": 3, "lr": 1e-3},
            "epoch": 1,
        },
        "state_dict",
        "model.",
    ),
    ("weights.safetensors", lambda sd: sd, None, None),
]


@pytest.mark.parametrize("name, wrap, unwrapped, prefix", STATE_DICT_FORMS, ids=[f[0] for f in STATE_DICT_FORMS])
def test_state_dicts_are_unwrapped_and_prefixes_stripped(cli, tmp_path, features, name, wrap, unwrapped, prefix):
    data, x = features
    latent_dim = 3 if name.endswith(".ckpt") else 2  # Lightning: from hyper_parameters, no --model-kwargs
    model = build("make_TupleVAE", latent_dim=latent_dim)
    path = tmp_path / name
    if name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(path))
    else:
        torch.save(wrap(model.state_dict()), path)
    run = encode(cli, path, data, tmp_path / "run", "--model", spec("TupleVAE"))
    with torch.no_grad():
        mu, logvar = model.encode(x)
    assert_close(run.z, mu)
    assert_close(run.logvar, logvar)
    recorded = run.manifest["model"]
    assert recorded["form"] == "state_dict" and recorded["factory"] == spec("TupleVAE")
    assert recorded.get("unwrapped") == unwrapped and recorded.get("stripped_prefix") == prefix
    assert_decodes_like(run, model.decode)


def test_lightning_attribute_dict_hyper_parameters_load_without_trust(cli, tmp_path, features, monkeypatch):
    """Lightning pickles its hyper-parameters as an AttributeDict; it is read as a plain dict, importing nothing."""
    import types

    data, x = features
    attribute_dict = type("AttributeDict", (dict,), {"__module__": "lightning.fabric.utilities.data"})
    model = build("make_TupleVAE", latent_dim=3)
    names = ("lightning", "lightning.fabric", "lightning.fabric.utilities", "lightning.fabric.utilities.data")
    for name in names:  # the real lightning, where an earlier test (a real Trainer) imported it
        monkeypatch.delitem(sys.modules, name, raising=False)
    with monkeypatch.context() as patch:
        for name in names:
            patch.setitem(sys.modules, name, types.ModuleType(name))
        sys.modules["lightning.fabric.utilities.data"].AttributeDict = attribute_dict
        torch.save(
            {"state_dict": model.state_dict(), "hyper_parameters": attribute_dict(latent_dim=3)}, tmp_path / "l.ckpt"
        )
    assert "lightning.fabric.utilities.data" not in sys.modules
    run = encode(cli, tmp_path / "l.ckpt", data, tmp_path / "run", "--model", spec("TupleVAE"))
    with torch.no_grad():
        assert_close(run.z, model.encode(x)[0])
    assert run.manifest["model"]["hyper_parameters_used"] == ["latent_dim"]


def test_key_mismatch_lists_keys_and_no_strict_records_them(cli, tmp_path, features):
    data, _ = features
    state = build("make_TupleVAE").state_dict()
    del state["out.bias"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "partial.pt")
    strict = cli(
        "encode", tmp_path / "partial.pt", "--model", spec("TupleVAE"), "--data", data, "--out", tmp_path / "a"
    )
    assert strict.code == 2
    assert "missing 1 key(s) e.g. out.bias" in strict.err and "unexpected 1 key(s) e.g. extra.weight" in strict.err
    assert "--no-strict" in strict.err
    run = encode(cli, tmp_path / "partial.pt", data, tmp_path / "b", "--model", spec("TupleVAE"), "--no-strict")
    assert run.manifest["model"]["missing_keys"] == ["out.bias"]
    assert run.manifest["model"]["unexpected_keys"] == ["extra.weight"]
    assert run.manifest["model"]["strict"] is False


def test_state_dict_without_model_says_how_to_give_it(cli, tmp_path, features):
    torch.save(build("make_TupleVAE").state_dict(), tmp_path / "sd.pt")
    result = cli("encode", tmp_path / "sd.pt", "--data", features[0], "--out", tmp_path / "run")
    assert result.code == 2 and "--model MODULE_OR_FILE:CALLABLE" in result.err


def test_pickled_module_needs_trust(cli, tmp_path, features):
    data, x = features
    model = build("make_TupleVAE")
    torch.save(model, tmp_path / "whole.pt")
    refused = cli("encode", tmp_path / "whole.pt", "--data", data, "--out", tmp_path / "a")
    assert refused.code == 2 and "--trust-checkpoint" in refused.err and "nothing was run" in refused.err
    run = encode(cli, tmp_path / "whole.pt", data, tmp_path / "b", "--trust-checkpoint")
    with torch.no_grad():
        assert_close(run.z, model.encode(x)[0])
    assert run.manifest["model"]["form"] == "pickled_module" and run.manifest["model"]["trusted"] is True
    assert_decodes_like(run, model.decode)


class _Payload:
    """A pickle that creates a marker file when it is unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("command", ["encode", "inspect"])
def test_crafted_pickle_never_runs_without_trust(cli, tmp_path, features, command):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": build("make_TupleVAE").state_dict(), "payload": _Payload(marker)}, tmp_path / "evil.pt")
    args = ["--data", features[0]] + (["--out", tmp_path / "run"] if command == "encode" else [])
    result = cli(command, tmp_path / "evil.pt", "--model", spec("TupleVAE"), *args)
    assert result.code == 2 and "--trust-checkpoint" in result.err
    assert not marker.exists()


def test_unknown_file_and_empty_file_are_input_errors(cli, tmp_path, features):
    (tmp_path / "model.onnx").write_bytes(b"abc")
    (tmp_path / "empty.pt").write_bytes(b"")
    for path, text in ((tmp_path / "model.onnx", "unknown format '.onnx'"), (tmp_path / "empty.pt", "empty")):
        result = cli("encode", path, "--data", features[0], "--out", tmp_path / "run")
        assert result.code == 2 and text in result.err


def test_texts_for_a_model_that_is_not_a_text_encoder(cli, tmp_path):
    (tmp_path / "t.txt").write_text("a line of text\nanother\n")
    result = cli("encode", spec("make_TupleVAE"), "--data", tmp_path / "t.txt", "--out", tmp_path / "run")
    assert result.code == 2 and "texts need a transformers model folder" in result.err
