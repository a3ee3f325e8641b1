"""What every projector shares: the scikit-learn estimator contract and declared capabilities."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from latentviz.errors import InputError


class Projector(BaseEstimator):
    """Base class: ``__init__`` only stores parameters; ``fit`` checks them and learns ``embedding_``.

    Subclasses set :attr:`name` and :attr:`supports_transform` and implement ``fit``.
    """

    #: Short name used for column prefixes (``pca_0``) and manifest keys.
    name = "projector"

    @property
    def supports_transform(self) -> bool:
        """Whether ``transform`` can place new points into a fitted map."""
        return True

    def fit_transform(self, z, y=None, **fit_params) -> np.ndarray:
        """Fit to ``z`` and return its embedding, shape (n_samples, n_components)."""
        return self.fit(z, y, **fit_params).embedding_

    def _check_fitted(self) -> None:
        if not hasattr(self, "embedding_"):
            raise InputError(f"{type(self).__name__}: call fit before transform")

    def _check_new_points(self, z) -> np.ndarray:
        from latentviz.neighbors import _check_points

        self._check_fitted()
        if not self.supports_transform:
            raise InputError(f"{type(self).__name__}: {self._no_transform_reason()}")
        x = _check_points(z, f"{type(self).__name__}.transform")
        if x.shape[1] != self.n_features_in_:
            raise InputError(
                f"{type(self).__name__}.transform: z has {x.shape[1]} latent dimensions but the map was fitted "
                f"on {self.n_features_in_}"
            )
        return x

    def _no_transform_reason(self) -> str:
        return "this projector cannot place new points"


def check_n_components(n_components, *, most: int = 3) -> int:
    """2 or 3 output dimensions for a map (1 is allowed for completeness; ``most`` more for a clustering space)."""
    if (
        isinstance(n_components, bool)
        or not isinstance(n_components, (int, np.integer))
        or not 1 <= n_components <= most
    ):
        allowed = "1, 2 or 3" if most == 3 else f"between 1 and {most}"
        raise InputError(f"n_components: must be {allowed}; got {n_components!r}")
    return int(n_components)
