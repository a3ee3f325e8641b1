"""Projections: two baselines against ``latentviz project`` on the same data, each side in a fresh process.

Data: a 12-cluster gaussian mixture in d dimensions (seeded), written once as a run folder and a
``.npy``. Every side runs in its own fresh Python process, so each pays its own imports and numba
compilation as a user does, and is timed from the outside:

- standard: scikit-learn ``PCA`` and ``TSNE``, umap-learn ``UMAP`` with defaults (each computing
  its own neighbours; only up to ``--standard-max`` points) and scikit-learn ``trustworthiness``
  of each map on all points (up to 20k: it holds an n x n matrix);
- informed: ``PCA``, openTSNE ``TSNE(n_jobs=cores)``, umap-learn ``UMAP(n_jobs=cores)`` (unseeded,
  so its epochs run in parallel) and scikit-learn ``trustworthiness`` on a seeded 5k sample;
- ours: ``latentviz project RUN --quiet`` (PCA, t-SNE, UMAP over one shared kNN graph, with
  trustworthiness and kNN preservation on a 5k sample).

Every map is then scored here with the same seeded 5k-sample trustworthiness, so the columns
compare like with like.

    python benchmarks/projections.py --n 20000 --d 24 --repeats 3   # three sides, both ratios
    python benchmarks/projections.py --n 1000000 --d 64 --standard-max 0 --informed-max 0   # ours only
    python benchmarks/projections.py --knn 20000,50000,100000   # exact vs pynndescent, recall
    python benchmarks/projections.py --cold-warm           # 1k-point run, fresh numba cache vs warm
    python benchmarks/projections.py --n 80000 --d 64 --sample 20000 --standard-max 0 --informed-max 0 \
        --dask local:2   # ours on a 2-worker LocalCluster: peak memory per process, points placed/s/worker
    python benchmarks/projections.py --place-rate --dask local:2 --n 420000 --d 64 --sample 20000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# scikit-learn's trustworthiness holds an n x n distance matrix: 3.2 GB at 20k, 80 GB at 100k.
SKLEARN_TRUSTWORTHINESS_MAX = 20_000


def mixture(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(12, d)) * 4.0
    labels = rng.integers(0, 12, n)
    z = np.empty((n, d), np.float32)
    for start in range(0, n, 1_000_000):  # the same draws as one call, without n x d float64 temporaries
        rows = slice(start, start + 1_000_000)
        z[rows] = centers[labels[rows]] + rng.normal(size=(len(labels[rows]), d))
    return z, labels


def write_run(path: Path, z: np.ndarray, labels: np.ndarray) -> Path:
    import pyarrow as pa

    from latentviz.run import write_json, write_table

    columns = {"id": pa.array(np.arange(len(z)).astype(str)), "label": pa.array(labels)}
    columns.update({f"z_{j}": pa.array(z[:, j]) for j in range(z.shape[1])})
    write_table(path / "latents.parquet", pa.table(columns))
    write_json(path / "manifest.json", {"complete": True, "n": len(z), "latent_dim": z.shape[1]})
    return path


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def baseline(side: str, folder: Path) -> None:
    """One baseline side, run in its own process: maps to ``folder/<side>_<method>.npy``, seconds per step printed."""
    cores = os.cpu_count() or 1
    z = np.load(folder / "z.npy")
    steps = {}
    tick = time.perf_counter()
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness

    if side == "standard":
        import umap
        from sklearn.manifold import TSNE

        fits = {
            "pca": lambda: PCA(2).fit_transform(z),
            "tsne": lambda: TSNE(2, random_state=0).fit_transform(z),
            "umap": lambda: umap.UMAP(random_state=0).fit_transform(z),
        }
        rows = np.arange(len(z)) if len(z) <= SKLEARN_TRUSTWORTHINESS_MAX else None
    else:
        import openTSNE
        import umap

        fits = {
            "pca": lambda: PCA(2).fit_transform(z),
            "tsne": lambda: np.asarray(openTSNE.TSNE(n_jobs=cores, random_state=0).fit(z)),
            "umap": lambda: umap.UMAP(n_jobs=cores).fit_transform(z),
        }
        rows = np.random.default_rng(0).choice(len(z), min(5000, len(z)), replace=False)
    steps["imports"] = time.perf_counter() - tick
    for method, fit in fits.items():
        tick = time.perf_counter()
        embedding = fit()
        steps[method] = time.perf_counter() - tick
        np.save(folder / f"{side}_{method}.npy", embedding)
        if rows is not None:
            tick = time.perf_counter()
            value = trustworthiness(z[rows], embedding[rows], n_neighbors=10)
            steps[f"trustworthiness {method}"] = time.perf_counter() - tick
            print(f"own trustworthiness {method} {value:.4f}")
    print("steps " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    print(f"peak memory {peak_gb():.2f} GB", flush=True)


def side_process(
    side: str, folder: Path, run: Path, sample: int | None, dask: str | None = None, log: Path | None = None
) -> tuple[float, str]:
    """Run one side in a fresh process; its wall-clock seconds and its output (with ``dask``: and the peak
    memory of the process and of each of its worker processes, polled every 0.2 s; with ``log`` too: its
    progress, stage by stage, written to that file as it happens)."""
    if side == "ours":
        command = [sys.executable, "-m", "latentviz", "project", str(run)] + ([] if log else ["--quiet"])
        command += [] if sample is None else ["--sample", str(sample)]
        command += [] if dask is None else ["--dask", dask]
    else:
        command = [sys.executable, __file__, "--side", side, "--folder", str(folder)]
    start = time.perf_counter()
    if dask is None:
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        return time.perf_counter() - start, done.stdout
    import psutil

    err_to = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - closed when the child exits
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err_to, text=True)
    peaks: dict[int, tuple[str, int]] = {}
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            for proc in [psutil.Process(child.pid), *psutil.Process(child.pid).children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    line = " ".join(proc.cmdline())
                    name = (
                        "driver"
                        if proc.pid == child.pid
                        else f"worker {proc.pid}"
                        if "multiprocessing" in line and "resource_tracker" not in line
                        else "helper"
                    )
                    peaks[proc.pid] = (name, max(peaks.get(proc.pid, ("", 0))[1], proc.memory_info().rss))
        time.sleep(0.2)
    out, err = child.communicate()
    if log:
        err_to.close()
    if child.returncode:
        raise SystemExit(f"ours failed: {err.strip()}")
    memory = "; ".join(f"{name} {rss / 2**30:.2f} GB" for name, rss in sorted(peaks.values(), key=lambda p: -p[1]))
    return time.perf_counter() - start, out + f"\npeak memory per process: {memory}"


def compare(
    n: int,
    d: int,
    standard_max: int,
    informed_max: int,
    repeats: int,
    sample: int | None,
    dask: str | None = None,
    log: Path | None = None,
) -> None:
    import pandas as pd

    from latentviz.projection import embedding_quality
    from latentviz.run import Run

    z, labels = mixture(n, d)
    load = os.getloadavg()[0]
    print(f"n={n} d={d} cores={os.cpu_count()} load average {load:.1f} at the start", flush=True)
    sides = [s for s, limit in (("standard", standard_max), ("informed", informed_max)) if n <= limit] + ["ours"]
    seconds = {side: [] for side in sides}
    cpu_seconds = {side: [] for side in sides}  # user + system: on a shared machine the steadier measure of work
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "z.npy", z)
        run = write_run(folder / "run", z, labels)
        for _ in range(repeats):
            for side in sides:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                ours = side == "ours"
                wall, out = side_process(side, folder, run, sample, dask if ours else None, log if ours else None)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                seconds[side].append(wall)
                cpu_seconds[side].append(cpu)
                print(
                    f"  {side:<9} {wall:7.1f} s wall, {cpu:7.1f} s CPU, load {os.getloadavg()[0]:.1f}   "
                    f"{out.strip().replace(chr(10), '; ')}",
                    flush=True,
                )
        manifest = Run(run).manifest
        stored = pd.read_parquet(run / "projections.parquet")
        maps = {("ours", m): stored[[f"{m}_0", f"{m}_1"]].to_numpy() for m in ("pca", "tsne", "umap")}
        for side in sides[:-1]:
            maps.update({(side, m): np.load(folder / f"{side}_{m}.npy") for m in ("pca", "tsne", "umap")})
    print(f"load average {os.getloadavg()[0]:.1f} at the end (2 cores: above 2 means contention)")
    median = {side: statistics.median(values) for side, values in seconds.items()}
    print("median seconds: " + ", ".join(f"{side} {value:.1f}" for side, value in median.items()))
    cpu = {side: statistics.median(values) for side, values in cpu_seconds.items()}
    print("median CPU seconds: " + ", ".join(f"{side} {value:.1f}" for side, value in cpu.items()))
    for side in sides[:-1]:
        print(
            f"ours is {median[side] / median['ours']:.2f}x faster than {side} "
            f"({cpu[side] / cpu['ours']:.2f}x less CPU time)"
        )
    graph = manifest["neighbors"]
    print(
        f"ours: kNN graph {graph['method']} k={graph['k']} {graph['seconds']:.1f} s; "
        + "; ".join(
            f"{m} {e['seconds']:.1f} s (fitted on {e['fitted_on']}, placed {e['placed_by_transform']}"
            + (f", {e['iterations_used']} iterations" if "iterations_used" in e else "")
            + (", beside t-SNE" if e.get("beside_tsne") else "")
            + (
                f", placed on Dask in {e['placed_on_dask']['seconds']:.1f} s over {e['placed_on_dask']['workers']} "
                f"workers: {e['placed_on_dask']['points_per_second_per_worker']:,.0f} points/s/worker"
                if e.get("placed_on_dask")
                else ""
            )
            + ")"
            for m, e in manifest["projections"].items()
        )
    )
    print("trustworthiness@10, every map on the same seeded 5k sample:")
    for method in ("pca", "tsne", "umap"):
        values = {side: embedding_quality(z, maps[side, method], labels=labels)["trustworthiness"] for side in sides}
        print(f"  {method:<5} " + "  ".join(f"{side} {value:.4f}" for side, value in values.items()))


def knn_scan(sizes: list[int], d: int, k: int) -> None:
    from latentviz.neighbors import knn, recall

    for n in sizes:
        z, _ = mixture(n, d)
        start = time.perf_counter()
        exact = knn(z, k, method="exact")
        t_exact = time.perf_counter() - start
        start = time.perf_counter()
        approximate = knn(z, k, method="pynndescent", random_state=0)
        t_approx = time.perf_counter() - start
        print(
            f"n={n} d={d} k={k}: exact {t_exact:.1f} s, pynndescent {t_approx:.1f} s, "
            f"recall {recall(approximate, exact):.4f}",
            flush=True,
        )


def place_rate(spec: str, n: int, d: int, sample: int) -> None:
    """Points placed per second per worker on a warm cluster: t-SNE and UMAP fitted on ``sample`` points here,
    the other n - sample placed over 200,000-row shards after one small shard per worker warmed it."""
    from latentviz.neighbors import knn, search_index
    from latentviz.projection import TSNE, UMAP
    from latentviz.projection._dask import _import_cached, dask_client, place

    z = mixture(n, d)[0].astype(np.float32)
    fit, rest = z[:sample], z[sample:]
    graph, index = knn(fit, 30), search_index(fit, n_queries=len(rest))
    print(
        f"{len(rest):,} to place against {sample:,} ({type(index).__name__}); load {os.getloadavg()[0]:.1f}", flush=True
    )
    with dask_client(spec) as client:
        client.run(_import_cached, ["umap", "openTSNE"])
        for projector in (TSNE(2, perplexity=10), UMAP(2)):
            projector.fit(fit, neighbors=graph)
            place(client, projector, rest[:2000], index, k=15, shard_rows=1000)  # one small shard on each worker
            record: dict = {}
            place(client, projector, rest, index, k=15, shard_rows=200_000, record=record)
            print(f"{projector.name}: {record}; load {os.getloadavg()[0]:.1f}", flush=True)


def cold_warm(repeats: int = 5) -> None:
    """``latentviz project`` of a 1k-point run in fresh processes: with an empty numba cache, then after the
    set-up step (``python -m latentviz.projection.warmup``, which ``make`` runs after installing), then warm."""
    z, labels = mixture(1000, 32)
    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp) / "run", z, labels)

        def timed(command, cache: str) -> str:
            """Wall-clock and CPU seconds of ``python -m COMMAND`` with its own numba cache folder."""
            env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / cache)}
            before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run([sys.executable, "-m", *command], env=env, check=True, stdout=subprocess.DEVNULL)
            wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            return f"{wall:.2f} s ({cpu:.2f} s CPU, load {os.getloadavg()[0]:.1f})"

        project = ["latentviz", "project", str(run), "--quiet"]
        print(f"  cold, empty cache, no set-up: {timed(project, 'a')}", flush=True)
        print(f"  set-up step (warmup) into an empty cache: {timed(['latentviz.projection.warmup'], 'b')}", flush=True)
        print(f"  first project after set-up: {timed(project, 'b')}", flush=True)
        for _ in range(repeats):
            print(f"  warm: {timed(project, 'b')}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--sample", type=int, default=None, help="ours: --sample")
    parser.add_argument("--standard-max", type=int, default=20000)
    parser.add_argument("--informed-max", type=int, default=100000)
    parser.add_argument("--repeats", type=int, default=1, help="times each side runs (the median is compared)")
    parser.add_argument("--side", choices=("standard", "informed"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--knn", metavar="N,N,..", help="exact vs pynndescent at these sizes, with recall")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--cold-warm", action="store_true")
    parser.add_argument("--dask", metavar="ADDRESS|local:N", help="ours: project --dask")
    parser.add_argument("--log", type=Path, help="with --dask: ours' progress (stderr) to this file as it runs")
    parser.add_argument(
        "--place-rate",
        action="store_true",
        help="with --dask: points placed per second per worker on the warm cluster (--n, --d, --sample)",
    )
    args = parser.parse_args()
    if args.side:
        baseline(args.side, args.folder)
    elif args.knn:
        knn_scan([int(v) for v in args.knn.split(",")], args.d, args.k)
    elif args.place_rate:
        place_rate(args.dask or "local:2", args.n, args.d, args.sample or 20_000)
    elif args.cold_warm:
        cold_warm()
    else:
        compare(args.n, args.d, args.standard_max, args.informed_max, args.repeats, args.sample, args.dask, args.log)


if __name__ == "__main__":
    main()
