"""What every projector shares: the scikit-learn estimator contract and declared capabilities."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from latentviz._validation import InstanceOf, ParameterError, check_points, validate_params
from latentviz.errors import InputError

#: A starting layout given as an array (its shape is checked by :func:`check_init` once n is known).
LAYOUT = InstanceOf((np.ndarray, list, tuple), "an array of shape (n_samples, n_components)")


class Projector(BaseEstimator):
    """Base class: ``__init__`` only stores parameters; ``fit`` checks them and learns ``embedding_``.

    Subclasses set :attr:`name` and :attr:`supports_transform` and implement ``fit``.
    """

    #: Short name used for column prefixes (``pca_0``) and manifest keys.
    name = "projector"
    #: Each ``__init__`` parameter's constraints (:func:`latentviz._validation.validate_params`), checked by ``fit``.
    constraints: ClassVar[dict[str, list]] = {}
    #: Whether ``transform`` runs on one thread without the GIL, so that blocks of new points can be
    #: placed on several threads at once (each block's result is the same as alone).
    transform_in_threads: ClassVar[bool] = False

    @property
    def supports_transform(self) -> bool:
        """Whether ``transform`` can place new points into a fitted map."""
        return True

    def fit_transform(self, z, y=None, **fit_params) -> np.ndarray:
        """Fit to ``z`` and return its embedding, shape (n_samples, n_components)."""
        return self.fit(z, y, **fit_params).embedding_

    def check_params(self) -> None:
        """Raise a :class:`~latentviz._validation.ParameterError` naming the first parameter that breaks its constraint."""
        validate_params(type(self).__name__, self.get_params(), self.constraints)

    def _check_fitted(self) -> None:
        if not hasattr(self, "embedding_"):
            raise InputError(f"{type(self).__name__}: call fit before transform")

    def _check_new_points(self, z) -> np.ndarray:
        self._check_fitted()
        if not self.supports_transform:
            raise InputError(f"{type(self).__name__}: {self._no_transform_reason()}")
        x = check_points(z, whom=f"{type(self).__name__}.transform")
        if x.shape[1] != self.n_features_in_:
            raise InputError(
                f"{type(self).__name__}.transform: z has {x.shape[1]} latent dimensions but the map was fitted "
                f"on {self.n_features_in_}"
            )
        return x

    def _no_transform_reason(self) -> str:
        return "this projector cannot place new points"


def check_init(init, n: int, n_components: int, *, whom: str, default: str) -> np.ndarray:
    """A starting layout given as an array: finite, of shape (n, n_components) (``default`` names the other choice)."""
    layout = np.asarray(init, dtype=np.float64)
    if layout.shape != (n, n_components) or not np.isfinite(layout).all():
        raise ParameterError(
            whom,
            "init",
            f"must be {default!r} or a finite array of shape ({n}, {n_components}); got shape {layout.shape}",
        )
    return layout


def scale_layout(layout: np.ndarray, target_std: float) -> np.ndarray:
    """Scale so the first axis has standard deviation ``target_std`` (all zeros stay zeros)."""
    std = layout[:, 0].std() if len(layout) else 0.0
    return layout * (target_std / std) if std > 0 else layout.copy()
