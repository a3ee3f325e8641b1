"""``latentviz audit``: policies as written in the issue, every status, exit codes, JSON and JUnit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from latentviz import audit
from latentviz.errors import InputError
from latentviz.run import write_json

ISSUE_POLICY = """\
checks:
  - metric: active_units
    gte: 3
    description: at least three latent dimensions carry information
  - metric: trustworthiness
    gte: 0.9
    severity: warn
"""


@pytest.fixture
def scored_run(make_run, tmp_path):
    """A run whose metrics.json holds a few known values."""
    path = make_run(tmp_path / "run", np.zeros((5, 2), np.float32))
    write_json(
        path / "metrics.json",
        {
            "active_units": 4,
            "trustworthiness": 0.85,
            "mig": 0.3,
            "reconstruction_error": 0.012,
            "modularity": "n/a",
            "irs": float("nan"),
            "skipped": {"dci_disentanglement": "the data has no factors"},
        },
    )
    return path


def policy_file(tmp_path, text: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def statuses(results) -> list[tuple[str, str]]:
    return [(r.metric, r.status) for r in results]


def test_the_issues_policy_is_accepted_as_written(tmp_path):
    policy = audit.load_policy(policy_file(tmp_path, ISSUE_POLICY))
    first, second = policy.checks
    assert (first.metric, first.condition, first.threshold, first.severity) == ("active_units", "gte", 3, "fail")
    assert first.description == "at least three latent dimensions carry information"
    assert (second.condition, second.severity) == ("gte", "warn")


def test_every_status():
    policy = audit.load_policy(
        {
            "checks": [
                {"metric": "active_units", "gte": 3},
                {"metric": "trustworthiness", "gte": 0.9, "severity": "warn"},
                {"metric": "mig", "between": [0.4, 1.0]},
                {"metric": "sap", "lt": 1},
                {"metric": "dci_disentanglement", "gt": 0.1},
                {"metric": "irs", "gt": 0},
                {"metric": "modularity", "gt": 0},
            ]
        }
    )
    metrics = {
        "active_units": 4,
        "trustworthiness": 0.85,
        "mig": 0.3,
        "irs": float("nan"),
        "modularity": "n/a",
        "skipped": {"dci_disentanglement": "the data has no factors"},
    }
    results = audit.evaluate(policy, metrics)
    assert statuses(results) == [
        ("active_units", "pass"),
        ("trustworthiness", "warn"),
        ("mig", "fail"),
        ("sap", "skip"),
        ("dci_disentanglement", "skip"),
        ("irs", "skip"),
        ("modularity", "error"),
    ]
    assert results[2].message == "mig 0.3 outside [0.4, 1] (fail)"
    assert results[1].message == "trustworthiness 0.85 < 0.9 (warn)"
    assert results[0].message == "active_units 4 ≥ 3"
    assert "the data has no factors" in results[4].message
    assert audit.overall(results) == "fail" and audit.exit_code(results) == 1


def test_relative_thresholds_scale_with_the_baseline():
    policy = audit.load_policy({"checks": [{"metric": "reconstruction_error", "lte": 1.1, "relative": True}]})
    ok = audit.evaluate(policy, {"reconstruction_error": 0.0105}, baseline={"reconstruction_error": 0.01})
    worse = audit.evaluate(policy, {"reconstruction_error": 0.0115}, baseline={"reconstruction_error": 0.01})
    alone = audit.evaluate(policy, {"reconstruction_error": 0.0115})
    assert [ok[0].status, worse[0].status, alone[0].status] == ["pass", "fail", "skip"]
    assert worse[0].threshold == "≤ 1.1 × baseline 0.01"
    assert worse[0].message == "reconstruction_error 0.0115 > 0.011 (fail)"
    assert "needs --baseline" in alone[0].message


@pytest.mark.parametrize(
    "text,problem",
    [
        ("checks:\n  - metric: mig\n", "exactly one condition"),
        ("checks:\n  - metric: mig\n    gt: 0.1\n    lt: 0.9\n", "exactly one condition"),
        ("checks:\n  - metric: mig\n    gte: 0.1\n    severty: warn\n", "unknown key"),
        ("checks:\n  - metric: mig\n    between: [0.9, 0.1]\n", "lower bound"),
        ("checks:\n  - metric: mig\n    gte: 0.1\n    severity: fatal\n", "severity"),
        ("checks: []\n", "checks"),
        ("checks: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_policies_are_one_line_input_errors(tmp_path, text, problem):
    with pytest.raises(InputError, match=problem):
        audit.load_policy(policy_file(tmp_path, text))


def test_the_default_policy_loads_and_only_names_known_conditions():
    policy = audit.load_policy(None)
    assert policy.checks and all(c.condition in audit.CONDITIONS for c in policy.checks)
    results = audit.evaluate(policy, {})
    assert {r.status for r in results} == {"skip"}  # a run without metrics passes nothing


def test_cli_exit_codes_json_and_junit(cli, scored_run, tmp_path):
    passing = policy_file(tmp_path, "checks:\n  - metric: active_units\n    gte: 3\n")
    result = cli("audit", scored_run, "--policy", passing)
    assert result.code == 0, result.err
    assert "PASS" in result.out and "audit: pass (1 pass)" in result.out

    warning = tmp_path / "warn.yaml"
    warning.write_text(ISSUE_POLICY)
    assert cli("audit", scored_run, "--policy", warning).code == 0  # a warning does not fail the audit

    failing = tmp_path / "fail.yaml"
    failing.write_text(ISSUE_POLICY + "  - metric: mig\n    gte: 0.4\n  - metric: sap\n    gt: 0\n")
    result = cli("audit", scored_run, "--policy", failing, "--json", tmp_path / "a.json", "--junit", tmp_path / "a.xml")
    assert result.code == 1
    assert result.err.startswith("latentviz: error: audit of") and "1 failing check" in result.err

    report = json.loads((tmp_path / "a.json").read_text())
    assert report["status"] == "fail"
    assert report["counts"] == {"pass": 1, "fail": 1, "warn": 1, "skip": 1, "error": 0}
    assert [r["status"] for r in report["results"]] == ["pass", "warn", "fail", "skip"]
    assert report["results"][2]["value"] == 0.3 and report["results"][2]["threshold"] == "≥ 0.4"

    suite = ET.parse(tmp_path / "a.xml").getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == (
        "4",
        "1",
        "1",
        "0",
    )
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["mig"].find("failure").get("message") == "mig 0.3 < 0.4 (fail)"
    assert cases["sap"].find("skipped") is not None
    assert "warning" in cases["trustworthiness"].find("system-out").text
    assert len(list(cases["active_units"])) == 0


def test_cli_bad_policy_or_run_exits_2(cli, scored_run, tmp_path):
    bad = policy_file(tmp_path, "checks:\n  - metric: mig\n    gte: 1\n    lte: 2\n")
    result = cli("audit", scored_run, "--policy", bad)
    assert result.code == 2 and result.err.count("\n") == 1 and "exactly one condition" in result.err
    assert cli("audit", scored_run, "--policy", tmp_path / "none.yaml").code == 2
    assert cli("audit", tmp_path / "no-run", "--policy", bad).code == 2
    erroring = policy_file(tmp_path, "checks:\n  - metric: modularity\n    gt: 0\n")
    assert cli("audit", scored_run, "--policy", erroring).code == 2


def test_projection_trustworthiness_comes_from_the_projection_stage(report_run):
    from latentviz.run import Run

    values = audit.run_values(Run(report_run))
    assert values["projection_trustworthiness_pca"] == 0.99
    assert values["projection_trustworthiness"] == 0.96  # the worst map
    results = audit.evaluate(audit.load_policy(None), values)
    assert ("projection_trustworthiness", "pass") in statuses(results)


def test_baseline_run_from_the_cli(cli, scored_run, make_run, tmp_path):
    base = make_run(tmp_path / "base", np.zeros((5, 2), np.float32))
    write_json(base / "metrics.json", {"reconstruction_error": 0.010})
    policy = policy_file(tmp_path, "checks:\n  - metric: reconstruction_error\n    lte: 1.1\n    relative: true\n")
    assert cli("audit", scored_run, "--policy", policy, "--baseline", base).code == 1  # 0.012 > 1.1 × 0.010
