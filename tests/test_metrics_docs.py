"""Docstrings of the public metrics: the numpydoc examples run, and numpydoc.validate passes."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import latentviz.metrics as metrics

MODULES = [importlib.import_module(f"latentviz.metrics.{m.name}") for m in pkgutil.iter_modules(metrics.__path__)]
FUNCTIONS = [
    name
    for name in metrics.__all__
    if callable(getattr(metrics, name)) and name not in ("MetricInfo", "MetricWarning", "compute_run_metrics")
]
# Checks we do not follow: see-also sections, the extended summary and yields/examples on every helper.
IGNORED = {"SA01", "ES01", "EX01", "GL08", "RT02", "SS06", "PR09"}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples_run(module):
    result = doctest.testmod(module, extraglobs={"np": __import__("numpy")}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("name", FUNCTIONS)
def test_numpydoc_validates(name):
    from numpydoc.validate import validate

    report = validate(f"latentviz.metrics.{name}")
    errors = [(code, message) for code, message in report["errors"] if code not in IGNORED]
    assert errors == []
