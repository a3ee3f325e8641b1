"""Which device computes: ``auto`` picks CUDA, then MPS, then the CPU.

Importing torch takes about 2 s on a small machine, and a projection or metric on the CPU never
needs it (numpy does that work). So :func:`resolve_device` answers ``"cpu"`` without importing
torch where no GPU can exist (Linux with none of the NVIDIA, ROCm or WSL device nodes), and asks
torch everywhere else.
"""

from __future__ import annotations

import os
import re
import sys

import numpy as np

from latentviz.errors import InputError

DEVICES = ("auto", "cpu", "cuda", "mps")

# Device nodes through which torch reaches a GPU on Linux: NVIDIA's driver, ROCm's, WSL2's.
_LINUX_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def resolve_device(device="auto") -> str:
    """The device name that computes: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    ``device`` is ``auto``, one of those names, or a ``torch.device``. Raises
    :class:`~latentviz.errors.InputError` for an unknown name or a device this machine lacks.
    """
    if not isinstance(device, str):
        return str(device)
    if device == "auto":
        if not gpu_possible():
            return "cpu"
        import torch

        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available(torch) else "cpu"
    if device == "cpu":
        return device
    if device == "mps":
        import torch

        if not _mps_available(torch):
            raise InputError("device mps: no Apple GPU is available here; use device 'auto' or 'cpu'")
        return device
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise InputError(f"device: unknown value '{device}'; choose from {', '.join(DEVICES)}")
    if not gpu_possible() or not _cuda_available():
        raise InputError(f"device {device}: no CUDA device is available here; use device 'auto' or 'cpu'")
    return device


def torch_device(device="auto"):
    """:func:`resolve_device` as a ``torch.device``."""
    import torch

    return torch.device(resolve_device(device))


def gpu_possible() -> bool:
    """False where torch could not find a GPU, known without importing it; True means: ask torch."""
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(node) for node in _LINUX_GPU_NODES)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def array_engine(device="auto"):
    """Block arithmetic on ``device``: numpy on the CPU (no torch import), torch on a GPU.

    Both engines take the same expressions (``@``, ``.T``, in-place ``+=``,
    ``.sum(axis=..., keepdims=...)``), so a chunked computation is written once.
    """
    name = resolve_device(device)
    return NumpyEngine() if name == "cpu" else TorchEngine(name)


class NumpyEngine:
    """The CPU engine: plain numpy (its BLAS matmul beats torch's on the CPU)."""

    name = "cpu"

    def asarray(self, x, dtype: str = "float32"):
        return np.asarray(x, dtype=dtype)

    def numpy(self, a) -> np.ndarray:
        return np.asarray(a)


class TorchEngine:
    """A GPU engine (CUDA or MPS; MPS has no float64, so it computes those in float32)."""

    def __init__(self, name: str):
        import torch

        self.torch = torch
        self.name = name
        self.device = torch.device(name)

    def asarray(self, x, dtype: str = "float32"):
        torch = self.torch
        wanted = torch.float64 if dtype == "float64" and self.device.type != "mps" else torch.float32
        return torch.as_tensor(np.asarray(x), dtype=wanted, device=self.device)

    def numpy(self, a) -> np.ndarray:
        return a.cpu().numpy()

    def smallest(self, values, m: int) -> np.ndarray:
        """Column indices of the ``m`` smallest values of each row, nearest first."""
        return self.torch.topk(values, m, dim=1, largest=False).indices.cpu().numpy()
