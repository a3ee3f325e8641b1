"""Every projector's declared parameters are validated: a bad value for each gives an InputError naming it."""

from __future__ import annotations

import numpy as np
import pytest

from latentviz._validation import Integer, Options, ParameterError, Real
from latentviz.projection import PCA, TSNE, UMAP


def bad_value(constraints):
    """A value that breaks every constraint of one parameter."""
    for c in constraints:
        if isinstance(c, Integer):
            return c.low - 1 if c.low is not None else c.high + 1
        if isinstance(c, Real):
            return c.low if c.closed in ("neither", "right") else c.low - 1
    return "no-such-value" if any(isinstance(c, Options) for c in constraints) else -1


@pytest.mark.parametrize("cls", [PCA, TSNE, UMAP])
def test_every_declared_parameter_is_validated(cls):
    assert set(cls().get_params()) == set(cls.constraints), "a parameter without constraints"
    z = np.random.default_rng(0).normal(size=(20, 3))
    for name, constraints in cls.constraints.items():
        with pytest.raises(ParameterError, match=f"^{cls.__name__}: {name}: must be ") as info:
            cls(**{name: bad_value(constraints)}).fit(z)
        assert info.value.parameter == name


def test_message_names_the_parameter_and_the_value():
    with pytest.raises(ParameterError, match=r"^UMAP: n_neighbors: must be an integer >= 2; got 1$"):
        UMAP(n_neighbors=1).fit(np.zeros((10, 2)))
