"""Encoding throughput against a bare torch loop, and peak memory at 1M inputs.

1. The demo VAE on N shapes-like images (default 50,000, 32x32): ``latentviz.encode`` (data
   read from a memory-mapped .npy, shards, parquet, thumbnails) against a bare
   ``torch.inference_mode()`` loop over the same tensors with the same batch size. Prints the
   ratio (goal >= 0.9).
2. Peak memory of encoding 1M small inputs (64 floats) from a memory-mapped .npy with a small
   MLP, in a fresh process, beyond the process's memory with the model loaded (goal < 2 GB).

    python benchmarks/encode.py [--n 50000] [--big 1000000] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def bare_loop(model, x: torch.Tensor, batch_size: int) -> float:
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            model.encode(x[start : start + batch_size])
    return time.perf_counter() - started


REPEATS = 3  # each side is timed this many times and the best time is kept (a 2-core box is noisy)


def _timed_encode(model, source, out: Path, batch_size: int) -> float:
    from latentviz.encode import EncodeOptions, encode

    started = time.perf_counter()
    encode(model, source, out, EncodeOptions(batch_size=batch_size, quiet=True, overwrite=True))
    return time.perf_counter() - started


def throughput(n: int, batch_size: int, workdir: Path) -> dict:
    from latentviz.data.shapes import Shapes
    from latentviz.models import load_model
    from latentviz.models.demo_vae import DemoVAE

    shapes = Shapes(size=32, scales=4, rotations=8, positions=8)
    index = np.arange(n) % len(shapes)
    images = np.concatenate([shapes.render(shapes.factors_of(index[s : s + 4096])) for s in range(0, n, 4096)])
    np.save(workdir / "x.npy", images)
    torch.manual_seed(0)
    torch.save(DemoVAE().state_dict(), workdir / "vae.pt")
    model = load_model(str(workdir / "vae.pt"), factory="latentviz.models.demo_vae:DemoVAE")
    x = torch.from_numpy(images)
    bare_loop(model.module, x[:2048], batch_size)  # warm-up
    results = {}
    for thumbs in (True, False):
        from latentviz.data import open_source

        source = open_source(str(workdir / "x.npy"))
        if not thumbs:
            source.image = False  # the same tensors, without making thumbnails
        t_bare = min(bare_loop(model.module, x, batch_size) for _ in range(REPEATS))
        t_ours = min(_timed_encode(model, source, workdir / f"run-{thumbs}", batch_size) for _ in range(REPEATS))
        results["with thumbnails" if thumbs else "without thumbnails"] = {
            "bare_s": round(t_bare, 2),
            "latentviz_s": round(t_ours, 2),
            "ratio": round(t_bare / t_ours, 3),
            "latentviz_samples_per_s": round(n / t_ours),
        }
    return results


def _high_water_mib() -> float:
    """This process's peak resident memory (Linux VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found: this benchmark reads Linux's /proc")


def _peak_child(npy: str, out: str) -> None:
    """Runs in a fresh process: report peak RSS (VmHWM) beyond the RSS with the model loaded."""

    from latentviz.data import open_source
    from latentviz.encode import EncodeOptions, encode
    from latentviz.models import LatentModel

    mlp = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 16))
    model = LatentModel(mlp, spec={"form": "in-process"})
    source = open_source(npy)
    baseline = _high_water_mib()
    started = time.perf_counter()
    encode(model, source, out, EncodeOptions(batch_size=4096, quiet=True, overwrite=True))
    peak = _high_water_mib()
    print(
        json.dumps(
            {
                "baseline_mib": round(baseline),
                "peak_mib": round(peak),
                "beyond_model_mib": round(peak - baseline),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


def peak_memory(n: int, workdir: Path) -> dict:
    path = workdir / "big.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 64))
    for start in range(0, n, 100_000):
        x[start : start + 100_000] = np.random.default_rng(start).normal(size=(min(100_000, n - start), 64))
    x.flush()
    del x
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import encode as b; b._peak_child({str(path)!r}, {str(workdir / 'big-run')!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {"n": n, "input_file_mib": round(os.path.getsize(path) / 2**20), **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, r in throughput(args.n, args.batch_size, work).items():
            print(
                f"demo VAE, n={args.n}, batch {args.batch_size}, {name}: bare loop {r['bare_s']} s, "
                f"latentviz encode {r['latentviz_s']} s ({r['latentviz_samples_per_s']}/s), ratio {r['ratio']}"
            )
        if args.big:
            r = peak_memory(args.big, work)
            print(
                f"memory-mapped .npy of {r['n']} x 64 ({r['input_file_mib']} MiB): peak RSS {r['peak_mib']} MiB, "
                f"{r['beyond_model_mib']} MiB beyond the loaded model, {r['seconds']} s"
            )


if __name__ == "__main__":
    main()
