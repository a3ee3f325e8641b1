"""Docstrings of the public metrics pass numpydoc.validate (their examples run in test_doctests.py)."""

from __future__ import annotations

import pytest

import latentviz.metrics as metrics

FUNCTIONS = [
    name
    for name in metrics.__all__
    if callable(getattr(metrics, name)) and name not in ("MetricInfo", "MetricWarning", "compute_run_metrics")
]
# Checks we do not follow: see-also sections, the extended summary and yields/examples on every helper.
IGNORED = {"SA01", "ES01", "EX01", "GL08", "RT02", "SS06", "PR09"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_numpydoc_validates(name):
    from numpydoc.validate import validate

    report = validate(f"latentviz.metrics.{name}")
    errors = [(code, message) for code, message in report["errors"] if code not in IGNORED]
    assert errors == []
