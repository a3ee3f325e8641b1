"""Embeddings and data sets made by the real libraries (gensim, datasets, tensorboard) load and equal their own values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentviz.run import Run

gensim = pytest.importorskip("gensim")


@pytest.fixture(scope="module")
def word2vec(tmp_path_factory):
    """A Word2Vec trained on a seeded generated corpus, saved in every form its users have."""
    from gensim.models import Word2Vec

    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(60)]
    corpus = [[vocabulary[j] for j in rng.integers(0, 60, size=12)] for _ in range(300)]
    model = Word2Vec(corpus, vector_size=8, window=3, min_count=1, workers=1, seed=1, epochs=2)
    folder = tmp_path_factory.mktemp("w2v")
    model.save(str(folder / "w.model"))
    model.wv.save(str(folder / "w.kv"))
    model.wv.save_word2vec_format(str(folder / "w.bin"), binary=True)
    model.wv.save_word2vec_format(str(folder / "w.vec"), binary=False)
    model.wv.save_word2vec_format(str(folder / "glove.txt"), binary=False, write_header=False)
    return model.wv, folder


@pytest.mark.parametrize("name", ["w.model", "w.kv", "w.bin", "w.vec", "glove.txt"])
def test_every_word_vector_form_imports_as_keyed_vectors(cli, word2vec, tmp_path, name):
    wv, folder = word2vec
    extra = ["--trust-checkpoint"] if name.endswith((".model", ".kv")) else []
    result = cli("import", folder / name, "--out", tmp_path / "run", *extra)
    assert result.code == 0, result.err
    run = Run(tmp_path / "run")
    assert list(run.ids) == list(wv.index_to_key)
    assert list(run.labels) == list(wv.index_to_key)
    assert np.allclose(run.z, wv.vectors, atol=1e-6)
    assert run.manifest["n"] == len(wv.index_to_key) and run.manifest["data"]["kind"] == "word_vectors"


@pytest.mark.parametrize("name", ["w.model", "w.kv"])
def test_pickled_gensim_files_need_trust(cli, word2vec, tmp_path, name):
    result = cli("import", word2vec[1] / name, "--out", tmp_path / "run")
    assert result.code == 2 and "--trust-checkpoint" in result.err and "pickle" in result.err
    assert not (tmp_path / "run" / "latents.parquet").exists()


def test_torch_bin_is_not_called_a_pickle(cli, tmp_path):
    import torch

    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    result = cli("import", tmp_path / "pytorch_model.bin", "--out", tmp_path / "run")
    assert result.code == 2 and "word2vec binary" in result.err and "latentviz encode" in result.err
    assert "error: unexpected" not in result.err and len(result.err.strip().splitlines()) == 1


def test_metadata_joins_by_word(cli, word2vec, tmp_path):
    wv, folder = word2vec
    words = wv.index_to_key
    pd.DataFrame({"id": words[::-1][:40], "freq": np.arange(40), "label": [f"L{i % 3}" for i in range(40)]}).to_csv(
        tmp_path / "meta.csv", index=False
    )
    result = cli("import", folder / "w.bin", "--out", tmp_path / "run", "--metadata", tmp_path / "meta.csv")
    assert result.code == 0, result.err
    table = Run(tmp_path / "run").latents.set_index("id")
    expected = dict(zip(words[::-1][:40], range(40), strict=True))
    assert table.loc[words[-1], "freq"] == 0 and table.loc[words[-5], "freq"] == expected[words[-5]]
    assert table.loc[words[0], "freq"] != table.loc[words[0], "freq"]  # not in the table: missing (NaN)
    assert table.loc[words[-2], "label"] == "L1"
    pd.DataFrame({"word": words}).to_csv(tmp_path / "no_id.csv", index=False)
    result = cli("import", folder / "w.bin", "--out", tmp_path / "bad", "--metadata", tmp_path / "no_id.csv")
    assert result.code == 2 and "needs an 'id' column" in result.err


def test_project_cosine_graph_and_quality_follow_the_metric(cli, word2vec, tmp_path):
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    wv, folder = word2vec
    assert cli("import", folder / "w.vec", "--out", tmp_path / "run").code == 0
    result = cli("project", tmp_path / "run", "--methods", "pca", "--metric", "cosine", "--k", "5", "--quiet")
    assert result.code == 0, result.err
    run = Run(tmp_path / "run")
    graph = np.load(tmp_path / "run" / "neighbors.npz")
    distances, indices = NearestNeighbors(n_neighbors=6, metric="cosine").fit(wv.vectors).kneighbors(wv.vectors)
    np.testing.assert_array_equal(graph["indices"], indices[:, 1:])
    np.testing.assert_allclose(graph["distances"], distances[:, 1:], atol=1e-5)
    assert run.manifest["neighbors"]["metric"] == "cosine"
    coords = run.projections[["pca_0", "pca_1"]].to_numpy()
    expected = trustworthiness(wv.vectors, coords, n_neighbors=10, metric="cosine")
    assert run.manifest["projections"]["pca"]["trustworthiness"] == pytest.approx(expected, abs=1e-9)
    assert expected != pytest.approx(trustworthiness(wv.vectors, coords, n_neighbors=10), abs=1e-6)


def test_table_columns_take_globs_and_ranges_and_keep_integers_as_metadata(cli, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 6)).astype(np.float32), columns=[f"e{i}" for i in range(6)])
    frame = frame.assign(count=np.arange(20), score=rng.normal(size=20), name=[f"n{i}" for i in range(20)])
    frame.to_parquet(tmp_path / "t.parquet")
    cases = {
        ("--columns", "e*"): [f"e{i}" for i in range(6)],
        ("--columns", "e1:e3"): ["e1", "e2", "e3"],
        ("--columns", "e4,e0:e1,count"): ["e4", "e0", "e1", "count"],
        (): [f"e{i}" for i in range(6)] + ["score"],
    }
    for i, (option, expected) in enumerate(cases.items()):
        result = cli("import", tmp_path / "t.parquet", "--out", tmp_path / f"r{i}", *option)
        assert result.code == 0, result.err
        run = Run(tmp_path / f"r{i}")
        np.testing.assert_array_equal(run.z, frame[expected].to_numpy(np.float32))
        assert f"latents from {len(expected)} column(s) {', '.join(expected)}" in result.err
        assert "count" in run.latents.columns or "count" in expected
    quiet = cli("import", tmp_path / "t.parquet", "--out", tmp_path / "rq", "--quiet")
    assert quiet.code == 0 and "latents from" not in quiet.err
    for bad in ("x*", "e4:e9", "nope"):
        result = cli("import", tmp_path / "t.parquet", "--out", tmp_path / "bad", "--columns", bad)
        assert result.code == 2 and "--columns" in result.err and "error: unexpected" not in result.err


@pytest.fixture
def tensorboard_server():
    """Start ``tensorboard --logdir DIR`` on a free loopback port; yields a GET function; always killed."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    pytest.importorskip("tensorboard")
    processes = []

    def start(logdir):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tensorboard.main",
                    "--logdir",
                    str(logdir),
                    "--port",
                    str(port),
                    "--host",
                    "127.0.0.1",
                    "--load_fast",
                    "false",
                    "--reload_interval",
                    "1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

        def get(route: str) -> bytes:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/projector/{route}", timeout=10) as reply:
                return reply.read()

        deadline = time.monotonic() + 90
        while True:
            try:
                get("runs")
                return get
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or processes[-1].poll() is not None:
                    raise AssertionError("tensorboard did not answer within 90 s") from None
                time.sleep(0.3)

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=30)


def test_tensorboard_shows_exports_side_by_side_with_our_maps(cli, tmp_path, tensorboard_server):
    import io
    import json
    import time
    import urllib.parse

    from conftest import write_report_run
    from PIL import Image

    runs = {}
    for name, seed in (("a", 0), ("b", 1)):
        path = write_report_run(tmp_path / f"run_{name}", n=40, seed=seed)
        result = cli("export", path, tmp_path / "logs" / name, "--format", "tensorboard")
        assert result.code == 0, result.err
        runs[name] = Run(path)
    get = tensorboard_server(tmp_path / "logs")
    deadline = time.monotonic() + 30
    while sorted(listed := json.loads(get("runs"))) != ["a", "b"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert sorted(listed) == ["a", "b"]
    for name, run in runs.items():
        info = json.loads(get(f"info?run={name}"))
        tensors = {e["tensorName"]: e for e in info["embeddings"]}
        assert set(tensors) == {"latents", "pca map", "umap map"}

        def tensor(tensor_name, run_name=name):
            query = urllib.parse.urlencode({"run": run_name, "name": tensor_name})
            return np.frombuffer(get(f"tensor?{query}"), dtype=np.float32)

        latents = pd.read_parquet(run.path / "latents.parquet")
        z = latents[[c for c in latents.columns if c.startswith("z_")]].to_numpy(np.float32)
        np.testing.assert_allclose(tensor("latents").reshape(z.shape), z, rtol=1e-6)
        projections = run.projections.set_index("id").loc[latents["id"]]
        np.testing.assert_allclose(tensor("umap map").reshape(-1, 2), projections[["umap_0", "umap_1"]], rtol=1e-6)
        metadata = get(f"metadata?run={name}&name=latents").decode().splitlines()
        assert metadata[0].split("\t")[:2] == ["id", "label"]
        assert [row.split("\t")[0] for row in metadata[1:]] == list(latents["id"])
        sprite = Image.open(io.BytesIO(get(f"sprite_image?run={name}&name=latents")))
        cell = int(tensors["latents"]["sprite"]["singleImageDim"][0])
        first = np.asarray(Image.open(io.BytesIO(run.thumbnails[run.ids[1]])).convert("L").resize((cell, cell)))
        np.testing.assert_array_equal(np.asarray(sprite.convert("L"))[:cell, cell : 2 * cell], first)


FACTORY = (
    "import torch\n"
    "class Linear(torch.nn.Module):\n"
    "    def __init__(self, d_in=192, d=3):\n"
    "        super().__init__()\n"
    "        self.net = torch.nn.Linear(d_in, d)\n"
    "    def forward(self, x):\n"
    "        return self.net(x.flatten(1).float())\n"
)


@pytest.fixture
def linear(tmp_path):
    """encode(data, out, d_in, *options) through a seeded linear encoder; returns (run, the encoder)."""
    import torch

    (tmp_path / "factory.py").write_text(FACTORY)

    def encode(cli, data, out, d_in, *options):
        torch.manual_seed(0)
        net = torch.nn.Linear(d_in, 3)
        torch.save({f"net.{k}": v for k, v in net.state_dict().items()}, tmp_path / f"lin{d_in}.pt")
        result = cli(
            "encode",
            tmp_path / f"lin{d_in}.pt",
            "--model",
            f"{tmp_path / 'factory.py'}:Linear",
            "--model-kwargs",
            f'{{"d_in": {d_in}}}',
            "--data",
            data,
            "--out",
            out,
            "--quiet",
            *options,
        )
        assert result.code == 0, result.err
        return Run(out), lambda x: net(torch.as_tensor(np.asarray(x, np.float32)).flatten(1)).detach().numpy()

    return encode


@pytest.fixture
def hf_dataset(tmp_path):
    """A datasets.Dataset with an Image column (8x8 RGB PIL images), a ClassLabel and a list column, saved 3 ways."""
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
    vectors = rng.normal(size=(10, 6)).astype(np.float32)
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=["cat", "dog"]),
            "vec": datasets.Sequence(datasets.Value("float32")),
        }
    )
    dataset = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(p) for p in pixels], "label": [i % 2 for i in range(10)], "vec": vectors.tolist()},
        features=features,
    )
    dataset.save_to_disk(str(tmp_path / "saved"))
    dataset.to_parquet(str(tmp_path / "data.parquet"), batch_size=4)  # row groups of 4
    forms = {
        "folder": tmp_path / "saved",
        "arrow": next((tmp_path / "saved").glob("*.arrow")),
        "parquet": tmp_path / "data.parquet",
    }
    return forms, pixels, vectors


def test_hf_image_too_large_to_decode_is_one_line(cli, tmp_path, hf_dataset, monkeypatch):
    import torch
    from PIL import Image

    forms, _, _ = hf_dataset
    (tmp_path / "factory.py").write_text(FACTORY)
    torch.save({f"net.{k}": v for k, v in torch.nn.Linear(192, 3).state_dict().items()}, tmp_path / "lin.pt")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 8x8 > 2 x 10: Pillow's DecompressionBombError
    result = cli(
        "encode",
        tmp_path / "lin.pt",
        "--model",
        f"{tmp_path / 'factory.py'}:Linear",
        "--data",
        forms["parquet"],
        "--out",
        tmp_path / "run",
        "--quiet",
    )
    assert result.code == 2 and "too large to decode safely" in result.err and "unexpected" not in result.err


@pytest.mark.parametrize("form", ["folder", "arrow", "parquet"])
def test_hf_datasets_encode_like_the_images_converted_by_hand(cli, tmp_path, linear, hf_dataset, form):
    forms, pixels, vectors = hf_dataset
    run, model = linear(cli, forms[form], tmp_path / "run", 192, "--batch-size", "3")
    assert np.allclose(run.z, model(pixels.transpose(0, 3, 1, 2) / 255.0), atol=1e-5)
    assert list(run.labels) == ["cat", "dog"] * 5 and list(run.ids) == [str(i) for i in range(10)]
    assert len(run.thumbnails) == 10
    run, model = linear(cli, forms[form], tmp_path / "vec", 6, "--features", "vec")
    assert np.allclose(run.z, model(vectors), atol=1e-5)


def test_pil_and_uint8_items_of_torch_and_hf_datasets(cli, tmp_path, linear, hf_dataset):
    _, pixels, _ = hf_dataset
    np.save(tmp_path / "pixels.npy", pixels)
    (tmp_path / "sets.py").write_text(
        "import numpy as np, torch, datasets\n"
        "from PIL import Image\n"
        f"PIXELS = np.load({str(tmp_path / 'pixels.npy')!r})\n"
        "def pil():\n    return [(Image.fromarray(p), i % 2) for i, p in enumerate(PIXELS)]\n"
        "def uint8_hwc():\n    return [torch.from_numpy(p) for p in PIXELS]\n"
        f"def hf():\n    return datasets.load_from_disk({str(tmp_path / 'saved')!r})\n"
    )
    expected = pixels.transpose(0, 3, 1, 2) / 255.0
    for name in ("pil", "uint8_hwc", "hf"):
        run, model = linear(cli, f"{tmp_path / 'sets.py'}:{name}", tmp_path / name, 192)
        assert np.allclose(run.z, model(expected), atol=1e-5), name


def _pil_resize(images: np.ndarray, size) -> np.ndarray:
    """The reference: PIL's bilinear resize of each float channel ("F" mode)."""
    from PIL import Image

    return np.stack(
        [
            np.stack(
                [
                    np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize(size[::-1], Image.BILINEAR))
                    for c in image
                ]
            )
            for image in images
        ]
    )


def test_image_size_and_channels_apply_to_arrays_and_folders(cli, tmp_path, linear):
    from PIL import Image

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(5, 12, 20, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", rgb)
    luma = np.tensordot(rgb.transpose(0, 3, 1, 2) / 255.0, [0.299, 0.587, 0.114], axes=([1], [0]))[:, None]
    run, model = linear(cli, tmp_path / "rgb.npy", tmp_path / "a", 64, "--image-size", "8x8", "--channels", "1")
    assert np.allclose(run.z, model(_pil_resize(luma, (8, 8))), atol=1e-4)
    run, model = linear(cli, tmp_path / "rgb.npy", tmp_path / "b", 3 * 6 * 10, "--image-size", "6x10")
    assert np.allclose(run.z, model(_pil_resize(rgb.transpose(0, 3, 1, 2) / 255.0, (6, 10))), atol=1e-4)

    gray = rng.integers(0, 256, size=(4, 8, 8), dtype=np.uint8)
    (tmp_path / "gray").mkdir()
    for i, image in enumerate(gray):
        Image.fromarray(image, mode="L").save(tmp_path / "gray" / f"{i}.png")
    run, model = linear(cli, tmp_path / "gray", tmp_path / "c", 192, "--channels", "3")
    assert np.allclose(run.z, model(np.repeat(gray[:, None] / 255.0, 3, axis=1)), atol=1e-5)

    pd.DataFrame({"a": [0.1, 0.2], "b": [0.3, 0.4]}).to_csv(tmp_path / "t.csv", index=False)
    for option in (("--image-size", "8x8"), ("--channels", "3")):
        result = cli(
            "encode",
            tmp_path / "lin64.pt",
            "--model",
            f"{tmp_path / 'factory.py'}:Linear",
            "--data",
            tmp_path / "t.csv",
            "--out",
            tmp_path / "bad",
            *option,
        )
        assert result.code == 2 and f"{option[0]}: --data" in result.err and "not images" in result.err


def test_data_set_mistakes_are_one_line_errors(cli, tmp_path, linear, hf_dataset):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    forms, _, _ = hf_dataset
    datasets.DatasetDict({"train": datasets.load_from_disk(str(forms["folder"]))}).save_to_disk(str(tmp_path / "dict"))
    pq.write_table(pa.table({"vec": [[1.0, 2.0], [3.0]]}), tmp_path / "ragged.parquet")
    (tmp_path / "junk.arrow").write_bytes(b"not arrow")
    sizes = [Image.new("RGB", (8, 8)), Image.new("RGB", (6, 6))]
    datasets.Dataset.from_dict({"image": sizes}, features=datasets.Features({"image": datasets.Image()})).save_to_disk(
        str(tmp_path / "sizes")
    )
    cases = {
        tmp_path / "dict": "give one split's folder",
        tmp_path / "ragged.parquet": "differ in length",
        tmp_path / "junk.arrow": "not an Arrow file",
        tmp_path / "sizes": "pass --image-size",
    }
    linear(cli, forms["folder"], tmp_path / "ok", 192)  # writes the checkpoint
    for data, message in cases.items():
        result = cli(
            "encode",
            tmp_path / "lin192.pt",
            "--model",
            f"{tmp_path / 'factory.py'}:Linear",
            "--data",
            data,
            "--out",
            tmp_path / "bad",
            "--quiet",
        )
        assert result.code == 2 and message in result.err, (data, result.err)
        assert "error: unexpected" not in result.err and len(result.err.strip().splitlines()) == 1
    run, _ = linear(cli, tmp_path / "sizes", tmp_path / "resized", 192, "--image-size", "8x8")
    assert run.n == 2
    (tmp_path / "bad.vec").write_text("3 2\nw 0.1\n")
    result = cli("import", tmp_path / "bad.vec", "--out", tmp_path / "wv")
    assert (
        result.code == 2 and "not a readable word2vec text file" in result.err and "error: unexpected" not in result.err
    )


def test_builtin_shapes_take_the_same_image_options():
    from latentviz.data import open_source
    from latentviz.data.shapes import from_spec

    spec = "builtin:shapes?size=16&scales=1&rotations=2&positions=2"
    source = open_source(spec, image_size="8x8", channels="3")
    rendered = from_spec(spec).render(from_spec(spec).factors_of(np.arange(4)))
    assert source.item_shape == (3, 8, 8)
    np.testing.assert_allclose(
        source.read(0, 4).x.numpy(), np.repeat(_pil_resize(rendered, (8, 8)), 3, axis=1), atol=1e-5
    )
