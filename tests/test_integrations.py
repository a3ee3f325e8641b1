"""diffusers AutoencoderKL and transformers folders: tiny random-weight models written with
``save_pretrained`` into a temporary folder (no downloads), encoded through the CLI and compared
with direct calls of the library models. ``make test`` installs the extras: these never skip.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from latentviz.run import Run

ATOL = 1e-5
WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "mat",
    "red",
    "blue",
    "big",
    "small",
    "and",
    "home",
]
TEXTS = [
    "the cat sat on the mat",
    "a dog ran home",
    "the big red dog sat",
    "a small blue cat",
    "the cat and the dog ran on the big mat",
    "red",
    "blue mat and red mat",
    "a cat",
]


def encode(cli, checkpoint, data, out, *options) -> Run:
    result = cli("encode", checkpoint, "--data", data, "--out", out, "--quiet", "--device", "cpu", *options)
    assert result.code == 0, result.err
    return Run(out)


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected.detach().numpy(), atol=ATOL, rtol=0)


# -- diffusers ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def autoencoder_kl(tmp_path_factory):
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
    ).eval()
    folder = tmp_path_factory.mktemp("diffusers") / "vae"
    vae.save_pretrained(folder)
    x = np.random.default_rng(0).random(size=(6, 3, 8, 8)).astype(np.float32)
    np.save(folder.parent / "images.npy", x)
    return vae, folder, folder.parent / "images.npy", torch.from_numpy(x)


def test_autoencoder_kl_encodes_in_minus_one_to_one_and_decodes_back(cli, tmp_path, autoencoder_kl):
    vae, folder, data, x = autoencoder_kl
    run = encode(cli, folder, data, tmp_path / "run")
    with torch.no_grad():
        dist = vae.encode(x * 2 - 1).latent_dist
    assert_close(run.z, dist.mean.reshape(len(x), -1))
    assert_close(run.logvar, dist.logvar.reshape(len(x), -1))
    assert run.manifest["latent_shape"] == [4, 4, 4] and run.manifest["latent_dim"] == 64
    assert run.manifest["kind"] == "vae" and run.manifest["model"]["form"] == "diffusers"
    model = run.load_model(device="cpu")
    z = torch.tensor(run.z)
    with torch.no_grad():
        decoded = model.decode(z)
        expected = (vae.decode(z.reshape(len(z), 4, 4, 4)).sample / 2 + 0.5).clamp(0, 1)
    assert_close(decoded.numpy(), expected)
    assert decoded.min() >= 0 and decoded.max() <= 1


@pytest.mark.parametrize("pool", ["mean", "channel"])
def test_autoencoder_kl_pooled_latents(cli, tmp_path, autoencoder_kl, pool):
    vae, folder, data, x = autoencoder_kl
    run = encode(cli, folder, data, tmp_path / "run", "--pool", pool)
    with torch.no_grad():
        mean = vae.encode(x * 2 - 1).latent_dist.mean
    expected = mean.mean(dim=(2, 3))
    if pool == "channel":
        expected = torch.cat([expected, mean.std(dim=(2, 3), unbiased=False)], dim=1)
    assert_close(run.z, expected)
    assert run.manifest["latent_dim"] == (4 if pool == "mean" else 8)


def test_inspect_autoencoder_kl(cli, autoencoder_kl):
    _, folder, data, _ = autoencoder_kl
    result = cli("inspect", folder, "--data", data)
    assert result.code == 0, result.err
    assert "diffusers AutoencoderKL folder (AutoencoderKL)" in result.out
    assert "VAE (the encoder gives a mean and a log variance)" in result.out
    assert "64 dimensions, shape (4, 4, 4)" in result.out
    assert "decode method -> (3, 8, 8)" in result.out


def test_missing_diffusers_gives_the_install_command(cli, tmp_path, autoencoder_kl, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers now raises ImportError
    result = cli("encode", autoencoder_kl[1], "--data", autoencoder_kl[2], "--out", tmp_path / "run")
    assert result.code == 2 and "pip install 'latentviz[diffusers]'" in result.err


# -- transformers -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("transformers") / "bert"
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(WORDS)})
    torch.manual_seed(0)
    model = BertModel(
        BertConfig(
            vocab_size=len(WORDS),
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
        )
    ).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer, folder


def _hidden(model, tokens) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        states = model(**tokens).last_hidden_state
    return states, tokens["attention_mask"].unsqueeze(-1).float()


def _masked_mean(states, mask):
    return (states * mask).sum(1) / mask.sum(1)


def test_text_lines_mean_over_non_padding_tokens(cli, tmp_path, bert):
    model, tokenizer, folder = bert
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS[:4]) + "\n\n" + "\n".join(TEXTS[4:]) + "\n")
    run = encode(cli, folder, tmp_path / "texts.txt", tmp_path / "run")
    states, mask = _hidden(model, tokenizer(TEXTS, padding=True, return_tensors="pt"))
    assert_close(run.z, _masked_mean(states, mask))
    assert run.latents["text"].tolist() == TEXTS
    assert run.manifest["kind"] == "embedding" and run.manifest["model"]["form"] == "transformers"
    assert run.manifest["data"]["kind"] == "text"


def test_text_column_with_cls_pool_and_max_length(cli, tmp_path, bert):
    model, tokenizer, folder = bert
    pd.DataFrame({"sentence": TEXTS, "label": [i % 2 for i in range(len(TEXTS))]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    run = encode(
        cli,
        folder,
        tmp_path / "t.csv",
        tmp_path / "run",
        "--text-column",
        "sentence",
        "--pool",
        "cls",
        "--max-length",
        "5",
    )
    states, _ = _hidden(model, tokenizer(TEXTS, padding=True, truncation=True, max_length=5, return_tensors="pt"))
    assert_close(run.z, states[:, 0])
    assert run.labels.tolist() == [i % 2 for i in range(len(TEXTS))]
    reloaded = run.load_model(device="cpu")  # pool and max_length come back from the manifest
    with torch.no_grad():
        assert_close(reloaded.encode(TEXTS)[0].numpy(), states[:, 0])


@pytest.mark.parametrize("form", ["npz", "npy"])
def test_pretokenized_ids(cli, tmp_path, bert, form):
    """input_ids with their attention_mask (.npz), or bare ids (.npy) whose padding the tokenizer's pad id marks."""
    model, tokenizer, folder = bert
    tokens = tokenizer(TEXTS, padding="max_length", max_length=12, return_tensors="np")
    if form == "npz":
        np.savez(tmp_path / "tokens.npz", input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
    else:
        np.save(tmp_path / "tokens.npy", tokens["input_ids"])
    run = encode(cli, folder, tmp_path / f"tokens.{form}", tmp_path / "run", "--batch-size", "3")
    states, mask = _hidden(model, {k: torch.from_numpy(v) for k, v in tokens.items() if k != "token_type_ids"})
    assert_close(run.z, _masked_mean(states, mask))


def test_pool_that_does_not_apply_to_text_is_refused(cli, tmp_path, bert):
    (tmp_path / "t.txt").write_text("the cat\n")
    result = cli("encode", bert[2], "--data", tmp_path / "t.txt", "--out", tmp_path / "run", "--pool", "channel")
    assert result.code == 2 and "choose from mean, cls" in result.err


def test_inspect_transformers_folder(cli, tmp_path, bert):
    (tmp_path / "t.txt").write_text("\n".join(TEXTS))
    result = cli("inspect", bert[2], "--data", tmp_path / "t.txt", "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert info["format"] == "transformers model folder (BertModel)"
    assert info["kind"] == "embedding" and info["encoder"] == "forward" and info["decoder"] is None
    assert info["latent_dim"] == 16
    assert any(layer["name"] == "encoder.layer.1" and layer["output_shape"][-1] == 16 for layer in info["layers"])
