"""t-SNE over the shared kNN graph: openTSNE (FFT-accelerated) by default, scikit-learn as an option."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from latentviz._optional import require
from latentviz._validation import RANDOM_STATE, Integer, Options, Real, check_points
from latentviz.errors import InputError
from latentviz.projection._base import LAYOUT, Projector, check_init, scale_layout

BACKENDS = ("opentsne", "sklearn")
# Fewer points than this cannot define a neighbourhood distribution: the map is the scaled PCA.
MIN_POINTS = 4
# Perplexity of the affinities that place new points (openTSNE's default for transform).
TRANSFORM_PERPLEXITY = 5.0
#: Iterations that place new points (openTSNE's transform runs 250). Measured (benchmarks/RESULTS.md): after 50
#: the placed points' trustworthiness is within 0.0016 of 250's (10k-100k points), for a fifth of the CPU.
TRANSFORM_ITER = 50
# Below this many points openTSNE runs on one thread unless told otherwise.
THREADS_FROM = 10_000
#: openTSNE's early exaggeration phase (its default), and how often the KL divergence is evaluated.
EXAGGERATION_ITER = 250
CHECK_EVERY = 25
#: Stop once the KL divergence falls by less than this fraction over CHECK_EVERY iterations. Measured at
#: 20k points (benchmarks/RESULTS.md): the iterations after that no longer change trustworthiness.
EARLY_STOP = 0.01


class TSNE(Projector):
    """t-distributed stochastic neighbour embedding.

    The affinities come from a k-nearest-neighbour graph: the one passed to :meth:`fit` as
    ``neighbors`` (the run's shared graph) or one computed with :func:`latentviz.neighbors.knn`.
    The perplexity adapts to what the graph supports: ``perplexity_ = min(perplexity, k / 3,
    (n - 1) / 3)``.

    Parameters
    ----------
    n_components : int, default=2
    perplexity : float, default=30.0
        Requested perplexity; the one used is ``perplexity_``.
    backend : {"opentsne", "sklearn"}, default="opentsne"
        openTSNE can place new points (``transform``); scikit-learn's cannot.
    n_iter : int, default=500
        Iterations after the 250 of early exaggeration (at most: see ``early_stop``).
    early_stop : float or None, default=EARLY_STOP
        openTSNE stops once the KL divergence falls by less than this fraction over 25
        iterations (after the early exaggeration); None runs every iteration.
    random_state : int, default=0
    init : "pca" or ndarray of shape (n_samples, n_components), default="pca"
        Starting layout (rescaled to a standard deviation of 1e-4 on the first axis); an array
        carries a reference map's arrangement into this one.
    n_jobs : int or None, default=None
        Threads for openTSNE. None: one below 10,000 points (threads cost more than they save
        there), every core above.
    transform_n_iter : int, default=TRANSFORM_ITER
        Iterations of :meth:`transform`, which places new points with the fitted points fixed
        (openTSNE's own default is 250).

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
        Centred on the midpoint of its bounding box.
    perplexity_ : float
        The perplexity used.
    n_neighbors_ : int
        Neighbours per point the affinities were built from.
    fallback_ : str or None
        ``"pca"`` when there were too few points for t-SNE.
    n_iter_ : int
        Iterations run, early exaggeration included (openTSNE; the requested total for scikit-learn).
    kl_divergence_ : float or None
        The last KL divergence openTSNE evaluated.
    """

    name = "tsne"
    constraints = {
        "n_components": [Integer(1, 3)],
        "perplexity": [Real(0, None, closed="neither")],
        "backend": [Options(*BACKENDS)],
        "n_iter": [Integer(0, None)],
        "init": [Options("pca"), LAYOUT],
        "random_state": RANDOM_STATE,
        "n_jobs": [None, Integer(1, None)],
        "early_stop": [None, Real(0, None)],
        "transform_n_iter": [Integer(0, None)],
    }

    def __init__(
        self,
        n_components: int = 2,
        *,
        perplexity: float = 30.0,
        backend: str = "opentsne",
        n_iter: int = 500,
        init="pca",
        random_state=0,
        n_jobs: int | None = None,
        early_stop: float | None = EARLY_STOP,
        transform_n_iter: int = TRANSFORM_ITER,
    ):
        self.n_components = n_components
        self.init = init
        self.perplexity = perplexity
        self.backend = backend
        self.n_iter = n_iter
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.early_stop = early_stop
        self.transform_n_iter = transform_n_iter

    @property
    def supports_transform(self) -> bool:
        return self.backend == "opentsne"

    def _no_transform_reason(self) -> str:
        return "the sklearn backend cannot place new points; use backend='opentsne' or align by Procrustes"

    def fit(self, z, y=None, *, neighbors=None, quiet: bool = True) -> TSNE:
        """Embed ``z``; ``neighbors`` is its kNN graph (a :class:`~latentviz.neighbors.Neighbors`).

        Unless ``quiet``, a bar on stderr counts the iterations and shows the current KL divergence.
        """
        from latentviz.neighbors import PrecomputedKNN, knn
        from latentviz.projection._pca import PCA

        self.check_params()
        n_out = int(self.n_components)
        x = check_points(z, whom="TSNE")
        n = x.shape[0]
        self.n_features_in_ = x.shape[1]
        if isinstance(self.init, str):
            init = PCA(n_out).fit_transform(x)
        else:
            init = check_init(self.init, n, n_out, whom="TSNE", default="pca")
        self.fallback_ = None
        self._embedding: Any = None  # the openTSNE embedding that places new points
        self._neighbours = None
        self.n_iter_ = 0
        self.kl_divergence_: float | None = None
        if n < MIN_POINTS:
            self.perplexity_, self.n_neighbors_, self.fallback_ = 0.0, 0, "pca"
            self.embedding_ = scale_layout(init, 1.0)
            return self
        sklearn_margin = 1 if self.backend == "sklearn" else 0  # sklearn needs 3 * perplexity + 1 neighbours
        wanted = min(n - 1, int(3 * self.perplexity) + sklearn_margin)
        if neighbors is None:
            neighbors = knn(x, wanted, random_state=self.random_state)
        elif neighbors.n != n:
            raise InputError(f"TSNE: the neighbour graph has {neighbors.n} points but z has {n}")
        graph = neighbors.head(min(wanted, neighbors.k))
        self.n_neighbors_ = graph.k
        self.perplexity_ = float(min(self.perplexity, (graph.k - sklearn_margin) / 3))
        if self.perplexity_ <= 0:
            raise InputError(f"TSNE: a graph of {graph.k} neighbours is too small; give at least 4")
        init = scale_layout(init, 1e-4)
        if self.backend == "opentsne":
            self._neighbours = PrecomputedKNN(graph, x, random_state=self.random_state)
            self._embedding = self._fit_opentsne(x, init, quiet)
            self.embedding_ = np.asarray(self._embedding, dtype=np.float64).copy()
        else:
            self.embedding_ = self._fit_sklearn(graph, init)
            self.n_iter_ = EXAGGERATION_ITER + self.n_iter
        return self

    def transform(self, z, *, neighbors=None) -> np.ndarray:
        """Place new points into the fitted map (openTSNE's partial embedding, training points fixed).

        ``neighbors`` may give each new point's neighbours among the training points, as found by
        a :func:`~latentviz.neighbors.search_index` over them; otherwise they are searched here.
        """
        x = self._check_new_points(z)
        if self._neighbours is None:  # the PCA fallback: nothing to place new points by
            raise InputError("TSNE: fitted on fewer than 4 points; there is no map to place new points into")
        with self._neighbours.answering(neighbors):
            placed = self._embedding.transform(
                x, perplexity=min(TRANSFORM_PERPLEXITY, self._embedding.shape[0] / 3), n_iter=self.transform_n_iter
            )
        return np.asarray(placed, dtype=np.float64)

    def _fit_opentsne(self, x, init, quiet: bool):
        from latentviz.progress import progress

        openTSNE = require("openTSNE", purpose="t-SNE")
        n_jobs = self.n_jobs or (1 if len(x) < THREADS_FROM else os.cpu_count() or 1)
        affinities = openTSNE.affinity.PerplexityBasedNN(
            perplexity=self.perplexity_,
            knn_index=self._neighbours,
            n_jobs=n_jobs,
            random_state=self.random_state,
        )
        with progress(total=EXAGGERATION_ITER + self.n_iter, desc="t-SNE", unit="it", quiet=quiet) as bar:
            watch = _Watch(bar, self.early_stop)
            embedding = openTSNE.TSNE(
                n_components=self.n_components,
                n_iter=self.n_iter,
                early_exaggeration_iter=EXAGGERATION_ITER,
                n_jobs=n_jobs,
                random_state=self.random_state,
                callbacks=watch,
                callbacks_every_iters=CHECK_EVERY,
            ).fit(affinities=affinities, initialization=init)
        embedding.gradient_descent_params["callbacks"] = None  # placing new points runs no watch (nor its bar)
        self.n_iter_ = watch.done if watch.stopped else EXAGGERATION_ITER + self.n_iter
        self.kl_divergence_ = watch.kl
        # openTSNE's transform re-centres the map in place; centre it now so it never moves later.
        embedding -= (embedding.max(axis=0) + embedding.min(axis=0)) / 2
        return embedding

    def _fit_sklearn(self, graph, init):
        from sklearn.manifold import TSNE as SklearnTSNE

        method = "barnes_hut" if self.n_components <= 3 else "exact"
        from threadpoolctl import threadpool_limits

        model = SklearnTSNE(
            n_components=self.n_components,
            perplexity=self.perplexity_,
            metric="precomputed",
            init=init.astype(np.float32),
            learning_rate="auto",
            max_iter=self.n_iter + 250,
            method=method,
            random_state=self.random_state,
        )
        with threadpool_limits(1 if graph.n < THREADS_FROM else None):
            return model.fit_transform(graph.to_sparse(include_self=True)).astype(np.float64)


class _Watch:
    """openTSNE callback every :data:`CHECK_EVERY` iterations: advances the bar, shows the KL divergence,
    and stops the optimisation once the KL falls by less than ``tolerance`` of itself (after the early
    exaggeration, whose KL is not comparable)."""

    def __init__(self, bar, tolerance: float | None):
        self.bar, self.tolerance = bar, tolerance
        self.done, self.stopped = 0, False
        self.kl: float | None = None

    def __call__(self, iteration: int, error: float, embedding) -> bool:
        previous = self.kl if self.done > EXAGGERATION_ITER else None
        self.done += CHECK_EVERY
        self.kl = float(error)
        self.bar.update(CHECK_EVERY)
        self.bar.set_postfix_str(f"KL {self.kl:.4f}")  # drawn at every check, however fast the iterations
        self.stopped = (
            self.tolerance is not None and previous is not None and previous - self.kl < self.tolerance * previous
        )
        return self.stopped
