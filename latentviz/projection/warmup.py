"""Compile the numba kernels of a projection once, at set-up, into latentviz's on-disk cache.

umap-learn and pynndescent compile their kernels on first use: a first ``latentviz project`` on a
fresh machine spent about 17 s of its 21 s doing that. ``make demo`` and ``make test`` run
``python -m latentviz.projection.warmup`` right after installing, so the kernels (those numba can
cache) are in ``$XDG_CACHE_HOME/latentviz/numba`` (:mod:`latentviz._numba_cache`) before the first
real run. Running it again is cheap: it then only loads them.
"""

from __future__ import annotations

import numpy as np


def warm_up() -> None:
    """Fit and place a small seeded mixture through every numba path ``project`` takes.

    pynndescent's whole-run graph, UMAP's fit and transform (placement searches with faiss, which
    needs no compilation): numba compiles per argument type, not per size, so 600 points stand for any run.
    """
    from latentviz.neighbors import knn, search_index
    from latentviz.projection._umap import UMAP

    rng = np.random.default_rng(0)
    z = (rng.normal(size=(6, 8))[rng.integers(0, 6, 600)] * 4 + rng.normal(size=(600, 8))).astype(np.float32)
    fit, rest = z[:400], z[400:]
    knn(z, 30, method="pynndescent")
    placed = search_index(fit).query(rest, 15)
    UMAP(2).fit(fit, neighbors=knn(fit, 30)).transform(rest, neighbors=placed)


if __name__ == "__main__":
    warm_up()
