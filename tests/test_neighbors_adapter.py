"""The precomputed-neighbours adapter: neighbours given to ``transform`` place points exactly as the
adapter's own search would, and placing touches none of the libraries' objects."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from latentviz.neighbors import knn, search_index
from latentviz.projection import TSNE, UMAP


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3, 5)) * 6
    labels = np.arange(260) % 3
    x = centres[labels] + rng.normal(size=(260, 5))
    return x[:200], x[200:]


def _library_state(projector):
    """The library object's attributes, each as a deep copy, and the ids of the objects they hold."""
    model = projector._model if isinstance(projector, UMAP) else projector._embedding
    return {key: id(value) for key, value in vars(model).items()}, copy.deepcopy(
        {key: value for key, value in vars(model).items() if isinstance(value, (int, float, str, np.ndarray))}
    )


@pytest.mark.parametrize(("cls", "received"), [(TSNE, np.float64), (UMAP, np.float32)])
def test_neighbours_given_place_points_as_the_adapters_own_search_does(points, cls, received):
    fitted, new = points
    projector = cls(random_state=0).fit(fitted, neighbors=knn(fitted, 15))
    ids_before, values_before = _library_state(projector)

    searched = projector.transform(new)
    # exact here, more than the placement uses (cut to its k), of the points as the library receives them
    # (umap-learn: float32): UMAP's epochs magnify a difference in the last bit of a distance to whole units
    given = search_index(fitted).query(new.astype(received), 30)
    answered = projector.transform(new, neighbors=given)

    np.testing.assert_array_equal(answered, searched)
    ids_after, values_after = _library_state(projector)
    assert ids_after == ids_before  # no attribute of the library object replaced or added
    for key, value in values_before.items():
        np.testing.assert_array_equal(values_after[key], value, err_msg=key)
    assert projector._neighbours._answer is None  # the answer lasts for one transform only


@pytest.mark.parametrize("cls", [TSNE, UMAP])
def test_the_answer_given_is_the_one_used(points, cls):
    fitted, new = points
    projector = cls(random_state=0).fit(fitted, neighbors=knn(fitted, 15))
    true = search_index(fitted).query(new, 30)
    far = true.indices[::-1]  # every new point given the neighbours of another, far-away point
    wrong = type(true)(far, true.distances, metric=true.metric, method=true.method)
    placed = projector.transform(new, neighbors=wrong)
    assert np.abs(placed - projector.transform(new)).max() > 1.0
