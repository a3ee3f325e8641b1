"""Projections: the standard way against ``latentviz project`` on the same data, in one process.

Data: a 10-cluster gaussian mixture in d dimensions (seeded). The standard way is scikit-learn
``PCA``, scikit-learn ``TSNE``, umap-learn ``UMAP`` with defaults (each computing its own
neighbours; only up to ``--standard-max`` points) and scikit-learn ``trustworthiness`` (up to 20k
points: it is O(n^2) in memory). Ours is ``latentviz.project`` with all three methods, which also computes
trustworthiness and kNN preservation on a 5k sample from the shared graph. Every embedding is
also scored with our 5k-sample trustworthiness so the two columns compare like with like.

    python benchmarks/projections.py --n 20000            # standard vs ours, ratios
    python benchmarks/projections.py --n 100000 --standard-max 100000   # tens of minutes on 2 cores
    python benchmarks/projections.py --knn 20000,50000,100000   # exact vs pynndescent, recall
    python benchmarks/projections.py --cold-warm           # 1k-point run, fresh numba cache vs warm
"""

from __future__ import annotations

import argparse
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
    centers = rng.normal(size=(10, d)) * 4.0
    labels = rng.integers(0, 10, n)
    z = centers[labels] + rng.normal(size=(n, d))
    return z.astype(np.float32), labels


def write_run(path: Path, z: np.ndarray, labels: np.ndarray) -> Path:
    import pyarrow as pa

    from latentviz.run import write_json, write_table

    columns = {"id": pa.array(np.arange(len(z)).astype(str)), "label": pa.array(labels)}
    columns.update({f"z_{j}": pa.array(z[:, j]) for j in range(z.shape[1])})
    write_table(path / "latents.parquet", pa.table(columns))
    write_json(path / "manifest.json", {"complete": True, "n": len(z), "latent_dim": z.shape[1]})
    return path


def timed(label: str, fn, results: dict):
    start = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - start
    print(f"  {label:<28} {results[label]:8.1f} s", flush=True)
    return out


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def compare(n: int, d: int, standard_max: int, sample: int | None) -> None:
    from latentviz.projection import embedding_quality, project

    z, labels = mixture(n, d)
    print(f"n={n} d={d} cores={os.cpu_count()}", flush=True)
    standard, ours, quality = {}, {}, {}
    if n <= standard_max:
        import umap
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE, trustworthiness

        print("standard way:")
        maps = {
            "pca": timed("sklearn PCA", lambda: PCA(2).fit_transform(z), standard),
            "tsne": timed("sklearn TSNE", lambda: TSNE(2, random_state=0).fit_transform(z), standard),
            "umap": timed("umap-learn UMAP", lambda: umap.UMAP(random_state=0).fit_transform(z), standard),
        }
        for method, emb in maps.items():
            if n <= SKLEARN_TRUSTWORTHINESS_MAX:
                value = timed(f"sklearn trustworthiness {method}", lambda: trustworthiness(z, emb, n_neighbors=10),
                              standard)
                quality[f"standard {method} (sklearn, all n)"] = value
            quality[f"standard {method} (5k sample)"] = embedding_quality(z, emb, labels=labels)["trustworthiness"]
    print("latentviz project:")
    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp), z, labels)
        result = timed("project pca,tsne,umap", lambda: project(run, seed=0, sample=sample, quiet=True), ours)
        manifest = result.methods
        from latentviz.run import Run

        graph = Run(run).manifest["neighbors"]
        print(f"    kNN graph {graph['method']} k={graph['k']}: {graph['seconds']:.1f} s")
        for method, entry in manifest.items():
            print(f"    {method}: {entry['seconds']:.1f} s (fitted on {entry['fitted_on']}, "
                  f"placed {entry['placed_by_transform']})")
            quality[f"ours {method} (5k sample)"] = entry["trustworthiness"]
    if standard:
        total = sum(standard.values())
        print(f"standard total {total:.1f} s, ours {ours['project pca,tsne,umap']:.1f} s, "
              f"ratio {total / ours['project pca,tsne,umap']:.2f}x")
    print("trustworthiness@10:")
    for key, value in quality.items():
        print(f"  {key:<38} {value:.4f}")
    print(f"peak memory {peak_gb():.2f} GB", flush=True)


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
        print(f"n={n} d={d} k={k}: exact {t_exact:.1f} s, pynndescent {t_approx:.1f} s, "
              f"recall {recall(approximate, exact):.4f}", flush=True)


def cold_warm() -> None:
    """``latentviz project`` of a 1k-point run in fresh processes: empty numba cache, then warm."""
    z, labels = mixture(1000, 32)
    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp) / "run", z, labels)
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
        warm = []
        for label in ("cold",) + ("warm",) * 5:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "latentviz", "project", str(run), "--quiet"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            print(f"  {label}: {seconds:.2f} s", flush=True)
            warm += [seconds] if label == "warm" else []
        print(f"  warm median {statistics.median(warm):.2f} s (goal < 5 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--sample", type=int, default=None)
    parser.add_argument("--standard-max", type=int, default=20000)
    parser.add_argument("--knn", metavar="N,N,..", help="exact vs pynndescent at these sizes, with recall")
    parser.add_argument("--k", type=int, default=30)
    parser.add_argument("--cold-warm", action="store_true")
    args = parser.parse_args()
    if args.knn:
        knn_scan([int(v) for v in args.knn.split(",")], args.d, args.k)
    elif args.cold_warm:
        cold_warm()
    else:
        compare(args.n, args.d, args.standard_max, args.sample)


if __name__ == "__main__":
    main()
