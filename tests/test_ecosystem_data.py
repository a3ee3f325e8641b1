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
    assert "unexpected" not in result.err and len(result.err.strip().splitlines()) == 1


def test_metadata_joins_by_word(cli, word2vec, tmp_path):
    wv, folder = word2vec
    words = wv.index_to_key
    pd.DataFrame({"id": words[::-1][:40], "freq": np.arange(40), "label": [f"L{i % 3}" for i in range(40)]}).to_csv(
        tmp_path / "meta.csv", index=False)
    result = cli("import", folder / "w.bin", "--out", tmp_path / "run", "--metadata", tmp_path / "meta.csv")
    assert result.code == 0, result.err
    table = Run(tmp_path / "run").latents.set_index("id")
    expected = dict(zip(words[::-1][:40], range(40)))
    assert table.loc[words[-1], "freq"] == 0 and table.loc[words[-5], "freq"] == expected[words[-5]]
    assert table.loc[words[0], "freq"] != table.loc[words[0], "freq"]  # not in the table: missing (NaN)
    assert table.loc[words[-2], "label"] == "L1"


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
    cases = {("--columns", "e*"): [f"e{i}" for i in range(6)], ("--columns", "e1:e3"): ["e1", "e2", "e3"],
             ("--columns", "e4,e0:e1,count"): ["e4", "e0", "e1", "count"],
             (): [f"e{i}" for i in range(6)] + ["score"]}
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
        assert result.code == 2 and "--columns" in result.err and "unexpected" not in result.err


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
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", str(port),
             "--host", "127.0.0.1", "--load_fast", "false", "--reload_interval", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

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
        np.testing.assert_array_equal(np.asarray(sprite.convert("L"))[:cell, cell:2 * cell], first)
