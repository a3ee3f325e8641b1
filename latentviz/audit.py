"""Audit a run against a policy: thresholds on its metrics, each check ``pass``, ``fail``, ``warn``, ``skip`` or ``error``.

A policy is YAML (or the same structure as a dict)::

    checks:
      - metric: active_units
        gte: 3
        description: at least three latent dimensions carry information
      - metric: trustworthiness
        gte: 0.9
        severity: warn
      - metric: reconstruction_error
        lte: 1.1
        relative: true          # threshold = 1.1 × the baseline run's value
      - metric: mig
        between: [0.1, 1.0]

Each check names a metric of ``metrics.json`` and exactly one condition (``gt``, ``gte``,
``lt``, ``lte`` or ``between``). A metric the run lacks is ``skip`` (with the reason), never
``pass``; a relative check without a baseline is ``skip`` too. ``severity: warn`` turns a
failure into a warning. :func:`exit_code` maps the results to the CLI's 0 / 1 / 2.

The drift scores (``drift_domain_auc``, ``drift_mmd_p_value``, ``drift_ks_share``, ...; see
:mod:`latentviz.drift`) are metrics too: they come from the run's ``drift.json``, measured against
the ``--baseline`` run when it is missing or was measured against another one (:func:`baseline_drift`).
:func:`derive_policy` learns thresholds from a baseline run's values (``audit --derive``).
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from latentviz.errors import InputError

DEFAULT_POLICY = Path(__file__).parent / "policies" / "default.yaml"
#: The policy applied without --policy, by the run's kind (manifest ``kind``; a run made by
#: ``latentviz sample`` counts as ``generator``). A kind not listed gets :data:`DEFAULT_POLICY`.
DEFAULT_POLICIES = {
    "vae": DEFAULT_POLICY,
    "autoencoder": DEFAULT_POLICY.with_name("default-autoencoder.yaml"),
    "feature_extractor": DEFAULT_POLICY.with_name("default-embedding.yaml"),
    "embedding": DEFAULT_POLICY.with_name("default-embedding.yaml"),
    "imported": DEFAULT_POLICY.with_name("default-embedding.yaml"),
    "generator": DEFAULT_POLICY.with_name("default-generator.yaml"),
}
CONDITIONS = ("gt", "gte", "lt", "lte", "between")
_SYMBOL = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
_NEGATED = {"gt": "≤", "gte": "<", "lt": "≥", "lte": ">"}
STATUSES = ("pass", "fail", "warn", "skip", "error")
PROJECTION_TRUSTWORTHINESS = "projection_trustworthiness"  # the projection stage's value (see run_values)


def policy_metrics() -> list[str]:
    """Every name a policy may check: the metric registry's, the projection stage's trustworthiness
    (``projection_trustworthiness`` for the worst map, ``projection_trustworthiness_<method>`` per map)
    and the drift scores against a baseline run (:func:`latentviz.drift.metric_infos`)."""
    from latentviz.drift import metric_infos
    from latentviz.metrics import REGISTRY
    from latentviz.projection import METHODS

    return [
        *REGISTRY,
        PROJECTION_TRUSTWORTHINESS,
        *(f"{PROJECTION_TRUSTWORTHINESS}_{m}" for m in METHODS),
        *metric_infos(),
    ]


class Check(BaseModel):
    """One line of a policy: a metric, one condition on it, a severity and a description."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a NaN threshold would skip or fail silently

    metric: str = Field(min_length=1)
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    between: tuple[float, float] | None = None
    relative: bool = False
    severity: Literal["fail", "warn"] = "fail"
    description: str | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        """A misspelt name must not pass the gate as a skip: refuse it, suggesting the nearest valid names."""
        from latentviz.drift import metric_infos
        from latentviz.metrics import REGISTRY

        if name in REGISTRY or name == PROJECTION_TRUSTWORTHINESS or name in metric_infos():
            return name
        known = policy_metrics()
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else f"known metrics: {', '.join(known)}"
            raise ValueError(f"unknown metric '{name}'; {hint}")
        return name

    @model_validator(mode="after")
    def _one_condition(self):
        given = [c for c in CONDITIONS if getattr(self, c) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one condition of {', '.join(CONDITIONS)}; got {', '.join(given) or 'none'}")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError(f"between: the lower bound {self.between[0]} is above the upper {self.between[1]}")
        return self

    @property
    def condition(self) -> str:
        return next(c for c in CONDITIONS if getattr(self, c) is not None)

    @property
    def threshold(self):
        return getattr(self, self.condition)


class Policy(BaseModel):
    """A list of checks (``checks:``), optionally named."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    checks: list[Check] = Field(min_length=1)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; ``message`` is the sentence a reader sees."""

    metric: str
    status: str
    value: float | None
    threshold: str
    severity: str
    description: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def load_policy(source: str | os.PathLike | dict | None = None) -> Policy:
    """Parse a policy from a YAML file, a dict, or (``None``) the default policy shipped with latentviz."""
    import yaml

    where = "the default policy" if source is None else str(source) if not isinstance(source, dict) else "policy"
    if source is None or not isinstance(source, dict):
        path = Path(source) if source is not None else DEFAULT_POLICY
        if not path.is_file():
            raise InputError(f"--policy {path}: no such file; give a YAML policy (see 'latentviz audit --help')")
        try:
            source = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InputError(f"--policy {path}: not valid YAML ({' '.join(str(exc).split())})") from None
    try:
        return Policy.model_validate(source)
    except ValidationError as exc:
        raise InputError(f"{where}: {_first_error(exc)}") from None


def run_kind(run) -> str | None:
    """The kind that picks ``run``'s default policy: the manifest's ``kind``, ``generator`` for prior samples."""
    manifest = run.manifest
    if (manifest.get("data") or {}).get("kind") == "prior":
        return "generator"
    return manifest.get("kind")


def default_policy(kind: str | None) -> Path:
    """The policy file applied to a run of ``kind`` when none is given (see :data:`DEFAULT_POLICIES`)."""
    return DEFAULT_POLICIES.get(kind, DEFAULT_POLICY) if kind else DEFAULT_POLICY


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    place = ".".join(str(p) for p in err["loc"]) or "top level"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = f"unknown key; a check takes metric, {', '.join(CONDITIONS)}, relative, severity, description"
    elif err["type"] == "finite_number":
        message = f"the threshold must be a finite number; got {err.get('input')!r}"
    count = exc.error_count()
    return f"{place}: {message}" + (f" (and {count - 1} more problems)" if count > 1 else "")


def run_values(run, baseline=None) -> dict:
    """What a policy can check in ``run``: ``metrics.json``, each projection's trustworthiness, and drift.

    The projection stage records the trustworthiness of every 2-D map in the manifest; it is
    offered as ``projection_trustworthiness_<method>`` and, for the worst map,
    ``projection_trustworthiness``. The drift scores come from the run's ``drift.json``: with a
    ``baseline`` run only when it was measured against that baseline (:func:`baseline_drift` measures
    it); otherwise they are skipped, saying why.
    """
    from latentviz.drift import is_current, metric_infos

    values = dict(run.metrics)
    drift = run.drift
    if drift and (baseline is None or is_current(drift, baseline)):
        for name, value in (drift.get("scores") or {}).items():
            values.setdefault(name, value)
    else:
        skipped = dict(values.get("skipped") or {}) if isinstance(values.get("skipped"), dict) else {}
        values["skipped"] = {**dict.fromkeys(metric_infos(), _drift_missing(run, baseline)), **skipped}
    maps = {
        m: float(e["trustworthiness"])
        for m, e in (run.manifest.get("projections") or {}).items()
        if isinstance(e, dict) and isinstance(e.get("trustworthiness"), (int, float))
    }
    for method, value in maps.items():
        values.setdefault(f"{PROJECTION_TRUSTWORTHINESS}_{method}", value)
    if maps:
        values.setdefault(PROJECTION_TRUSTWORTHINESS, min(maps.values()))
    return values


def _drift_missing(run, baseline) -> str:
    """Why ``run`` has no drift scores to check (against ``baseline``, when given)."""
    from latentviz.drift import model_mismatch
    from latentviz.run import DRIFT

    if baseline is None:
        return "drift is measured against a baseline: give --baseline RUN (or run 'latentviz drift REF RUN')"
    problem = model_mismatch(baseline, run)
    if problem:
        return (
            f"the baseline may be another model ({problem}); measure it with 'latentviz drift --allow-different-models'"
        )
    return f"{DRIFT} was not measured against this baseline: run 'latentviz drift BASELINE RUN'"


def baseline_drift(run, baseline, policy: Policy) -> None:
    """Measure ``run``'s drift from ``baseline`` into its ``drift.json`` when ``policy`` checks a drift score and
    ``drift.json`` is missing or was measured against another run, and the two runs are one model's (otherwise
    :func:`run_values` skips the drift checks, saying why)."""
    from latentviz.drift import drift_runs, is_current, metric_infos, model_mismatch

    wanted = {check.metric for check in policy.checks} & set(metric_infos())
    if not wanted or is_current(run.drift, baseline) or model_mismatch(baseline, run):
        return
    drift_runs(baseline, run, seed=int(run.manifest.get("seed") or 0))
    run.invalidate("drift")


#: A derived threshold's margin: this many standard deviations over the baseline's --repeats, or, where no
#: spread was recorded, this share of the baseline's value.
DERIVE_SPREADS = 2.0
DERIVE_SHARE = 0.05


def derive_policy(values: dict, *, policy: Policy | None = None, name: str = "derived") -> dict:
    """A policy (as a dict) whose thresholds come from a baseline run's ``values`` (:func:`run_values`), for review.

    Every metric of the baseline with a better direction gets a check: no worse than its value less
    :data:`DERIVE_SPREADS` standard deviations over the recorded repeats (``detail[name]["std"]``), or
    :data:`DERIVE_SHARE` of the value where none was recorded; a descriptive metric (no better
    direction) gets ``between`` that margin either side. The drift checks of ``policy`` are copied as
    they are: their thresholds are a statistical test's, not a run's.
    """
    from latentviz.drift import metric_infos
    from latentviz.metrics import REGISTRY

    infos = {**REGISTRY, **metric_infos()}
    recorded = values.get("detail")
    detail = recorded if isinstance(recorded, dict) else {}
    checks = []
    for metric in policy_metrics():
        if metric in metric_infos():
            continue
        value, _reason = metric_value(values, metric)
        if value is None or isinstance(value, str) or not math.isfinite(value):
            continue
        spread = (detail.get(metric) or {}).get("std") if isinstance(detail.get(metric), dict) else None
        if isinstance(spread, (int, float)) and math.isfinite(spread) and spread > 0:
            margin = DERIVE_SPREADS * float(spread)
            repeats = len((detail.get(metric) or {}).get("values") or [])
            why = f"baseline {_num(value)} ± {DERIVE_SPREADS:g} × std {_num(spread)} over {repeats} repeats"
        else:
            margin = DERIVE_SHARE * abs(value)
            why = f"baseline {_num(value)} ± {DERIVE_SHARE:.0%} (no spread recorded: 'latentviz metrics --repeats' measures one)"
        higher = infos[metric].higher_is_better if metric in infos else True  # the projection trustworthiness
        check: dict[str, object] = {"metric": metric}
        if higher is None:
            check["between"] = [value - margin, value + margin]
        elif higher:
            check["gte"] = value - margin
        else:
            check["lte"] = value + margin
        check["description"] = why
        checks.append(check)
    for kept in policy.checks if policy is not None else []:
        if kept.metric in metric_infos():
            checks.append(kept.model_dump(exclude_defaults=True))
    if not checks:
        raise InputError(
            "--derive: the baseline run has no metric values to learn thresholds from; "
            "run 'latentviz metrics BASELINE' first"
        )
    return {"name": name, "checks": checks}


def evaluate(policy: Policy, metrics: dict, *, baseline: dict | None = None) -> list[CheckResult]:
    """Run every check of ``policy`` on a run's ``metrics`` (and ``baseline``'s, for relative checks)."""
    return [_evaluate(check, metrics, baseline) for check in policy.checks]


def _evaluate(check: Check, metrics: dict, baseline: dict | None) -> CheckResult:
    def result(status, value, threshold, message):
        return CheckResult(check.metric, status, value, threshold, check.severity, check.description or "", message)

    value, reason = metric_value(metrics, check.metric)
    if value is None:
        return result("skip", None, _threshold_text(check, None), f"{check.metric}: skipped, {reason}")
    if isinstance(value, str):
        return result("error", None, _threshold_text(check, None), f"{check.metric}: {value}")
    scale: float | None = None
    if check.relative:
        if baseline is None:
            return result(
                "skip",
                value,
                _threshold_text(check, None),
                f"{check.metric}: skipped, a relative check needs --baseline RUN",
            )
        found, reason = metric_value(baseline, check.metric)
        if found is None or isinstance(found, str):
            return result(
                "skip",
                value,
                _threshold_text(check, None),
                f"{check.metric}: skipped, the baseline run has no usable value ({reason or found})",
            )
        scale = found
    lo, hi = _bounds(check, scale)
    threshold = _threshold_text(check, scale)
    holds = _holds(check.condition, value, lo, hi)
    status = "pass" if holds else check.severity
    relation = _relation(check.condition, holds, lo, hi)
    return result(
        status, value, threshold, f"{check.metric} {_num(value)} {relation}" + ("" if holds else f" ({status})")
    )


def metric_value(metrics: dict, name: str) -> tuple[float | str | None, str | None]:
    """``(value, None)`` for a usable number, ``(None, reason)`` when it is missing, ``(problem, None)`` when malformed."""
    if name not in metrics:
        recorded = metrics.get("skipped")
        why = recorded.get(name) if isinstance(recorded, dict) else None
        return None, (
            f"not computed for this run ({why})"
            if why
            else "the run has no such metric (compute it with 'latentviz metrics RUN')"
        )
    value = metrics[name]
    if value is None:
        return None, "the metric is undefined for this run"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"value {value!r} is not a number", None
    if math.isnan(value):
        return None, "the metric is undefined (NaN) for this run"
    return float(value), None


def _bounds(check: Check, scale: float | None) -> tuple[float, float]:
    factor = 1.0 if scale is None else scale
    if check.between is not None:
        lo, hi = sorted((check.between[0] * factor, check.between[1] * factor))
        return lo, hi
    t = check.threshold * factor
    return t, t


def _holds(condition: str, value: float, lo: float, hi: float) -> bool:
    return {"gt": value > lo, "gte": value >= lo, "lt": value < lo, "lte": value <= lo, "between": lo <= value <= hi}[
        condition
    ]


def _relation(condition: str, holds: bool, lo: float, hi: float) -> str:
    if condition == "between":
        return f"{'in' if holds else 'outside'} [{_num(lo)}, {_num(hi)}]"
    return f"{(_SYMBOL if holds else _NEGATED)[condition]} {_num(lo)}"


def _threshold_text(check: Check, scale: float | None) -> str:
    if check.between is not None:
        base = f"in [{_num(check.between[0])}, {_num(check.between[1])}]"
    else:
        base = f"{_SYMBOL[check.condition]} {_num(check.threshold)}"
    if not check.relative:
        return base
    return base + (f" × baseline {_num(scale)}" if scale is not None else " × baseline")


def _num(value: float) -> str:
    return f"{value:.4g}"


def counts(results: list[CheckResult]) -> dict[str, int]:
    return {status: sum(r.status == status for r in results) for status in STATUSES}


def overall(results: list[CheckResult]) -> str:
    """``fail`` if any check failed, else ``error`` if any could not be evaluated, else ``warn`` or ``pass``."""
    found = {r.status for r in results}
    return next((s for s in ("fail", "error", "warn") if s in found), "pass")


def exit_code(results: list[CheckResult]) -> int:
    """0 when no check fails, 1 when any fails, 2 when a check could not be evaluated."""
    return {"fail": 1, "error": 2}.get(overall(results), 0)


def to_json(
    results: list[CheckResult], *, run: str, policy: str, baseline: str | None = None, policy_name: str | None = None
) -> dict:
    """The machine-readable audit: the policy (file and name), overall status, counts and every result."""
    return {
        "run": run,
        "policy": policy,
        "policy_name": policy_name,
        "baseline": baseline,
        "status": overall(results),
        "counts": counts(results),
        "results": [r.to_dict() for r in results],
    }


def to_junit(results: list[CheckResult], *, run: str, policy: str | None = None) -> bytes:
    """JUnit XML (one test case per check) for CI systems; warnings pass with a note in system-out."""
    import xml.etree.ElementTree as ET

    tally = counts(results)
    suite = ET.Element(
        "testsuite",
        name="latentviz audit",
        tests=str(len(results)),
        failures=str(tally["fail"]),
        errors=str(tally["error"]),
        skipped=str(tally["skip"]),
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="run", value=run)
    if policy:
        ET.SubElement(properties, "property", name="policy", value=policy)
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="latentviz.audit", name=r.metric)
        if r.status == "fail":
            ET.SubElement(case, "failure", message=r.message, type="threshold").text = r.description
        elif r.status == "error":
            ET.SubElement(case, "error", message=r.message)
        elif r.status == "skip":
            ET.SubElement(case, "skipped", message=r.message)
        elif r.status == "warn":
            ET.SubElement(case, "system-out").text = f"warning: {r.message}"
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n"


def format_table(results: list[CheckResult]) -> str:
    """A plain-text table: status, metric, measured value, threshold, sentence."""
    rows = [("STATUS", "METRIC", "VALUE", "THRESHOLD", "RESULT")]
    rows += [
        (
            r.status.upper(),
            r.metric,
            "—" if r.value is None else _num(r.value),
            r.threshold,
            r.message + (f" — {r.description}" if r.description else ""),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4] for row in rows
    )
