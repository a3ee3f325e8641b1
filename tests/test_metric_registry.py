"""The metric registry is the one list of metrics: the stage writes exactly its keys, skips by its
requirements and repeats exactly its stochastic entries.

How a forgotten entry is caught: ``registry_gaps`` runs over what the real stage wrote on runs of
each kind (factors + logvar + decoder, imported embeddings with labels, no labels). A key that a
``compute`` returns without a :class:`MetricInfo` in its entry is written but unregistered; a key an
entry declares but no ``compute`` returns is neither written nor skipped. Either is a gap, and
``test_a_forgotten_key_is_a_gap`` shows both are found.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from latentviz.figures._tables import RESERVED
from latentviz.metrics import REGISTRY, compute_run_metrics
from latentviz.metrics._registry import ENTRIES, REQUIREMENTS
from latentviz.run import Run
from latentviz.stages import metrics as stage


def registry_gaps(out: dict, declared) -> tuple[set, set]:
    """(keys ``out`` holds that are not ``declared``, declared keys ``out`` neither holds nor skips)."""
    written = set(out) - set(RESERVED)
    return written - set(declared), set(declared) - written - set(out["skipped"])


def entry_of(name: str):
    return next(metric for metric in ENTRIES if name in metric.names)


@pytest.fixture(scope="module")
def kinds(vae_run, tmp_path_factory):
    """metrics.json of the real stage on a run of each kind."""
    from conftest import write_run

    root = tmp_path_factory.mktemp("kinds")
    rs = np.random.RandomState(0)
    codes = rs.randn(200, 8)
    labels = np.array(list("abcd"))[rs.randint(4, size=200)]
    out = {
        "labels": compute_run_metrics(Run(write_run(root / "labels", codes, labels=labels)), quiet=True),
        "no labels": compute_run_metrics(Run(write_run(root / "plain", codes)), quiet=True),
    }
    # the VAE run: factors, logvar, a decoder, inputs and labels. Which keys an entry writes does not
    # depend on the sample sizes, so the three slowest entries run on small ones here.
    with pytest.MonkeyPatch.context() as patch:
        from latentviz.metrics import _dci, _sampling

        for module, name, sizes in (
            (_sampling, "beta_vae_from_sampler", {"n_train": 300, "n_eval": 100}),
            (_sampling, "factor_vae_from_sampler", {"n_train": 300, "n_eval": 100}),
            (_dci, "dci_detail", {"n_estimators": 5}),
        ):
            patch.setattr(module, name, functools.partial(getattr(module, name), **sizes))
        out["vae"] = compute_run_metrics(Run(vae_run), quiet=True, device="cpu")
    return out


def test_every_key_the_stage_writes_has_an_entry_and_every_entry_is_written_or_skipped(kinds):
    for kind, out in kinds.items():
        unregistered, missing = registry_gaps(out, REGISTRY)
        assert not unregistered, f"{kind}: the stage wrote keys no registry entry declares"
        assert not missing, f"{kind}: registry keys neither written nor skipped"
        assert all(isinstance(r, str) and r for r in out["skipped"].values()), kind
    written = {name for out in kinds.values() for name in set(out) - set(RESERVED)}
    assert written == set(REGISTRY)  # the VAE run has everything: no entry is dead
    assert not kinds["vae"]["skipped"]


def test_a_forgotten_key_is_a_gap(tmp_path, make_run, monkeypatch):
    base = entry_of("effective_rank")

    def extra(ctx, seed):  # a new score returned without a MetricInfo in the entry
        values, detail = base.compute(ctx, seed)
        return {**values, "spectral_gap": 1.0}, detail

    def dropped(ctx, seed):  # a declared key the computation forgot to return
        values, detail = entry_of("prior_kl").compute(ctx, seed)
        return {"prior_kl": values["prior_kl"]}, detail

    entries = [dataclasses.replace(base, compute=extra), dataclasses.replace(entry_of("prior_kl"), compute=dropped)]
    monkeypatch.setattr(stage, "ENTRIES", entries)
    out = compute_run_metrics(Run(make_run(tmp_path / "run", np.random.RandomState(0).randn(50, 3))), quiet=True)
    declared = {name for metric in entries for name in metric.names}
    assert registry_gaps(out, declared) == ({"spectral_gap"}, {"prior_ks_max"})


# the stage's wording of each requirement, in the order it checks them
REASONS = {
    "factors": "the run has no ground-truth factors",
    "logvar": "the model gives no log variances",
    "labels": "the run has no labels",
    "decoder": "the run has no model (imported latents)",
    "inputs": "the inputs cannot be read (the run records no data source)",
}


def test_a_skipped_entry_names_its_first_unmet_requirement(kinds):
    out = kinds["no labels"]  # 200 imported 8-d codes: no factors, logvar, labels, model or data source
    assert set(REASONS) | {"two_dims"} == set(REQUIREMENTS)
    for metric in ENTRIES:
        unmet = [need for need in REASONS if need in metric.needs]
        for name in metric.names:
            if unmet:
                assert out["skipped"][name] == REASONS[unmet[0]], name
            else:
                assert name in out and name not in out["skipped"], name


def test_too_few_samples_or_dimensions_are_reasons(tmp_path, make_run):
    rs = np.random.RandomState(0)
    f = rs.randint(2, size=(6, 2))
    out = compute_run_metrics(
        Run(make_run(tmp_path / "run", rs.randn(6, 1), factors={"a": f[:, 0], "b": f[:, 1]})), quiet=True
    )
    for name in ("mig", "dci_disentanglement", "beta_vae"):
        assert out["skipped"][name] == "needs at least 10 samples; the run has 6", name
    for name in ("mutual_info_score", "mean_abs_correlation"):
        assert out["skipped"][name] == "needs at least 2 latent dimensions", name
    assert np.isfinite(out["effective_rank"])


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """The stage's view of a run larger than the 10000-point neighbourhood sample."""
    from conftest import write_run

    rs = np.random.RandomState(1)
    n = stage.NEIGHBOUR_SAMPLE + 500
    f = rs.randint(4, size=(n, 2))
    z = np.c_[f + 0.3 * rs.randn(n, 2), rs.randn(n, 2)]
    path = write_run(
        tmp_path_factory.mktemp("large") / "run",
        z,
        labels=np.array(list("abcd"))[f[:, 0]],
        factors={"a": f[:, 0], "b": f[:, 1]},
        logvar=np.full((n, 4), -1.0),
    )
    return stage._RunData(Run(path), 0)


@pytest.mark.parametrize(
    "name",
    [
        "mig",
        "total_correlation",
        "mutual_info_score",
        "intrinsic_dimension",
        "knn_accuracy",
        "silhouette",  # drawn
        "active_units",
        "kl_total",
        "prior_kl",
        "effective_rank",
        "mean_abs_correlation",  # every code, no draw
    ],
)
def test_stochastic_entries_are_those_that_change_with_the_seed(large, name):
    metric = entry_of(name)
    first, second = (metric.compute(large, seed)[0] for seed in (0, 1))
    changed = any(first[key] != second[key] for key in metric.names)
    assert changed == metric.stochastic == REGISTRY[name].stochastic, first
