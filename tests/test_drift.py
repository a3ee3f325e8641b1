"""Drift between two runs: no drift between samples of one distribution, a small shift found and named,
the MMD test against a direct computation, the CLI's model check and the audit's exit codes."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from latentviz import audit
from latentviz.drift import (
    MEAN_SHIFT_THRESHOLD,
    cluster_shift,
    domain_classifier_auc,
    ks_dimensions,
    mean_shift,
    mmd_test,
)
from latentviz.errors import InputError

SAME_MODEL = {"model": {"sha256": "ab" * 32, "checkpoint": "model.pt"}}


def pair(seed, n=600, d=6, shift=0.0, dims=(1, 4)):
    rng = np.random.default_rng(seed)
    reference, current = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    current[:, list(dims)] += shift
    return reference, current


def test_two_samples_of_one_distribution_show_no_drift():
    p_values = []
    for seed in range(5):
        reference, current = pair(seed, n=400)
        assert abs(domain_classifier_auc(reference, current, random_state=seed) - 0.5) < 0.06
        assert mean_shift(reference, current)["relative"] < MEAN_SHIFT_THRESHOLD
        p_values.append(mmd_test(reference, current, sample=200, permutations=100, random_state=seed)["p_value"])
    assert sum(p > 0.05 for p in p_values) >= 4, p_values  # a test at level 0.05 rejects in 5% of seeds


def test_ks_flags_no_dimension_in_all_but_about_5_percent_of_undrifted_pairs():
    flagged = [ks_dimensions(*pair(seed))["flagged"] for seed in range(40)]
    assert sum(f != [] for f in flagged) <= 4, flagged  # Bonferroni keeps the family-wise error at 0.05


def test_half_a_standard_deviation_in_two_dimensions_is_found_and_named():
    reference, current = pair(7, shift=0.5)
    assert domain_classifier_auc(reference, current) > 0.55
    ks = ks_dimensions(reference, current)
    assert ks["flagged"] == [1, 4] and ks["share"] == pytest.approx(2 / 6) and ks["level"] == pytest.approx(0.05 / 6)
    assert mmd_test(reference, current, sample=600, permutations=100)["p_value"] < 0.05
    shift = mean_shift(reference, current)
    assert shift["relative"] > MEAN_SHIFT_THRESHOLD
    assert np.argsort(np.abs(shift["per_dim_sd"]))[-2:].tolist() in ([1, 4], [4, 1])


def naive_mmd2(x, y, bandwidth):
    """Unbiased MMD² written from Gretton et al. (2012), eq. 3, with explicit sums."""

    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * bandwidth**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_and_its_p_value_match_a_direct_computation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), rng.normal(0.4, 1.0, size=(10, 3))
    result = mmd_test(x, y, permutations=50, random_state=3)
    pooled = np.vstack([x, y])
    distances = cdist(pooled, pooled)[np.triu_indices(len(pooled), 1)]
    assert result["bandwidth"] == pytest.approx(np.median(distances))
    observed = naive_mmd2(x, y, result["bandwidth"])
    assert result["mmd2"] == pytest.approx(observed)
    perms = np.random.default_rng(3)  # the same draws: the samples are whole, so only the permutations use it
    labels = np.r_[np.zeros(12), np.ones(10)]
    null = []
    for _ in range(50):
        split = perms.permutation(labels)
        null.append(naive_mmd2(pooled[split == 0], pooled[split == 1], result["bandwidth"]))
    assert result["p_value"] == pytest.approx((1 + sum(v >= observed - 1e-12 for v in null)) / 51)


def test_mmd_p_value_approaches_the_exact_permutation_distribution():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 2)), rng.normal(1.0, 1.0, size=(4, 2))
    pooled = np.vstack([x, y])
    bandwidth = mmd_test(x, y, permutations=1)["bandwidth"]
    observed = naive_mmd2(x, y, bandwidth)
    splits = [
        naive_mmd2(pooled[list(c)], pooled[[i for i in range(8) if i not in c]], bandwidth)
        for c in itertools.combinations(range(8), 4)
    ]
    exact = np.mean([v >= observed - 1e-12 for v in splits])
    assert mmd_test(x, y, permutations=4000, random_state=0)["p_value"] == pytest.approx(exact, abs=0.02)


def test_cluster_shares_and_points_outside_the_reference():
    rng = np.random.default_rng(2)
    reference = np.vstack([rng.normal(0, 0.3, (200, 2)), rng.normal(5, 0.3, (200, 2))])
    clusters = np.r_[np.zeros(200, int), np.ones(200, int)]
    current = np.vstack(
        [rng.normal(0, 0.3, (270, 2)), rng.normal(5, 0.3, (30, 2)), rng.normal([20, 20], 0.3, (100, 2))]
    )
    out = cluster_shift(reference, clusters, current)
    shares = {row["cluster"]: row for row in out["clusters"]}
    assert shares[0]["reference_share"] == 0.5 and shares[1]["reference_share"] == 0.5
    assert shares[0]["current_share"] == pytest.approx(270 / 400)
    assert shares[1]["change"] == pytest.approx(130 / 400 - 0.5)  # the far blob joins the nearer cluster (1)
    # the far blob, plus the odd in-distribution point past the reference's own 99th percentile
    assert 100 / 400 <= out["outside_share"] <= 100 / 400 + 0.03


@pytest.fixture
def runs(tmp_path, make_run):
    def build(shift, *, model=SAME_MODEL, d=4):
        # seed 12: a typical undrifted draw (seed 11's means differ by 2.6 standard errors, which the scores rightly see)
        reference, current = pair(12, n=400, d=d, shift=shift, dims=(0, 2))
        return (
            make_run(tmp_path / f"ref{shift}", reference, manifest=model),
            make_run(tmp_path / f"cur{shift}", current, manifest=model),
        )

    return build


def test_cli_writes_drift_json_into_the_current_run(runs, cli):
    reference, current = runs(0.5)
    result = cli("drift", reference, current, "--permutations", "50", "--quiet")
    assert result.code == 0, result.err
    assert "drifted dimensions: z0, z2" in result.out
    out = json.loads((current / "drift.json").read_text())
    assert out["ks"]["flagged"] == [0, 2] and out["drifted"]["drift_domain_auc"]
    assert out["mmd"]["sample"] == [400, 400] and out["mmd"]["permutations"] == 50
    assert len(out["map"]["reference"]) == 400 and out["reference"]["path"] == str(reference.resolve())


def test_cli_refuses_runs_it_cannot_tie_to_one_model(runs, tmp_path, make_run, cli):
    reference, current = runs(0.0, model={})
    result = cli("drift", reference, current)
    assert result.code == 2 and result.err.count("\n") == 1
    assert "records no checkpoint or model-code sha256" in result.err and "--allow-different-models" in result.err
    assert cli("drift", reference, current, "--allow-different-models", "--permutations", "10", "-q").code == 0
    other = make_run(tmp_path / "wide", np.zeros((10, 3)), manifest=SAME_MODEL)
    result = cli("drift", reference, other, "--allow-different-models")
    assert result.code == 2 and "differ in size (4 vs 3" in result.err


def test_audit_fails_a_drifted_pair_and_passes_an_undrifted_one(runs, cli):
    reference, current = runs(0.5)
    result = cli("audit", current, "--baseline", reference)
    assert result.code == 1, result.out + result.err
    assert "drift_domain_auc" in result.out and (current / "drift.json").exists()
    reference, current = runs(0.0)
    result = cli("audit", current, "--baseline", reference)
    assert result.code == 0, result.out + result.err
    line = next(row for row in result.out.splitlines() if "drift_domain_auc" in row)
    assert line.startswith("PASS")


def test_drift_checks_without_a_baseline_are_skipped_with_the_way_to_measure_them(runs):
    from latentviz.run import Run

    _, current = runs(0.0)
    results = audit.evaluate(audit.load_policy(None), audit.run_values(Run(current)))
    drift = [r for r in results if r.metric.startswith("drift_")]
    assert drift and all(r.status == "skip" and "--baseline" in r.message for r in drift)
    with pytest.raises(InputError, match="did you mean drift_domain_auc"):
        audit.load_policy({"checks": [{"metric": "drift_domian_auc", "lte": 0.55}]})


def test_report_section_shows_the_scores_of_drift_json(runs, cli):
    from latentviz.drift import THRESHOLDS
    from latentviz.run import Run
    from reports._build import build_report, render_report

    reference, current = runs(0.5)
    assert cli("cluster", reference, "-q").code == 0
    assert cli("drift", reference, current, "--permutations", "20", "-q").code == 0
    run = Run(current)
    drift = run.drift
    section = next(s for s in build_report(run).sections if s.id == "drift")
    rows = {row[0].text: row for row in section.rows}
    assert set(rows) == set(drift["scores"])
    for name, value in drift["scores"].items():
        assert rows[name][1].text == f"{value:.3g}"
        if name in THRESHOLDS:
            assert rows[name][3].text == ("drift" if drift["drifted"][name] else "no drift")
    assert rows["drift_domain_auc"][3].text == "drift"
    assert [f.id for f in section.figures] == ["drift-ks", "drift-map", "drift-clusters"]
    assert section.figures[0].caption == "Drifted dimensions: z0, z2."
    assert len(section.figures[1].figure["data"]) == 2  # the two runs, one trace each
    part = render_report(build_report(run)).split('id="drift"')[1].split("<section")[0]
    assert f"{drift['scores']['drift_domain_auc']:.3g}" in part and str(reference.resolve()) in part


def test_derive_writes_thresholds_learned_from_the_baseline(runs, cli, tmp_path):
    from latentviz.run import write_json

    reference, current = runs(0.0)
    write_json(
        reference / "metrics.json",
        {
            "mig": 0.4,
            "total_correlation": 2.0,
            "intrinsic_dimension": 3.0,
            "detail": {"mig": {"std": 0.02, "values": [0.38, 0.42]}},
        },
    )
    write_json(current / "metrics.json", {"mig": 0.30, "total_correlation": 2.05, "intrinsic_dimension": 3.1})
    out = tmp_path / "derived.yaml"
    result = cli("audit", current, "--baseline", reference, "--derive", out)
    policy = audit.load_policy(out)
    checks = {c.metric: c for c in policy.checks}
    assert checks["mig"].gte == pytest.approx(0.4 - 2 * 0.02)  # higher is better: the value less 2 std
    assert "over 2 repeats" in checks["mig"].description
    assert checks["total_correlation"].lte == pytest.approx(2.0 * 1.05)  # lower is better, no spread: 5%
    assert checks["intrinsic_dimension"].between == pytest.approx((3.0 * 0.95, 3.0 * 1.05))  # descriptive
    assert checks["drift_domain_auc"].lte == 0.55  # the drift checks are kept as the policy has them
    assert out.read_text().startswith("# Derived by 'latentviz audit --derive' from the baseline run")
    assert result.code == 1 and "mig 0.3 < 0.36 (fail)" in result.out  # RUN is audited against it
    assert cli("audit", reference, "--policy", out).code == 0  # the baseline meets its own thresholds
    result = cli("audit", current, "--derive", out)
    assert result.code == 2 and "--derive: give --baseline RUN" in result.err


def test_dashboard_metrics_page_shows_the_drift_of_drift_json(runs, cli):
    from dashboards import ids
    from dashboards.pages import metrics
    from dashboards.store import RunData
    from latentviz import figures

    reference, current = runs(0.5)
    data = RunData("cur", current, load_model=False)
    assert metrics.drift_panel(data) is None
    assert cli("drift", reference, current, "--permutations", "20", "-q").code == 0
    data = RunData("cur", current, load_model=False)
    panel = metrics.drift_panel(data)
    found = {child.id["name"]: child for child in panel.children if isinstance(getattr(child, "id", None), dict)}
    drift = data.run.drift
    expected = figures.drift_map(drift["map"]["reference"], drift["map"]["current"], method=drift["map"]["method"])
    assert found["map"].id == ids.drift_figure("cur", name="map")
    assert found["map"].figure.to_plotly_json() == expected.to_plotly_json()  # coloured by set, as in the report
    assert [t["name"] for t in found["map"].figure.to_plotly_json()["data"]] == ["reference", "current"]
    items = panel.children[1].children
    assert [(i.children[2].children, i.children[0].children) for i in items][0] == ("drift_domain_auc", "DRIFT")


def test_one_dimensional_codes_get_a_two_column_map():
    from latentviz.drift import aligned_map

    rng = np.random.default_rng(0)
    view = aligned_map(rng.normal(size=(30, 1)), rng.normal(size=(20, 1)))
    assert np.asarray(view["reference"]).shape == (30, 2) and np.asarray(view["current"])[:, 1].tolist() == [0.0] * 20


def test_drift_json_stays_current_until_the_reference_is_reencoded_or_reclustered(runs, cli):
    from latentviz.drift import is_current
    from latentviz.run import Run

    reference, current = runs(0.0)
    assert cli("drift", reference, current, "--permutations", "10", "-q").code == 0
    assert is_current(Run(current).drift, Run(reference))
    assert cli("report", reference, "--quiet").code == 0  # a new manifest entry, the same codes
    assert is_current(Run(current).drift, Run(reference))
    assert cli("cluster", reference, "-q").code == 0  # new reference clusters: the per-cluster drift is stale
    assert not is_current(Run(current).drift, Run(reference))
    assert not is_current(Run(current).drift, Run(current))


def test_one_model_is_its_content_and_options_not_its_path():
    from latentviz.drift import model_mismatch

    class Fake:
        def __init__(self, model, d=4):
            self.manifest, self.latent_dim = {"model": model}, d

    weights = {"sha256": "ab" * 32, "checkpoint": "/a/model.pt", "factory": "pkg.mod:VAE", "kwargs": {"z": 4}}
    assert model_mismatch(Fake(weights), Fake({**weights, "checkpoint": "/elsewhere/model.pt"})) is None
    assert "checkpoints differ" in model_mismatch(Fake(weights), Fake({**weights, "sha256": "cd" * 32}))
    assert "differ in kwargs" in model_mismatch(Fake(weights), Fake({**weights, "kwargs": {"z": 8}}))
    assert "differ in layer" in model_mismatch(Fake(weights), Fake({**weights, "layer": "encoder.fc"}))
    code = {"checkpoint": "/m/models.py:make_A", "sha256": None, "factory_sha256": "ef" * 32}
    assert model_mismatch(Fake(code), Fake(dict(code))) is None  # a callable checkpoint: its file's sha256
    assert "differ in callable" in model_mismatch(Fake(code), Fake({**code, "checkpoint": "/m/models.py:make_B"}))
    assert "no checkpoint or model-code sha256" in model_mismatch(
        Fake({"checkpoint": "torchvision.models:resnet18"}), Fake({"checkpoint": "torchvision.models:resnet18"})
    )
    assert "differ in size" in model_mismatch(Fake(weights), Fake(weights, d=3))


def test_report_audit_measures_drift_against_the_baseline_and_skips_another_models(runs, cli, tmp_path):
    from bs4 import BeautifulSoup

    from latentviz.run import Run

    policy = tmp_path / "policy.yaml"
    policy.write_text("checks:\n  - metric: drift_domain_auc\n    lte: 0.55\n")
    reference, current = runs(0.5)
    result = cli("report", current, "--policy", policy, "--baseline", reference, "--out", tmp_path / "r.html", "-q")
    assert result.code == 0, result.err
    auc = Run(current).drift["scores"]["drift_domain_auc"]
    cells = [
        td.get_text(" ", strip=True)
        for td in BeautifulSoup((tmp_path / "r.html").read_text(), "html.parser").select("#audit td")
    ]
    assert "fail" in cells and f"drift_domain_auc {auc:.4g} > 0.55 (fail)" in " ".join(cells)

    reference, current = runs(0.0)  # no drift.json yet, and (below) another checkpoint
    other = Run(current)
    other.update_manifest(model={"sha256": "cd" * 32})
    audit.baseline_drift(other, Run(reference), audit.load_policy(policy))
    assert not (current / "drift.json").exists()
    values = audit.run_values(other, Run(reference))
    assert "drift_domain_auc" not in values
    assert values["skipped"]["drift_domain_auc"].startswith(
        "the baseline may be another model (their checkpoints differ"
    )
