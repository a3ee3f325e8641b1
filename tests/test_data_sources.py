"""Each data source round-trips through ``latentviz encode`` into latents.parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from latentviz.data import open_source
from latentviz.data.shapes import FACTOR_NAMES, Shapes, from_spec
from latentviz.run import Run

LINEAR = "linear_factory.py"


@pytest.fixture
def linear_model(tmp_path):
    """A file-defined factory for a linear encoder over flat inputs, and its saved weights."""
    code = (
        "import torch\n"
        "class Linear(torch.nn.Module):\n"
        "    def __init__(self, d_in=6, d=3):\n"
        "        super().__init__()\n"
        "        self.net = torch.nn.Linear(d_in, d)\n"
        "    def forward(self, x):\n"
        "        return self.net(x.flatten(1).float())\n"
    )
    (tmp_path / LINEAR).write_text(code)
    torch.manual_seed(1)
    state = torch.nn.Linear(6, 3).state_dict()
    torch.save({f"net.{k}": v for k, v in state.items()}, tmp_path / "lin.pt")
    return tmp_path


def _encode(cli, folder, data, out, *extra):
    result = cli(
        "encode",
        folder / "lin.pt",
        "--model",
        f"{folder / LINEAR}:Linear",
        "--data",
        data,
        "--out",
        out,
        "--quiet",
        *extra,
    )
    assert result.code == 0, result.err
    return Run(out)


def _direct(folder, x):
    state = torch.load(folder / "lin.pt")
    w, b = state["net.weight"].numpy(), state["net.bias"].numpy()
    return x.reshape(len(x), -1) @ w.T + b


def test_npz_roundtrip_keeps_labels_factors_and_values(cli, linear_model, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    labels = rng.integers(0, 3, 50)
    factors = rng.integers(0, 4, (50, 2))
    np.savez(tmp_path / "d.npz", x=x, labels=labels, factors=factors, factor_names=np.array(["size", "hue"]))
    run = _encode(cli, linear_model, tmp_path / "d.npz", tmp_path / "run")
    assert list(run.ids) == [str(i) for i in range(50)]
    np.testing.assert_array_equal(run.labels, labels)
    assert run.factor_names == ["size", "hue"]
    np.testing.assert_array_equal(run.factors, factors)
    np.testing.assert_allclose(run.z, _direct(linear_model, x), atol=1e-5)


def test_npy_is_memory_mapped_and_roundtrips(cli, linear_model, tmp_path):
    x = np.random.default_rng(1).normal(size=(40, 2, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    source = open_source(str(tmp_path / "x.npy"))
    assert isinstance(source.x, np.memmap)
    run = _encode(cli, linear_model, tmp_path / "x.npy", tmp_path / "run", "--batch-size", "7")
    np.testing.assert_allclose(run.z, _direct(linear_model, x), atol=1e-5)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_numeric_columns_are_input_rest_is_metadata(cli, linear_model, tmp_path, suffix):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(30, 6)), columns=list("abcdef"))
    frame.insert(0, "id", [f"row{i}" for i in range(30)])
    frame["label"] = ["cat", "dog", "eel"] * 10
    frame["site"] = ["x", "y"] * 15
    path = tmp_path / f"t{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    run = _encode(cli, linear_model, path, tmp_path / "run")
    assert list(run.ids) == [f"row{i}" for i in range(30)]
    assert list(run.latents["site"]) == list(frame["site"])
    assert list(run.labels) == list(frame["label"])
    np.testing.assert_allclose(run.z, _direct(linear_model, frame[list("abcdef")].to_numpy(np.float32)), atol=1e-5)


def test_table_features_option_selects_columns(cli, linear_model, tmp_path):
    frame = pd.DataFrame(np.random.default_rng(3).normal(size=(10, 8)), columns=list("abcdefgh"))
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = _encode(cli, linear_model, tmp_path / "t.csv", tmp_path / "run", "--features", "b,c,d,e,f,g")
    np.testing.assert_allclose(run.z, _direct(linear_model, frame[list("bcdefg")].to_numpy(np.float32)), atol=1e-5)
    assert {"a", "h"} <= set(run.latents.columns)


def test_pt_dict_roundtrip(cli, linear_model, tmp_path):
    x = torch.randn(20, 6)
    labels = torch.arange(20) % 2
    torch.save({"x": x, "labels": labels}, tmp_path / "d.pt")
    run = _encode(cli, linear_model, tmp_path / "d.pt", tmp_path / "run")
    np.testing.assert_array_equal(run.labels, labels.numpy())
    np.testing.assert_allclose(run.z, _direct(linear_model, x.numpy()), atol=1e-5)


def test_callable_dataset_items_as_dicts(cli, linear_model, tmp_path):
    (tmp_path / "ds.py").write_text(
        "import torch\n"
        "class DS(torch.utils.data.Dataset):\n"
        "    def __len__(self): return 12\n"
        "    def __getitem__(self, i):\n"
        "        g = torch.Generator().manual_seed(i)\n"
        "        return {'x': torch.randn(6, generator=g), 'label': i % 3, 'weight': float(i) / 2}\n"
        "def make(): return DS()\n"
    )
    run = _encode(cli, linear_model, f"{tmp_path / 'ds.py'}:make", tmp_path / "run")
    x = np.stack([torch.randn(6, generator=torch.Generator().manual_seed(i)).numpy() for i in range(12)])
    np.testing.assert_allclose(run.z, _direct(linear_model, x), atol=1e-5)
    assert list(run.labels) == [i % 3 for i in range(12)]
    assert list(run.latents["weight"]) == [i / 2 for i in range(12)]


def _write_images(root, mode):
    rng = np.random.default_rng(4)
    arrays = {}
    for cls in ("ants", "bees"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            shape = (8, 8) if mode == "L" else (8, 8, 4 if mode == "RGBA" else 3)
            arr = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(arr, mode=mode).save(root / cls / f"{i}.png")
            arrays[f"{cls}/{i}.png"] = arr
    return arrays


@pytest.mark.parametrize("mode,channels", [("L", 1), ("RGB", 3), ("RGBA", 3)])
def test_image_folder_labels_ids_channels(tmp_path, mode, channels):
    arrays = _write_images(tmp_path / "imgs", mode)
    source = open_source(str(tmp_path / "imgs"))
    batch = source.read(0, len(source))
    assert batch.x.shape == (6, channels, 8, 8)
    assert batch.meta["id"] == sorted(arrays)
    assert batch.meta["label"] == ["ants"] * 3 + ["bees"] * 3
    first = arrays["ants/0.png"]
    expected = first[None] if mode == "L" else first[..., :3].transpose(2, 0, 1)
    np.testing.assert_allclose(batch.x[0].numpy(), expected / 255.0, atol=1e-6)


def test_image_folder_resize_and_thumbnails(cli, vae_checkpoint, tmp_path):
    _write_images(tmp_path / "imgs", "L")
    out = tmp_path / "run"
    result = cli(
        "encode",
        vae_checkpoint,
        "--model",
        "latentviz.models.demo_vae:DemoVAE",
        "--data",
        tmp_path / "imgs",
        "--image-size",
        "32x32",
        "--out",
        out,
        "--quiet",
    )
    assert result.code == 0, result.err
    run = Run(out)
    assert sorted(run.thumbnails) == sorted(run.ids) and len(run.ids) == 6
    assert list(run.labels) == ["ants"] * 3 + ["bees"] * 3


def test_image_folder_normalize_matches_direct_call(cli, vae_checkpoint, tmp_path):
    from latentviz.models.demo_vae import DemoVAE

    _write_images(tmp_path / "imgs", "L")
    out = tmp_path / "run"
    result = cli(
        "encode",
        vae_checkpoint,
        "--model",
        "latentviz.models.demo_vae:DemoVAE",
        "--data",
        tmp_path / "imgs",
        "--image-size",
        "32x32",
        "--normalize",
        "0.5,0.25",
        "--out",
        out,
        "--quiet",
    )
    assert result.code == 0, result.err
    model = DemoVAE()
    model.load_state_dict(torch.load(vae_checkpoint))
    x = open_source(str(tmp_path / "imgs"), image_size="32x32").read(0, 6).x
    with torch.no_grad():
        mu, _ = model.eval().encode((x - 0.5) / 0.25)
    np.testing.assert_allclose(Run(out).z, mu.numpy(), atol=1e-5)


def test_shapes_are_deterministic_and_factor_addressable():
    a, b = (
        from_spec("builtin:shapes?size=16&scales=2&rotations=3&positions=4"),
        Shapes(size=16, scales=2, rotations=3, positions=4),
    )
    assert len(a) == 3 * 2 * 3 * 4 * 4
    first, second = a.read(0, len(a)), b.read(0, len(b))
    np.testing.assert_array_equal(first.x.numpy(), second.x.numpy())
    factors = a.factors_of(np.array([5, 77, 100]))
    np.testing.assert_array_equal(a.render(factors), first.x.numpy()[[5, 77, 100]])
    np.testing.assert_array_equal(a.index_of(factors), [5, 77, 100])
    assert first.x.min() >= 0 and first.x.max() <= 1
    assert set(first.meta) >= {"id", "label"} | {f"factor_{n}" for n in FACTOR_NAMES}


def test_shapes_factors_change_the_image():
    shapes = Shapes(size=32, scales=3, rotations=4, positions=5)
    base = np.array([[1, 2, 1, 2, 2]])
    image = shapes.render(base)
    for j in range(5):
        other = base.copy()
        other[0, j] = (other[0, j] + 1) % shapes.factor_sizes[j]
        assert np.abs(shapes.render(other) - image).sum() > 1.0, f"factor {FACTOR_NAMES[j]} does not change the image"
    # a larger scale covers more pixels
    small, large = shapes.render(np.array([[0, 0, 0, 2, 2]])), shapes.render(np.array([[0, 2, 0, 2, 2]]))
    assert large.sum() > small.sum() * 1.5


@pytest.mark.parametrize("shape", [(1, 16, 24), (3, 20, 8), (3, 100, 50)])
def test_thumbnails_decode_to_the_input_pixels(shape):
    import io

    from latentviz.thumbnails import THUMB_SIZE, thumbnails, to_uint8_images

    batch = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    for png, expected in zip(thumbnails(batch), to_uint8_images(batch), strict=True):
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and max(img.size) <= THUMB_SIZE
        if max(shape[1:]) <= THUMB_SIZE:
            np.testing.assert_array_equal(np.asarray(img), expected)


def test_parquet_inputs_stream_by_row_group(cli, linear_model, tmp_path):
    """Rows are read a row group at a time, and batches that straddle row groups come out right."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from latentviz.data.tables import ParquetRows

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(100, 6)).astype(np.float32), columns=list("abcdef"))
    frame["label"] = [f"c{i % 4}" for i in range(100)]
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet", row_group_size=16)
    source = open_source(str(tmp_path / "t.parquet"))
    assert isinstance(source.x, ParquetRows) and source.x.shape == (100, 6)
    np.testing.assert_array_equal(source.x[10:50], frame[list("abcdef")].to_numpy()[10:50])
    run = _encode(cli, linear_model, tmp_path / "t.parquet", tmp_path / "run", "--batch-size", "7")
    np.testing.assert_allclose(run.z, _direct(linear_model, frame[list("abcdef")].to_numpy()), atol=1e-5)
    assert list(run.labels) == list(frame["label"])


def test_pt_plain_tensor_and_npz_with_y(cli, linear_model, tmp_path):
    x = torch.randn(15, 6)
    torch.save(x, tmp_path / "x.pt")
    run = _encode(cli, linear_model, tmp_path / "x.pt", tmp_path / "r1")
    np.testing.assert_allclose(run.z, _direct(linear_model, x.numpy()), atol=1e-5)
    assert run.labels is None and run.factors is None
    np.savez(tmp_path / "d.npz", x=x.numpy(), y=np.arange(15) % 2)
    assert list(_encode(cli, linear_model, tmp_path / "d.npz", tmp_path / "r2").labels) == list(np.arange(15) % 2)


@pytest.mark.parametrize("item", ["x", "tuple"])
def test_callable_dataset_items_as_tensors_or_pairs(cli, linear_model, tmp_path, item):
    body = "return x" if item == "x" else "return x, i % 2"
    (tmp_path / "ds.py").write_text(
        "import torch\n"
        "class DS(torch.utils.data.Dataset):\n"
        "    def __len__(self): return 9\n"
        "    def __getitem__(self, i):\n"
        "        x = torch.randn(6, generator=torch.Generator().manual_seed(i))\n"
        f"        {body}\n"
        "def make(): return DS()\n"
    )
    run = _encode(cli, linear_model, f"{tmp_path / 'ds.py'}:make", tmp_path / "run")
    x = np.stack([torch.randn(6, generator=torch.Generator().manual_seed(i)).numpy() for i in range(9)])
    np.testing.assert_allclose(run.z, _direct(linear_model, x), atol=1e-5)
    assert (run.labels is None) if item == "x" else (list(run.labels) == [i % 2 for i in range(9)])
