"""Compare several runs of the same data in one report: metrics side by side, representation
similarity with chance levels, Procrustes-aligned maps, neighbourhood agreement, and a
checkpoint series.

Every number comes from one :class:`latentviz.compare.Comparison` (the dashboard's Compare page
renders the same result); this module only lays it out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentviz import figures
from latentviz.compare import Comparison, check_results_path, compare_runs, run_step
from latentviz.run import FACTOR_PREFIX, Run, method_label, projection_table, write_bytes
from reports._model import Cell, Fact, FigureSection, ReportModel, TableSection, Verdict
from reports._render import num, render
from reports._sections import scatter_inputs, spec


def build_comparison(
    runs: list[Run],
    *,
    order: str = "given",
    max_points: int = 20_000,
    permutations: int = 20,
    seed: int = 0,
    quiet: bool = False,
) -> ReportModel:
    """The comparison of ``runs`` (at least two) as a report model."""
    comparison = compare_runs(runs, order=order, permutations=permutations, seed=seed, quiet=quiet)
    return comparison_model(comparison, max_points=max_points, seed=seed)


def comparison_model(comparison: Comparison, *, max_points: int = 20_000, seed: int = 0) -> ReportModel:
    """The report model of a computed comparison (it reads the result; it computes nothing)."""
    runs, names, n = comparison.runs, comparison.names, comparison.n_shared
    similarity, verdicts = similarity_section(comparison)
    sections = [
        metric_table(runs, names, comparison.order),
        similarity,
        agreement_section(comparison, max_points=max_points, seed=seed),
        *aligned_sections(comparison, max_points, seed),
    ]
    return ReportModel(
        title=" vs ".join(names) if len(names) <= 3 else f"{names[0]} … {names[-1]} ({len(names)} runs)",
        subtitle=f"{len(runs)} runs compared on the {n:,} samples they share (rows matched by id).",
        facts=[
            Fact("Runs", str(len(runs))),
            Fact("Shared samples", num(n)),
            Fact("Latent dimensions", ", ".join(str(r.latent_dim) for r in runs)),
        ],
        verdicts=verdicts,
        provenance=[_run_fact(r, name) for r, name in zip(runs, names, strict=True)],
        sections=sections,
        eyebrow="comparison report",
        generator=f"latentviz {runs[0].manifest.get('versions', {}).get('latentviz', '')}".strip(),
    )


def write_comparison(
    runs: list[Run],
    out: str | Path,
    *,
    results: str | Path | None = None,
    order: str = "given",
    max_points: int = 20_000,
    permutations: int = 20,
    seed: int = 0,
    quiet: bool = False,
) -> Path:
    """Compare ``runs`` and render the report into ``out``, atomically; ``results`` (``.json`` or ``.npz``)
    also keeps the comparison itself (:meth:`latentviz.compare.Comparison.save`)."""
    out = Path(out)
    if results is not None:
        check_results_path(results)
    comparison = compare_runs(runs, order=order, permutations=permutations, seed=seed, quiet=quiet)
    if results is not None:
        comparison.save(results)
    model = comparison_model(comparison, max_points=max_points, seed=seed)
    write_bytes(out, render("report.html", report=model).encode("utf-8"))
    out.chmod(0o644)
    return out


def _run_fact(run: Run, name: str) -> Fact:
    model = run.manifest.get("model") or {}
    data = (run.manifest.get("data") or {}).get("spec", "imported latents")
    sha = str(model.get("sha256", ""))[:12] or "no checkpoint"
    seed = run.manifest.get("seed")  # null for an imported run
    return Fact(
        name,
        f"{run.path.resolve()}",
        f"checkpoint {sha}, data {data}, n = {run.n:,}, seed {'—' if seed is None else seed}",
    )


def metric_table(runs: list[Run], names: list[str], order: str) -> TableSection:
    from reports._build import metric_facts

    section = TableSection(
        id="metrics",
        title="Metrics side by side",
        intro="Each run's metrics; Δ is the last run minus the first, green where it improved "
        "in the metric's better direction.",
    )
    values = [figures.metric_values(r.metrics) for r in runs]
    metric_names = sorted(set().union(*values))
    if not metric_names:
        section.missing = "not computed: run `latentviz metrics RUN` on each run"
        return section
    facts = metric_facts()
    section.header = ["Metric", "Better", *names, "Δ"]
    for name in metric_names:
        higher = getattr(facts.get(name), "higher_is_better", None)
        series = [v.get(name) for v in values]
        first, last = series[0], series[-1]
        delta = None if first is None or last is None else last - first
        tone = "" if not delta or higher is None else ("good" if (delta > 0) == higher else "poor")
        section.rows.append(
            [
                Cell(name),
                Cell("—" if higher is None else "↑" if higher else "↓"),
                *[Cell(num(v)) for v in series],
                Cell("—" if delta is None else ("+" if delta > 0 else "") + num(delta), tone),
            ]
        )
    if order == "step" or len(runs) > 2:
        steps = [run_step(r) for r in runs] if order == "step" else list(range(len(runs)))
        section.figures.append(
            spec(
                "compare-series",
                figures.metric_series(
                    steps,
                    {m: [v.get(m, np.nan) if v.get(m) is not None else np.nan for v in values] for m in metric_names},
                    x_title="step" if order == "step" else "run",
                    names=names,
                ),
            )
        )
    return section


def similarity_section(comparison: Comparison) -> tuple[TableSection, list[Verdict]]:
    section = TableSection(
        id="similarity",
        title="Representation similarity",
        intro="How alike the latent spaces are, sample by sample. Linear CKA and SVCCA ignore rotations and "
        "rescaling; the Procrustes distance allows a rotation and a scale only (0 = identical); mutual kNN "
        "compares neighbourhoods. Each score is shown with its chance level: the same score after shuffling "
        "one run's rows.",
    )
    names, scores = comparison.names, list(comparison.scores.values())
    section.header = ["Runs", *[s.similarity.label for s in scores]]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            section.rows.append(
                [Cell(f"{names[i]} vs {names[j]}")]
                + [
                    Cell(f"{s.values[i, j]:.3f} (chance {s.chance[i, j]:.3f})", "good" if s.beats_chance(i, j) else "")
                    for s in scores
                ]
            )
    cka = comparison.scores["linear_cka"]
    verdicts = [
        _similarity_verdict(names[0], names[j], cka.values[0, j], cka.chance[0, j]) for j in range(1, len(names))
    ]
    if len(names) > 2:
        for s in scores:
            section.figures.append(
                spec(
                    f"similarity-{s.similarity.name}",
                    figures.similarity_heatmap(
                        s.values,
                        names=names,
                        title=f"{s.similarity.label} between runs",
                        baseline=s.chance,
                        zmax=s.similarity.top,
                    ),
                )
            )
    if comparison.scored_rows < comparison.n_shared:
        section.note = (
            f"Scores on a seeded sample of {comparison.scored_rows:,} of the {comparison.n_shared:,} shared samples."
        )
    return section, verdicts


def _similarity_verdict(a: str, b: str, score: float, chance: float) -> Verdict:
    evidence = f"linear CKA {score:.3f} against a chance level of {chance:.3f} (rows shuffled)."
    if score >= 0.9:
        return Verdict(
            f"{b} vs {a}", "good", "Nearly the same representation, up to a linear change of basis.", evidence
        )
    if score >= chance + 0.2:
        return Verdict(
            f"{b} vs {a}",
            "fair",
            "Related representations: they share much structure but differ beyond a rotation.",
            evidence,
        )
    return Verdict(f"{b} vs {a}", "poor", "Different representations: little shared structure beyond chance.", evidence)


def agreement_section(comparison: Comparison, *, max_points: int, seed: int) -> FigureSection:
    runs, names, rows = comparison.runs, comparison.names, comparison.rows
    section = FigureSection(
        id="agreement",
        title="Where the spaces disagree",
        intro=f"Each point of {names[0]}'s map coloured by how many of its {comparison.k} nearest neighbours in the "
        "latent space are the same in the other run (Jaccard index: 1 = identical neighbourhood, "
        "0 = none shared). Dark regions are where the runs organise the data differently.",
        columns=2 if len(runs) > 2 else 1,
    )
    projections, metadata = scatter_inputs(runs[0])
    methods = list(runs[0].projection_methods)
    for j, agreement in enumerate(comparison.agreement, start=1):
        section.facts.append(
            Fact(
                f"{names[j]} vs {names[0]}",
                f"mean {agreement.mean():.2f}",
                f"{(agreement >= 0.5).mean():.0%} of points keep at least half of their neighbours",
            )
        )
        if methods:
            table = projections.iloc[rows[0]].reset_index(drop=True)
            meta = metadata.iloc[rows[0]].reset_index(drop=True).assign(agreement=np.round(agreement, 4))
            fig = figures.projection_scatter(
                table,
                meta,
                method=methods[0],
                color_by="agreement",
                max_points=max_points,
                seed=seed,
                title=f"{names[0]}'s {method_label(methods[0])}, coloured by agreement with {names[j]}",
            )
            fig.data[0].marker.update(cmin=0, cmax=1)
            section.figures.append(spec(f"agreement-{j}", fig))
    if not methods:
        section.note = f"{names[0]} has no projections to draw the agreement on: run `latentviz project` on it."
    return section


def aligned_sections(comparison: Comparison, max_points: int, seed: int) -> list[FigureSection]:
    runs, names, rows = comparison.runs, comparison.names, comparison.rows
    missing = [name for name, run in zip(names, runs, strict=True) if run.projections is None]
    if missing:
        return [
            FigureSection(
                id="aligned",
                title="Aligned maps",
                missing=f"not computed for {', '.join(missing)}: run `latentviz project RUN`",
            )
        ]
    _, first_metadata = scatter_inputs(runs[0])
    metadata = first_metadata.iloc[rows[0]].reset_index(drop=True)
    color = next(
        (c for c in ("label", *[c for c in metadata.columns if c.startswith(FACTOR_PREFIX)]) if c in metadata.columns),
        None,
    )
    sections = []
    per_figure = max(1_000, max_points // len(runs))
    for method in runs[0].projection_methods:
        if method not in comparison.maps:
            continue
        label = method_label(method)
        maps = [xy[index] for xy, index in zip(comparison.maps[method], rows, strict=True)]
        lo, hi = np.min([m.min(axis=0) for m in maps], axis=0), np.max([m.max(axis=0) for m in maps], axis=0)
        pad = (hi - lo) * 0.04
        section = FigureSection(
            id=f"aligned-{method}",
            title=f"Aligned {label} maps",
            intro=f"Every run's {label} map rotated, scaled and shifted onto {names[0]}'s (Procrustes), so the same "
            "sample sits in the same place in every panel; differences are differences of the spaces.",
            columns=2,
        )
        for k, (name, xy) in enumerate(zip(names, maps, strict=True)):
            table = projection_table(metadata["id"], {method: xy})
            fig = figures.projection_scatter(
                table, metadata, method=method, color_by=color, max_points=per_figure, seed=seed, title=name, height=420
            )
            fig.update_layout(
                xaxis_range=[lo[0] - pad[0], hi[0] + pad[0]],
                yaxis_range=[lo[1] - pad[1], hi[1] + pad[1]],
                legend={"orientation": "h", "y": -0.12, "yanchor": "top", "x": 0},
            )
            section.figures.append(spec(f"aligned-{method}-{k}", fig))
        sections.append(section)
    return sections
