"""Build a run's :class:`ReportModel` and write its HTML: the entry points of ``reports``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from latentviz import figures
from latentviz.run import CLUSTER_FACTS, DRIFT, METRICS, REPORT, TRAVERSAL_INDEX, TRAVERSALS, Run, write_bytes
from reports._groups import cluster_section, drift_section
from reports._model import AuditRow, AuditSection, Fact, MetricSection, ReportModel
from reports._render import num, render, seconds
from reports._sections import latent_section, latent_stats, projection_section, spec, traversal_section
from reports._verdicts import NOT_COMPUTED, verdicts

#: Points drawn per projection at most (a seeded sample, stratified by label, above it).
MAX_POINTS = 20_000


def build_report(
    run: Run,
    *,
    policy=None,
    baseline: Run | None = None,
    max_points: int = MAX_POINTS,
    seed: int | None = None,
    color_modes: dict | None = None,
    quiet: bool = False,
) -> ReportModel:
    """Everything the report of ``run`` shows, as data.

    Parameters
    ----------
    run : Run
    policy : Policy, optional
        An audit policy (:func:`latentviz.audit.load_policy`); without one the audit section
        says how to add it.
    baseline : Run, optional
        The run that ``relative: true`` checks compare against.
    max_points : int
        Scatter points per projection at most.
    seed : int, optional
        Seed of the sample and of the thumbnail order (default: the run's seed).
    color_modes : dict, optional
        Metadata column -> ``categorical`` or ``continuous``: how the scatters colour it
        (otherwise :func:`latentviz.figures.is_categorical` decides).
    quiet : bool
        No progress bar (otherwise one on stderr names the section being built: at a million points
        the projections take tens of seconds).
    """
    from latentviz.progress import progress

    run.require_complete()
    manifest = run.manifest
    if seed is None:  # an imported run records no seed (null): the report still draws a fixed sample
        seed = manifest.get("seed")
    seed = int(seed) if seed is not None else 0
    stats = latent_stats(run)
    metrics = run.metrics
    builders = {
        "audit": lambda: audit_section(run, policy, baseline),
        "projections": lambda: projection_section(run, max_points=max_points, seed=seed, color_modes=color_modes),
        "clusters": lambda: cluster_section(run, seed=seed),
        "latent dimensions": lambda: latent_section(run, stats),
        "metrics": lambda: metric_section(run),
        "drift": lambda: drift_section(run),
        "traversals": lambda: traversal_section(run),
    }
    # the result file each section reads: one of another shape is named in the error
    read = {
        "clusters": CLUSTER_FACTS,
        "metrics": METRICS,
        "drift": DRIFT,
        "traversals": f"{TRAVERSALS}/{TRAVERSAL_INDEX}",
    }
    built = {}
    with progress(total=len(builders), desc="report", unit="section", quiet=quiet) as bar:
        for name, build in builders.items():
            bar.set_postfix_str(name)  # drawn now: the section being built is named however long it takes
            with run.reading(read[name]) if name in read else contextlib.nullcontext():
                built[name] = build()
            bar.update(1)
    audit, *sections = built.values()
    # a gate's result belongs at the top; without a policy the section only says how to add one
    sections = [audit, *sections] if policy is not None else [*sections, audit]
    return ReportModel(
        title=run.path.resolve().name,
        subtitle=_subtitle(run),
        facts=summary_facts(run, stats),
        verdicts=verdicts(
            stats=stats,
            metrics=metrics,
            projections=manifest.get("projections") or {},
            has_factors=bool(run.factor_names),
        ),
        provenance=provenance(run),
        sections=sections,
        generator=f"latentviz {manifest.get('versions', {}).get('latentviz', '')}".strip(),
    )


def render_report(model: ReportModel) -> str:
    return render("report.html", report=model)


def write_report(run: Run, out: str | Path | None = None, **options) -> Path:
    """Build and render the report of ``run`` into ``out`` (default ``RUN/report.html``), atomically.

    Into the run folder it is written as a stage (:meth:`Run.stage`), holding the run's lock.
    """
    if out is not None and Path(out).resolve() != run.file(REPORT).resolve():
        return _write_html(Path(out), run, options)
    with run.stage("report") as stage:
        _write_html(stage.path(REPORT), run, options)
    return run.file(REPORT)


def _write_html(path: Path, run: Run, options: dict) -> Path:
    write_bytes(path, render_report(build_report(run, **options)).encode("utf-8"))
    path.chmod(0o644)  # a report is meant to be shared; the atomic temporary file starts private
    return path


# -- summary and provenance ---------------------------------------------------------------------


def _subtitle(run: Run) -> str:
    manifest = run.manifest
    kind = KIND_NAMES.get(manifest.get("kind") or "", manifest.get("kind") or "model")
    data = (manifest.get("data") or {}).get("spec") or "imported latents"
    if manifest.get("kind") == "imported" or not manifest.get("model"):
        return f"Imported {run.latent_dim}-dimensional latent codes of {run.n:,} samples."
    article = "an" if str(run.latent_dim)[0] == "8" or run.latent_dim in (11, 18) else "a"
    return f"A {kind} with {article} {run.latent_dim}-dimensional latent space, encoded on {run.n:,} samples of {data}."


KIND_NAMES = {"vae": "VAE", "imported": "imported"}


def summary_facts(run: Run, stats: dict) -> list[Fact]:
    manifest = run.manifest
    active = sum(bool(a) for a in stats.get("active", []))
    facts = [
        Fact("Model", KIND_NAMES.get(manifest.get("kind") or "", str(manifest.get("kind") or "—"))),
        Fact("Latent dimensions", num(run.latent_dim)),
        Fact("Samples", num(run.n)),
        Fact(
            "Active dimensions",
            f"{active} of {run.latent_dim}" if stats else "—",
            "variance > 0.01" if stats else "not recorded",
        ),
    ]
    if run.factor_names:
        facts.append(Fact("Known factors", str(len(run.factor_names)), ", ".join(run.factor_names)))
    return facts


def provenance(run: Run) -> list[Fact]:
    manifest = run.manifest
    model = manifest.get("model") or {}
    data = manifest.get("data") or {}
    rows = [Fact("Run folder", str(run.path.resolve()))]
    if model:
        rows += [
            Fact("Checkpoint", str(model.get("checkpoint", "—"))),
            Fact("Checkpoint sha256", str(model.get("sha256", "—"))),
            Fact("Loaded as", _loaded_as(model)),
        ]
    else:
        rows.append(Fact("Model", "none: latents were imported"))
    rows += [
        Fact("Data", str(data.get("spec", "—")), _data_note(data)),
        Fact("Samples", num(manifest.get("n", run.n))),
        Fact("Seed", _or_dash(manifest.get("seed"))),
        Fact("Device", _or_dash(manifest.get("device"))),
    ]
    versions = manifest.get("versions") or {}
    if versions:
        rows.append(Fact("Versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))))
    for stage, took in (manifest.get("timings") or {}).items():
        params = (manifest.get("parameters") or {}).get(stage)
        rows.append(Fact(f"Stage: {stage}", seconds(took), _compact(params) if params else ""))
    return rows


def _or_dash(value) -> str:
    """A manifest value for display; an imported run records ``null`` for its seed and device."""
    return "—" if value is None else str(value)


def _loaded_as(model: dict) -> str:
    parts = [str(model.get("form", "checkpoint"))]
    if model.get("factory"):
        parts.append(f"built by {model['factory']}({_compact(model.get('kwargs') or {})[1:-1]})")
    if model.get("layer"):
        parts.append(f"latent taken from layer {model['layer']}")
    parts.append("trusted (pickle code allowed)" if model.get("trusted") else "safe loading (no code executed)")
    return "; ".join(parts)


def _data_note(data: dict) -> str:
    return ", ".join(
        f"{k}={v}" for k, v in sorted(data.items()) if k not in ("spec", "n") and not isinstance(v, (dict, list))
    )


def _compact(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)


# -- metrics and audit ---------------------------------------------------------------------------


def metric_facts() -> dict:
    """The metric registry (name -> facts) when the metrics package provides one."""
    try:
        from latentviz.metrics import REGISTRY
    except ImportError:
        return {}
    return dict(REGISTRY)


GROUP_TITLES = {
    "disentanglement": "Disentanglement (against the known factors)",
    "independence": "Independence of the latents",
    "regularity": "Regularity and neighbourhoods",
    "decoder": "Decoder",
    "labels": "Labels",
    "": "Other",
}


def metric_section(run: Run) -> MetricSection:
    section = MetricSection(
        id="metrics",
        title="Metrics",
        intro="Scores of the latent space. Disentanglement scores compare the code with the data's known "
        "factors; regularity scores describe the code alone; projection scores say how faithful the "
        "2-D maps are. Arrows say which direction is better.",
    )
    metrics = run.metrics
    if not figures.metric_values(metrics):
        section.missing = NOT_COMPUTED
        return section
    groups: dict[str, list] = {}
    for row in figures.metric_rows(metrics, metric_facts()):
        groups.setdefault(row.group, []).append(row)
    section.groups = [(GROUP_TITLES.get(g, g.capitalize() or "Other"), rows) for g, rows in groups.items()]
    recorded = metrics.get("skipped")
    skipped = recorded if isinstance(recorded, dict) else {}
    section.skipped = [Fact(str(name), str(reason)) for name, reason in sorted(skipped.items())]
    mi = mutual_information(metrics, run)
    if mi is not None:
        section.figures.append(
            spec(
                "metrics-mi",
                figures.mi_heatmap(mi, latent_names=[f"z{j}" for j in range(len(mi))], factor_names=run.factor_names),
                "Mutual information of each latent with each factor, divided by the factor's entropy. "
                "A disentangled code has one bright cell per column, in different rows.",
            )
        )
    return section


def mutual_information(metrics: dict, run: Run):
    """The latent × factor mutual information the metrics stage recorded (for MIG), over the factor
    entropies it recorded beside it."""
    import numpy as np

    entry = (metrics.get("detail") or {}).get("mig")
    if not isinstance(entry, dict) or entry.get("mutual_info_matrix") is None or entry.get("factor_entropy") is None:
        return None
    mi = np.asarray(entry["mutual_info_matrix"], dtype=float)
    h = np.asarray(entry["factor_entropy"], dtype=float)
    if mi.shape != (run.latent_dim, len(run.factor_names)) or h.shape != (mi.shape[1],):
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(np.where(h > 0, mi / h, 0.0), 0.0, 1.0)


def audit_section(run: Run, policy, baseline: Run | None) -> AuditSection:
    section = AuditSection(
        id="audit",
        title="Audit",
        intro="Checks of the metrics against a policy of thresholds; the same results `latentviz audit` gives.",
    )
    if policy is None:
        section.missing = "no policy given: `latentviz report RUN --policy POLICY.yaml` adds the checks here"
        return section
    from latentviz.audit import evaluate, overall, run_values

    results = evaluate(
        policy, run_values(run, baseline), baseline=run_values(baseline) if baseline is not None else None
    )
    section.status = overall(results)
    section.policy = policy.name or "policy"
    section.rows = [AuditRow(r.status, r.metric, r.value, r.threshold, r.message, r.description) for r in results]
    return section
