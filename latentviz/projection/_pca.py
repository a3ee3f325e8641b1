"""PCA by eigendecomposition of the covariance matrix (accumulated in numpy, or in torch on a GPU)."""

from __future__ import annotations

import numpy as np

from latentviz._validation import InstanceOf, Integer, check_points
from latentviz.projection._base import Projector

# Rows per chunk when accumulating the covariance (bounds memory at 1M points).
_CHUNK = 262_144


class PCA(Projector):
    """Principal component analysis with deterministic signs.

    For tall data (many more samples than latents) the d x d covariance is accumulated in
    float64 chunks and diagonalised; that is faster than an SVD of the whole matrix and uses
    O(d^2) extra memory. Each axis is flipped so that its largest-magnitude loading is
    positive, so axes don't flip between runs.

    Parameters
    ----------
    n_components : int, default=2
        Output dimensions. When the latents have fewer dimensions, the extra axes are zero.
    device : str, default="auto"
        Where the covariance is computed (``"auto"``: CUDA, then MPS, then CPU).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Principal axes, unit length, largest loading positive.
    explained_variance_ : ndarray of shape (n_components,)
        Variance along each axis (ddof=1).
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Share of the total variance; zeros when the data has no variance.
    mean_ : ndarray of shape (n_features,)
    embedding_ : ndarray of shape (n_samples, n_components)

    Examples
    --------
    >>> z = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    >>> PCA(n_components=1).fit_transform(z).ravel().tolist()
    [-2.0, 0.0, 2.0]
    """

    name = "pca"
    supports_transform = True
    constraints = {
        "n_components": [Integer(1, 3)],
        "device": [InstanceOf(str, "a device name ('auto', 'cpu', 'cuda', 'cuda:1', 'mps')")],
    }

    def __init__(self, n_components: int = 2, *, device: str = "auto"):
        self.n_components = n_components
        self.device = device

    def fit(self, z, y=None) -> PCA:
        """Learn the axes from ``z`` (n_samples, n_features) and store ``embedding_``."""
        from latentviz.devices import array_engine

        self.check_params()  # before the work
        x = check_points(z, whom="PCA")
        n, d = x.shape
        engine = array_engine(self.device)
        mean = x.mean(axis=0)
        scatter = engine.asarray(np.zeros((d, d)), "float64")
        for start in range(0, n, _CHUNK):
            block = engine.asarray(x[start : start + _CHUNK] - mean, "float64")
            scatter += block.T @ block
        self.fit_moments(n, mean, engine.numpy(scatter).astype(np.float64))
        self.embedding_ = self._project(x)
        return self

    def fit_moments(self, n: int, mean: np.ndarray, scatter: np.ndarray) -> PCA:
        """Learn the axes from the count, mean and centred scatter matrix of the data (no ``embedding_``).

        These are what shards of the data combine into exactly, so a cluster can fit PCA on
        data no single worker holds (:mod:`latentviz.projection._dask`).
        """
        self.check_params()
        n_out = int(self.n_components)
        d = len(mean)
        cov = scatter / max(n - 1, 1)
        values, vectors = np.linalg.eigh(cov)  # ascending
        values, vectors = np.clip(values[::-1], 0, None), vectors[:, ::-1].T
        keep = min(n_out, d)
        components = np.zeros((n_out, d))
        components[:keep] = _fix_signs(vectors[:keep])
        variance = np.zeros(n_out)
        variance[:keep] = values[:keep]
        total = values.sum()
        self.mean_ = mean
        self.components_ = components
        self.explained_variance_ = variance
        self.explained_variance_ratio_ = variance / total if total > 0 else np.zeros(n_out)
        self.n_features_in_ = d
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):  # fit_moments learns the axes without an embedding_
            super()._check_fitted()

    def transform(self, z) -> np.ndarray:
        """Coordinates of new points on the fitted axes."""
        return self._project(self._check_new_points(z))

    def _project(self, x: np.ndarray) -> np.ndarray:
        out = np.empty((x.shape[0], self.components_.shape[0]), dtype=np.float64)
        for start in range(0, x.shape[0], _CHUNK):
            out[start : start + _CHUNK] = (x[start : start + _CHUNK] - self.mean_) @ self.components_.T
        return out


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each row so its largest-magnitude entry is positive (ties: the first one)."""
    biggest = vectors[np.arange(len(vectors)), np.argmax(np.abs(vectors), axis=1)]
    return vectors * np.where(biggest < 0, -1.0, 1.0)[:, None]
