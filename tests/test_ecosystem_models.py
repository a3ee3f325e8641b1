"""Checkpoints as the ecosystem writes them: each built with the real library (or, for torchvision and
timm, which cannot be installed with the CPU torch here, a module shaped like theirs), encoded
through the CLI, and compared with the library's own output in id order.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from latentviz._imports import import_callable
from latentviz.run import Run

ATOL = 1e-5
MODELS = Path(__file__).with_name("ecosystem_models.py")
CHECKPOINT_MODELS = Path(__file__).with_name("checkpoint_models.py")


def spec(name: str, models: Path = MODELS) -> str:
    return f"{models}:{name}"


def build(name: str, models: Path = MODELS):
    return import_callable(spec(name, models))().eval()


def encode(cli, checkpoint, data, out, *options) -> Run:
    result = cli("encode", checkpoint, "--data", data, "--out", out, "--quiet", "--device", "cpu", *options)
    assert result.code == 0, result.err
    return Run(out)


def refused(cli, tmp_path, checkpoint, data, *options) -> str:
    result = cli(
        "encode", checkpoint, "--data", data, "--out", tmp_path / "refused", "--quiet", "--device", "cpu", *options
    )
    assert result.code == 2 and result.err.startswith("latentviz: error: ") and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    return result.err


def assert_close(actual, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=0)


def hooked(model, layer: str, x) -> torch.Tensor:
    """What ``layer`` returned, cloned in a direct forward hook before anything after it runs."""
    captured = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(
        lambda _m, _i, out: captured.update(out=out.clone())
    )
    with torch.no_grad():
        model(x)
    handle.remove()
    return captured["out"]


def saved(tmp_path, name: str, array: np.ndarray) -> Path:
    np.save(tmp_path / name, array)
    return tmp_path / name


# -- 1. a hooked layer followed by an in-place activation ------------------------------------------------------
def test_hooked_layer_keeps_its_output_before_an_inplace_relu(cli, tmp_path):
    x = np.random.default_rng(0).normal(size=(12, 6)).astype(np.float32)
    run = encode(
        cli, spec("make_InplaceClassifier"), saved(tmp_path, "x.npy", x), tmp_path / "run", "--layer", "head.1"
    )
    expected = hooked(build("make_InplaceClassifier"), "head.1", torch.from_numpy(x))
    assert (expected < 0).any(), "the test needs values the ReLU would have zeroed"
    assert_close(run.z, expected)


# -- 2. --pool on a hooked token layer -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vit_images(tmp_path_factory) -> tuple[Path, torch.Tensor]:
    x = np.random.default_rng(1).random(size=(6, 3, 8, 8)).astype(np.float32)
    path = tmp_path_factory.mktemp("vit") / "images.npy"
    np.save(path, x)
    return path, torch.from_numpy(x)


@pytest.mark.parametrize(("layer", "pool"), [("norm", "mean"), ("norm", "cls"), ("norm", "max"), ("blocks.0", "mean")])
def test_token_layers_pool_over_the_tokens(cli, tmp_path, vit_images, layer, pool):
    data, x = vit_images
    run = encode(cli, spec("make_TinyViT"), data, tmp_path / "run", "--layer", layer, "--pool", pool)
    tokens = hooked(build("make_TinyViT"), layer, x)
    assert tokens.shape == (6, 5, 16)
    expected = {"mean": tokens.mean(dim=1), "cls": tokens[:, 0], "max": tokens.amax(dim=1)}[pool]
    assert_close(run.z, expected)
    assert run.manifest["latent_dim"] == 16


def test_a_token_layout_no_layer_type_tells_is_refused_with_the_way_to_choose(cli, tmp_path, vit_images):
    data, x = vit_images
    err = refused(cli, tmp_path, spec("make_TinyViT"), data, "--layer", "pre", "--pool", "mean")
    assert "(5, 16)" in err and "--pool-axis tokens" in err and "--pool-axis spatial" in err
    run = encode(
        cli, spec("make_TinyViT"), data, tmp_path / "run", "--layer", "pre", "--pool", "cls", "--pool-axis", "tokens"
    )
    assert_close(run.z, hooked(build("make_TinyViT"), "pre", x)[:, 0])
    assert run.manifest["model"]["pool_axis"] == "tokens"


def test_conv1d_outputs_pool_over_positions(cli, tmp_path):
    x = np.random.default_rng(2).normal(size=(5, 2, 10)).astype(np.float32)
    data = saved(tmp_path, "x.npy", x)
    run = encode(cli, spec("make_Conv1dEncoder"), data, tmp_path / "run", "--layer", "conv", "--pool", "mean")
    assert_close(run.z, hooked(build("make_Conv1dEncoder"), "conv", torch.from_numpy(x)).mean(dim=2))
    err = refused(cli, tmp_path, spec("make_Conv1dEncoder"), data, "--layer", "conv", "--pool", "cls")
    assert "'cls' does not apply to spatial latents" in err and "choose from flatten, mean, max, channel" in err


# -- 3. sentence-transformers ----------------------------------------------------------------------------------
CORPUS = [
    "the cat sat on the mat",
    "a dog ran home",
    "the big red dog sat on a small blue mat",
    "a small blue cat and a big red dog ran home",
    "red",
    "the mat",
    "dogs and cats",
    "a cat sat",
]


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory) -> Path:
    """A tiny random BERT with a WordPiece tokenizer trained on CORPUS by the tokenizers library."""
    from ecosystem_models import tiny_bert

    fast, bert = tiny_bert(CORPUS * 4, vocab_size=80, hidden_size=16, max_positions=64)
    folder = tmp_path_factory.mktemp("st") / "bert"
    bert.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def _sentence_folder(bert_folder: Path, name: str, *, pooling: str, normalize: bool, max_seq_length: int) -> Path:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    modules = [Transformer(str(bert_folder), max_seq_length=max_seq_length), Pooling(16, pooling_mode=pooling)]
    model = SentenceTransformer(modules=modules + ([Normalize()] if normalize else []), device="cpu")
    folder = bert_folder.parent / name
    model.save(str(folder))
    return folder


@pytest.mark.parametrize(("pooling", "normalize", "max_seq_length"), [("cls", False, 32), ("mean", True, 6)])
def test_sentence_transformers_folder_encodes_as_the_library_does(
    cli, tmp_path, bert_folder, pooling, normalize, max_seq_length
):
    from sentence_transformers import SentenceTransformer

    folder = _sentence_folder(
        bert_folder, f"st-{pooling}", pooling=pooling, normalize=normalize, max_seq_length=max_seq_length
    )
    (tmp_path / "texts.txt").write_text("\n".join(CORPUS) + "\n")
    run = encode(cli, folder, tmp_path / "texts.txt", tmp_path / "run", "--batch-size", "3")
    expected = SentenceTransformer(str(folder), device="cpu").encode(CORPUS)
    assert run.latents["text"].tolist() == CORPUS
    assert_close(run.z, expected)
    model = run.manifest["model"]
    assert model["form"] == "sentence_transformers" and run.manifest["kind"] == "embedding"
    assert model["sentence_transformers"] == {
        "modules": ["Transformer", "Pooling"] + ["Normalize"] * normalize,
        "pooling": pooling,
        "normalize": normalize,
        "max_seq_length": max_seq_length,
    }
    result = cli("inspect", folder)
    assert result.code == 0, result.err
    assert f"pooling {pooling}" in result.out and f"max_seq_length {max_seq_length}" in result.out
    assert ("normalized" in result.out) == normalize


def test_pool_on_a_sentence_transformers_folder_is_refused(cli, tmp_path, bert_folder):
    folder = _sentence_folder(bert_folder, "st-pool", pooling="mean", normalize=False, max_seq_length=32)
    (tmp_path / "texts.txt").write_text("\n".join(CORPUS) + "\n")
    assert "1_Pooling" in refused(cli, tmp_path, folder, tmp_path / "texts.txt", "--pool", "cls")


def test_a_sentence_transformers_folder_naming_other_code_is_refused(cli, tmp_path, bert_folder):
    folder = _sentence_folder(bert_folder, "st-foreign", pooling="mean", normalize=False, max_seq_length=32)
    entries = json.loads((folder / "modules.json").read_text())
    entries[1]["type"] = "mypackage.evil.Pooling"
    (folder / "modules.json").write_text(json.dumps(entries))
    (tmp_path / "texts.txt").write_text("the cat\n")
    err = refused(cli, tmp_path, folder, tmp_path / "texts.txt")
    assert "mypackage.evil.Pooling" in err and "--trust-checkpoint" in err and "nothing was run" in err


def test_missing_sentence_transformers_gives_the_install_command(cli, tmp_path, bert_folder, monkeypatch):
    folder = _sentence_folder(bert_folder, "st-missing", pooling="mean", normalize=False, max_seq_length=32)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import sentence_transformers raises ImportError
    (tmp_path / "texts.txt").write_text("the cat\n")
    assert "pip install 'latentviz[sentence-transformers]'" in refused(cli, tmp_path, folder, tmp_path / "texts.txt")


def test_an_encoder_returning_numpy_is_a_latent(cli, tmp_path, bert_folder):
    """A SentenceTransformer returned by a MODULE:CALLABLE: its encode gives a numpy array."""
    from sentence_transformers import SentenceTransformer

    folder = _sentence_folder(bert_folder, "st-factory", pooling="mean", normalize=False, max_seq_length=32)
    (tmp_path / "build.py").write_text(
        "from sentence_transformers import SentenceTransformer\n\n\n"
        f"def build():\n    return SentenceTransformer({str(folder)!r}, device='cpu')\n"
    )
    (tmp_path / "texts.txt").write_text("\n".join(CORPUS) + "\n")
    run = encode(cli, f"{tmp_path / 'build.py'}:build", tmp_path / "texts.txt", tmp_path / "run")
    assert_close(run.z, SentenceTransformer(str(folder), device="cpu").encode(CORPUS))


# -- 8. checkpoints with more than one set of weights ----------------------------------------------------------
@pytest.fixture(scope="module")
def features(tmp_path_factory) -> tuple[Path, torch.Tensor]:
    x = np.random.default_rng(3).normal(size=(10, 6)).astype(np.float32)
    path = tmp_path_factory.mktemp("features") / "x.npy"
    np.save(path, x)
    return path, torch.from_numpy(x)


def _tuple_vae_means(state: dict, x: torch.Tensor) -> torch.Tensor:
    model = build("make_TupleVAE", CHECKPOINT_MODELS)
    model.load_state_dict(state)
    with torch.no_grad():
        return model.encode(x)[0]


def test_timm_style_checkpoint_takes_the_ema_weights_on_request(cli, tmp_path, features):
    data, x = features
    trained = build("make_TupleVAE", CHECKPOINT_MODELS).state_dict()
    ema = {k: v + 0.5 for k, v in trained.items()}
    torch.save({"epoch": 3, "arch": "tuple_vae", "state_dict": trained, "state_dict_ema": ema}, tmp_path / "ckpt.pth")
    factory = spec("make_TupleVAE", CHECKPOINT_MODELS)
    plain = encode(cli, tmp_path / "ckpt.pth", data, tmp_path / "plain", "--model", factory)
    assert_close(plain.z, _tuple_vae_means(trained, x))
    assert plain.manifest["model"]["weight_sets"] == ["state_dict", "state_dict_ema"]
    averaged = encode(cli, tmp_path / "ckpt.pth", data, tmp_path / "ema", "--model", factory, "--weights", "ema")
    assert_close(averaged.z, _tuple_vae_means(ema, x))
    assert averaged.manifest["model"]["weights"] == "ema"
    assert averaged.manifest["model"]["unwrapped"] == "state_dict_ema"
    assert_close(averaged.load_model(device="cpu").encode(x)[0].detach().numpy(), _tuple_vae_means(ema, x))
    result = cli("inspect", tmp_path / "ckpt.pth", "--model", factory)
    assert result.code == 0, result.err
    assert "state_dict (used), state_dict_ema (ema)" in result.out
    err = refused(cli, tmp_path, tmp_path / "ckpt.pth", data, "--model", factory, "--weights", "teacher")
    assert "state_dict, state_dict_ema" in err


def test_weights_on_a_checkpoint_with_one_set_is_refused(cli, tmp_path, features):
    torch.save(build("make_TupleVAE", CHECKPOINT_MODELS).state_dict(), tmp_path / "plain.pt")
    err = refused(
        cli,
        tmp_path,
        tmp_path / "plain.pt",
        features[0],
        "--model",
        spec("make_TupleVAE", CHECKPOINT_MODELS),
        "--weights",
        "ema",
    )
    assert "one set of weights" in err


def _train_lightning(tmp_path: Path, x: torch.Tensor, callbacks: list) -> Path:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    LitEncoder = import_callable(f"{Path(__file__).with_name('lightning_models.py')}:LitEncoder")
    L.seed_everything(0, verbose=False)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=5)
    trainer = L.Trainer(
        max_steps=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpts", save_last=True), *callbacks],
    )
    trainer.fit(LitEncoder(latent_dim=3), loader)
    return tmp_path / "ckpts" / "last.ckpt"


def test_a_real_lightning_checkpoint_encodes_as_load_from_checkpoint(cli, tmp_path, features):
    data, x = features
    checkpoint = _train_lightning(tmp_path, x, [])
    factory = f"{Path(__file__).with_name('lightning_models.py')}:LitEncoder"
    run = encode(cli, checkpoint, data, tmp_path / "run", "--model", factory)
    LitEncoder = import_callable(factory)
    with torch.no_grad():
        expected = LitEncoder.load_from_checkpoint(checkpoint, map_location="cpu").eval().encode(x)
    assert_close(run.z, expected)
    assert run.manifest["model"]["hyper_parameters_used"] == ["latent_dim", "lr", "n_features"]
    assert run.manifest["model"]["step"] == 2


def test_a_lightning_ema_checkpoint_holds_the_average_and_the_trained_weights(cli, tmp_path, features):
    from lightning.pytorch.callbacks import EMAWeightAveraging

    data, x = features
    checkpoint = _train_lightning(tmp_path, x, [EMAWeightAveraging(decay=0.5)])
    factory = f"{Path(__file__).with_name('lightning_models.py')}:LitEncoder"
    LitEncoder = import_callable(factory)
    raw = torch.load(checkpoint, map_location="cpu", weights_only=False)
    trained = LitEncoder(**raw["hyper_parameters"])
    trained.load_state_dict(raw["current_model_state"])
    with torch.no_grad():
        average = LitEncoder.load_from_checkpoint(checkpoint, map_location="cpu").eval().encode(x)
        current = trained.eval().encode(x)
    assert not torch.allclose(average, current, atol=ATOL)
    assert_close(encode(cli, checkpoint, data, tmp_path / "ema", "--model", factory, "--weights", "ema").z, average)
    run = encode(cli, checkpoint, data, tmp_path / "current", "--model", factory, "--weights", "current_model_state")
    assert_close(run.z, current)
    assert run.manifest["model"]["ema_weights"] == "state_dict"


# -- 11. timm save_for_hf folders ------------------------------------------------------------------------------
@pytest.fixture
def timm_folder(tmp_path) -> Path:
    from safetensors.torch import save_file

    folder = tmp_path / "timm-net"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architecture": "tiny_net",
                "num_classes": 3,
                "num_features": 6,
                "pretrained_cfg": {"mean": [0.5], "std": [0.25]},
            }
        )
    )
    torch.manual_seed(0)
    save_file(import_callable(spec("TinyTimmNet"))().state_dict(), folder / "model.safetensors")
    return folder


def test_timm_folder_without_timm_names_the_command_that_works(cli, tmp_path, timm_folder, features, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError, as on this machine
    err = refused(cli, tmp_path, timm_folder, features[0])
    assert "pip install timm" in err
    assert (
        f"latentviz encode {timm_folder / 'model.safetensors'} --model timm:create_model --model-kwargs "
        """'{"model_name": "tiny_net", "num_classes": 3}'"""
    ) in err


def test_timm_folder_loads_through_timm_create_model(cli, tmp_path, timm_folder, features, monkeypatch):
    TinyTimmNet = import_callable(spec("TinyTimmNet"))
    calls = []

    def create_model(model_name, num_classes=1000, **kwargs):
        calls.append((model_name, num_classes))
        return TinyTimmNet(num_classes=num_classes)

    monkeypatch.setitem(sys.modules, "timm", types.SimpleNamespace(create_model=create_model))
    data, x = features
    run = encode(cli, timm_folder, data, tmp_path / "run")
    from safetensors.torch import load_file

    expected = TinyTimmNet()
    expected.load_state_dict(load_file(timm_folder / "model.safetensors"))
    with torch.no_grad():
        assert_close(run.z, expected(x))
    assert calls[0] == ("tiny_net", 3) and run.manifest["model"]["form"] == "timm"
    result = cli("inspect", timm_folder)
    assert result.code == 0, result.err
    assert "timm.create_model(model_name='tiny_net', num_classes=3)" in result.out
    assert "encode with --normalize 0.5,0.25" in result.out


def test_a_folder_of_no_known_form_lists_what_each_form_needs(cli, tmp_path, features):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "config.json").write_text("{}")
    err = refused(cli, tmp_path, tmp_path / "folder", features[0])
    for needs in ("_class_name", "model_type", "modules.json", "architecture", "latentviz[sentence-transformers]"):
        assert needs in err


# -- 12. diffusers latents scaled as latent-diffusion pipelines use them -----------------------------------------
@pytest.mark.parametrize("shift", [None, 0.25])
def test_scale_latents_is_the_pipelines_scaling_and_decoding_undoes_it(cli, tmp_path, shift):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=8,
        scaling_factor=0.5,
        shift_factor=shift,
    ).eval()
    vae.save_pretrained(tmp_path / "vae")
    x = torch.from_numpy(np.random.default_rng(4).random(size=(4, 3, 8, 8)).astype(np.float32))
    data = saved(tmp_path, "images.npy", x.numpy())
    run = encode(cli, tmp_path / "vae", data, tmp_path / "run", "--scale-latents")
    with torch.no_grad():
        dist = vae.encode(x * 2 - 1).latent_dist
    scaled = (dist.mean - (shift or 0.0)) * 0.5
    assert_close(run.z, scaled.reshape(len(x), -1))
    assert_close(run.logvar, (dist.logvar + 2 * np.log(0.5)).reshape(len(x), -1))
    assert run.manifest["model"]["scale_latents"] is True
    assert run.manifest["model"]["latent_scaling"] == {"shift_factor": shift or 0.0, "scaling_factor": 0.5}
    with torch.no_grad():
        decoded = run.load_model(device="cpu").decode(torch.tensor(run.z))
        expected = (vae.decode(dist.mean).sample / 2 + 0.5).clamp(0, 1)
    np.testing.assert_allclose(decoded.numpy(), expected.numpy(), atol=1e-4, rtol=0)


def test_scale_latents_elsewhere_is_refused(cli, tmp_path, features):
    assert "diffusers" in refused(cli, tmp_path, spec("make_DeepNet"), features[0], "--scale-latents")


# -- 13. inspect shows every layer -----------------------------------------------------------------------------
def test_inspect_lists_every_layer_with_its_shape(cli, features):
    result = cli("inspect", spec("make_DeepNet"), "--data", features[0])
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines() if line.startswith(" " * 14)]
    names = [row[0] for row in rows]
    assert names[-3:] == ["layers.39", "avgpool", "fc"] and len(names) == 43
    assert rows[-1] == ["fc", "Linear", "(3,)"]
