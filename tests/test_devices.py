"""Device choice: CPU work runs in numpy without importing torch; the torch (GPU) path gives the same answers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from latentviz import devices
from latentviz.errors import InputError


def test_auto_on_a_machine_without_gpu_nodes_is_cpu_without_torch(monkeypatch):
    monkeypatch.setattr(devices.sys, "platform", "linux")
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(devices.os.path, "exists", lambda path: False)
    assert devices.gpu_possible() is False
    assert devices.resolve_device("auto") == "cpu"
    assert "torch" not in sys.modules
    with pytest.raises(InputError, match="no CUDA device"):
        devices.resolve_device("cuda:0")


def test_gpu_nodes_or_a_loaded_torch_mean_asking_torch(monkeypatch):
    monkeypatch.setattr(devices.sys, "platform", "linux")
    monkeypatch.setattr(devices.os.path, "exists", lambda path: path == "/dev/nvidiactl")
    assert devices.gpu_possible() is True
    monkeypatch.setattr(devices.os.path, "exists", lambda path: False)
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or object())
    assert devices.gpu_possible() is True


@pytest.mark.parametrize(
    "name, message", [("tpu", "unknown value 'tpu'"), ("cuda:x", "unknown value"), ("CPU", "unknown value")]
)
def test_unknown_devices_are_refused(name, message):
    with pytest.raises(InputError, match=message):
        devices.resolve_device(name)


def test_cpu_projection_and_metrics_never_import_torch(tmp_path, make_run):
    """``latentviz project`` on the CPU spends no time importing torch (about 2 s on a small machine)."""
    probe = subprocess.run(
        [sys.executable, "-c", "from latentviz.devices import gpu_possible; print(gpu_possible())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if probe != "False":
        pytest.skip("this machine may have a GPU: auto asks torch")
    rng = np.random.default_rng(0)
    run = make_run(tmp_path / "run", rng.normal(size=(300, 6)), labels=rng.integers(0, 3, 300))
    code = textwrap.dedent(f"""
        import sys
        from latentviz.projection import project
        from latentviz.metrics import knn_preservation, linear_cka, trustworthiness
        result = project({str(run)!r}, methods="pca,tsne,umap", quiet=True)
        z = result.coordinates("pca")
        trustworthiness(z, z[:, :1], 5), knn_preservation(z, z[:, :1], 5), linear_cka(z, z[:, :1])
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def use_torch_engine(monkeypatch):
    """Route the array engine to torch on the CPU: the GPU code path, checkable on any machine."""
    monkeypatch.setattr(devices, "array_engine", lambda device="auto": devices.TorchEngine("cpu"))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_exact_knn_is_the_same_on_the_torch_path(metric, monkeypatch):
    from latentviz.neighbors import knn

    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 9))
    x[5] = x[7]
    on_numpy = knn(x, 12, metric=metric, method="exact", device="cpu")
    use_torch_engine(monkeypatch)
    on_torch = knn(x, 12, metric=metric, method="exact", device="cpu")
    np.testing.assert_array_equal(on_torch.indices, on_numpy.indices)
    np.testing.assert_allclose(on_torch.distances, on_numpy.distances, rtol=1e-6)


def test_pca_is_the_same_on_the_torch_path(monkeypatch):
    from latentviz.projection import PCA

    z = np.random.default_rng(2).normal(size=(500, 7)) @ np.diag([5, 4, 3, 2, 1, 0.5, 0.1])
    on_numpy = PCA(3).fit(z)
    use_torch_engine(monkeypatch)
    on_torch = PCA(3).fit(z)
    np.testing.assert_allclose(on_torch.components_, on_numpy.components_, atol=1e-10)
    np.testing.assert_allclose(on_torch.explained_variance_, on_numpy.explained_variance_, rtol=1e-10)


def test_linear_cka_is_the_same_on_the_torch_path(monkeypatch):
    from latentviz.metrics import linear_cka

    rng = np.random.default_rng(4)
    a = rng.normal(size=(600, 5))
    b = a @ rng.normal(size=(5, 3)) + 0.5 * rng.normal(size=(600, 3))
    on_numpy = linear_cka(a, b)
    use_torch_engine(monkeypatch)
    assert linear_cka(a, b) == pytest.approx(on_numpy, rel=1e-12) and 0.1 < on_numpy < 0.99


def test_smallest_returns_the_m_smallest_per_row_on_the_torch_engine():
    """The GPU engine's selection (the CPU's exact search selects with faiss's heaps instead)."""
    values = np.random.default_rng(3).permutation(60).reshape(4, 15).astype(np.float32)
    expected = [set(np.argsort(row)[:5]) for row in values]
    engine = devices.TorchEngine("cpu")
    found = engine.smallest(engine.asarray(values), 5)
    assert [set(row) for row in found] == expected
    assert engine.smallest(engine.asarray(values), 15).shape == (4, 15)
