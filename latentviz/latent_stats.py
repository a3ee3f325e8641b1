"""Per-dimension statistics of the latents, accumulated batch by batch in O(d) memory.

Mean and variance of the codes (the variance of the posterior means gives active units) and,
with log variances, the mean KL to N(0, 1) per dimension. Chan's parallel update keeps the
variance exact across batches.
"""

from __future__ import annotations

import numpy as np

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. (2016): Var_x(E[z_u | x]) > 0.01
COLLAPSE_KL_THRESHOLD = 0.01  # nats


class LatentStats:
    """``update(z, logvar=None)`` per batch, then ``compute()``. NaN/inf rows are skipped and counted."""

    def __init__(self, dim: int):
        self.dim = dim
        self.count = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)
        self.kl_sum = None
        self.nonfinite = 0

    def update(self, z: np.ndarray, logvar: np.ndarray | None = None) -> None:
        z = np.asarray(z, dtype=np.float64)
        finite = np.isfinite(z).all(axis=1)
        if logvar is not None:
            logvar = np.asarray(logvar, dtype=np.float64)
            finite &= np.isfinite(logvar).all(axis=1)
        self.nonfinite += int((~finite).sum())
        z = z[finite]
        if len(z) == 0:
            return
        n_b, mean_b = len(z), z.mean(axis=0)
        m2_b = ((z - mean_b) ** 2).sum(axis=0)
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / total
        self.m2 = self.m2 + m2_b + delta**2 * self.count * n_b / total
        self.count = total
        if logvar is not None:
            lv = logvar[finite]
            kl = 0.5 * (z**2 + np.exp(lv) - lv - 1.0)
            self.kl_sum = kl.sum(axis=0) + (0 if self.kl_sum is None else self.kl_sum)

    def compute(self) -> dict:
        var = self.m2 / self.count if self.count else np.full(self.dim, np.nan)
        out = {
            "n": self.count,
            "nonfinite_rows": self.nonfinite,
            "mean": self.mean.tolist(),
            "var": var.tolist(),
            "active": (var > ACTIVE_UNIT_THRESHOLD).tolist(),
        }
        if self.kl_sum is not None and self.count:
            kl = self.kl_sum / self.count
            out["kl_per_dim"] = kl.tolist()
            out["collapsed"] = (kl < COLLAPSE_KL_THRESHOLD).tolist()
        return out
