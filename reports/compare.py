"""Compare several runs of the same data in one report: metrics side by side, representation
similarity with chance levels, Procrustes-aligned maps, neighbourhood agreement, and a
checkpoint series.

Rows are matched by sample id (the ids every run shares, in the first run's order). Similarity
scores come from :mod:`latentviz.metrics`; each is shown beside its permutation baseline (the
score after shuffling one run's rows), so a reader can tell a high score from chance.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from latentviz.neighbors import neighbourhood_agreement
from latentviz import figures
from latentviz.errors import InputError
from latentviz.progress import progress
from latentviz.run import Run, write_bytes
from reports._model import Cell, Fact, FigureSection, ReportModel, TableSection, Verdict
from reports._render import num, render
from reports._sections import projection_methods, scatter_inputs, spec

#: Rows used for the similarity scores and their permutation baselines (a seeded sample above it).
SIMILARITY_ROWS = 2_000
#: Neighbours per point for the neighbourhood agreement.
AGREEMENT_K = 10
#: The similarity scores of :mod:`latentviz.metrics`: (function name, display name, higher is more similar,
#: largest value). Each is called as ``fn(z_a, z_b, baseline=True, seed=s) -> (score, chance)``.
SIMILARITIES = (("linear_cka", "linear CKA", True, 1.0), ("svcca", "SVCCA", True, 1.0),
                ("procrustes_distance", "Procrustes distance", False, 2**0.5), ("mutual_knn", "mutual kNN", True, 1.0))


# -- matching and ordering ------------------------------------------------------------------------

def order_runs(runs: list[Run], order: str) -> list[Run]:
    """The runs as given, by name, or by training step (``--order step``)."""
    if order == "given":
        return list(runs)
    if order == "name":
        return sorted(runs, key=lambda r: _natural(r.path.resolve().name))
    if order == "step":
        return sorted(runs, key=run_step)
    raise InputError(f"--order: unknown order '{order}'; choose from given, name, step")


def run_step(run: Run) -> float:
    """The training step of a run (:attr:`Run.step`), else the last number in its folder name."""
    if run.step is not None:
        return run.step
    numbers = re.findall(r"\d+", run.path.resolve().name)
    if numbers:
        return float(numbers[-1])
    raise InputError(f"--order step: found no step in {run.path} (manifest 'step'/'epoch', or a number in its name); "
                     "use --order name or given")


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def matched_rows(runs: list[Run]) -> list[np.ndarray]:
    """For each run, the row indices of the ids all runs share, in the first run's order."""
    shared = set(runs[0].ids)
    for run in runs[1:]:
        shared &= set(run.ids)
    if len(shared) < AGREEMENT_K + 2:
        raise InputError(f"compare: the runs share {len(shared)} sample ids; they must be encodings of the same data "
                         "(rows are matched by id)")
    order = [i for i in runs[0].ids if i in shared]
    out = []
    for run in runs:
        where = {v: k for k, v in enumerate(run.ids)}
        out.append(np.fromiter((where[i] for i in order), dtype=np.int64, count=len(order)))
    return out


# -- measurements ---------------------------------------------------------------------------------

def similarity_with_chance(name: str, a: np.ndarray, b: np.ndarray, *, permutations: int,
                           seed: int) -> tuple[float, float]:
    """(score, chance) of the similarity ``name``; chance is its mean over ``permutations`` row shuffles of ``b``."""
    import latentviz.metrics as metrics

    fn = getattr(metrics, name)
    results = [fn(a, b, baseline=True, seed=seed + p) for p in range(permutations)]
    return float(results[0][0]), float(np.mean([chance for _, chance in results]))


def aligned_maps(runs: list[Run], rows: list[np.ndarray], method: str) -> list[np.ndarray]:
    """Each run's 2-D ``method`` map on the shared rows, aligned to the first run's."""
    coords = []
    for run, index in zip(runs, rows):
        projections, _ = scatter_inputs(run)
        coords.append(projections[[f"{method}_0", f"{method}_1"]].to_numpy(dtype=np.float64)[index])
    from latentviz.projection import align_procrustes

    return [coords[0]] + [align_procrustes(c, coords[0])[0] for c in coords[1:]]


# -- the report -----------------------------------------------------------------------------------

def build_comparison(runs: list[Run], *, order: str = "given", max_points: int = 20_000, permutations: int = 20,
                     seed: int = 0, quiet: bool = False) -> ReportModel:
    """The comparison of ``runs`` (at least two) as a report model."""
    if len(runs) < 2:
        raise InputError(f"compare: give at least two runs; got {len(runs)}")
    for run in runs:
        run.require_complete()
    runs = order_runs(runs, order)
    names = _names(runs)
    rows = matched_rows(runs)
    zs = [run.z[index] for run, index in zip(runs, rows)]
    pairs = [(0, j) for j in range(1, len(runs))]
    with progress(total=len(pairs) * 2, desc="compare", unit="pair", quiet=quiet) as bar:
        similarity, verdicts = similarity_section(names, zs, permutations=permutations, seed=seed, bar=bar)
        agreement = agreement_section(runs, names, rows, zs, max_points=max_points, seed=seed, bar=bar)
    sections = [metric_table(runs, names, order), similarity, agreement, *aligned_sections(runs, names, rows,
                                                                                             max_points, seed)]
    n = len(rows[0])
    return ReportModel(
        title=" vs ".join(names) if len(names) <= 3 else f"{names[0]} … {names[-1]} ({len(names)} runs)",
        subtitle=f"{len(runs)} runs compared on the {n:,} samples they share (rows matched by id).",
        facts=[Fact("Runs", str(len(runs))), Fact("Shared samples", num(n)),
               Fact("Latent dimensions", ", ".join(str(r.latent_dim) for r in runs))],
        verdicts=verdicts, provenance=[_run_fact(r, name) for r, name in zip(runs, names)],
        sections=sections, eyebrow="comparison report",
        generator=f"latentviz {runs[0].manifest.get('versions', {}).get('latentviz', '')}".strip())


def write_comparison(runs: list[Run], out: str | Path, **options) -> Path:
    """Build and render the comparison of ``runs`` into ``out``, atomically."""
    out = Path(out)
    write_bytes(out, render("report.html", report=build_comparison(runs, **options)).encode("utf-8"))
    out.chmod(0o644)
    return out


def _names(runs: list[Run]) -> list[str]:
    names = [r.path.resolve().name for r in runs]
    if len(set(names)) < len(names):  # same folder name under different parents
        names = [str(r.path) for r in runs]
    return names


def _run_fact(run: Run, name: str) -> Fact:
    model = run.manifest.get("model") or {}
    data = (run.manifest.get("data") or {}).get("spec", "imported latents")
    sha = str(model.get("sha256", ""))[:12] or "no checkpoint"
    seed = run.manifest.get("seed")  # null for an imported run
    return Fact(name, f"{run.path.resolve()}",
                f"checkpoint {sha}, data {data}, n = {run.n:,}, seed {'—' if seed is None else seed}")


def metric_table(runs: list[Run], names: list[str], order: str) -> TableSection:
    from reports._build import metric_facts

    section = TableSection(id="metrics", title="Metrics side by side",
                           intro="Each run's metrics; Δ is the last run minus the first, green where it improved "
                                 "in the metric's better direction.")
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
        section.rows.append([Cell(name), Cell("—" if higher is None else "↑" if higher else "↓"),
                             *[Cell(num(v)) for v in series],
                             Cell("—" if delta is None else ("+" if delta > 0 else "") + num(delta), tone)])
    if order == "step" or len(runs) > 2:
        steps = [run_step(r) for r in runs] if order == "step" else list(range(len(runs)))
        section.figures.append(spec("compare-series", figures.metric_series(
            steps, {m: [v.get(m, np.nan) if v.get(m) is not None else np.nan for v in values] for m in metric_names},
            x_title="step" if order == "step" else "run", names=names)))
    return section


def similarity_section(names, zs, *, permutations: int, seed: int, bar) -> tuple[TableSection, list[Verdict]]:
    section = TableSection(
        id="similarity", title="Representation similarity",
        intro="How alike the latent spaces are, sample by sample. Linear CKA and SVCCA ignore rotations and "
              "rescaling; the Procrustes distance allows a rotation and a scale only (0 = identical); mutual kNN "
              "compares neighbourhoods. Each score is shown with its chance level: the same score after shuffling "
              "one run's rows.")
    rng = np.random.default_rng(seed)
    n = len(zs[0])
    sample = np.sort(rng.choice(n, SIMILARITY_ROWS, replace=False)) if n > SIMILARITY_ROWS else np.arange(n)
    k = len(names)
    scores = {name: (np.full((k, k), np.nan), np.full((k, k), np.nan)) for name, *_ in SIMILARITIES}
    section.header = ["Runs", *[label for _, label, _, _ in SIMILARITIES]]
    verdicts = []
    for i in range(k):
        for j in range(i + 1, k):
            cells = [Cell(f"{names[i]} vs {names[j]}")]
            for name, _, higher, top in SIMILARITIES:
                score, chance = similarity_with_chance(name, zs[i][sample], zs[j][sample],
                                                       permutations=permutations, seed=seed)
                scores[name][0][i, j] = scores[name][0][j, i] = score
                scores[name][1][i, j] = scores[name][1][j, i] = chance
                beats_chance = (score - chance if higher else chance - score) > 0.1 * top
                cells.append(Cell(f"{score:.3f} (chance {chance:.3f})", "good" if beats_chance else ""))
            section.rows.append(cells)
            if i == 0:
                verdicts.append(_similarity_verdict(names[0], names[j], *[m[0, j] for m in scores["linear_cka"]]))
                bar.update(1)
    if k > 2:
        for name, label, higher, top in SIMILARITIES:
            matrix = scores[name][0].copy()
            np.fill_diagonal(matrix, 1.0 if higher else 0.0)
            section.figures.append(spec(f"similarity-{name}", figures.similarity_heatmap(
                matrix, names=names, title=f"{label} between runs", baseline=scores[name][1], zmax=top)))
    if n > SIMILARITY_ROWS:
        section.note = f"Scores on a seeded sample of {SIMILARITY_ROWS:,} of the {n:,} shared samples."
    return section, verdicts


def _similarity_verdict(a: str, b: str, score: float, chance: float) -> Verdict:
    evidence = f"linear CKA {score:.3f} against a chance level of {chance:.3f} (rows shuffled)."
    if score >= 0.9:
        return Verdict(f"{b} vs {a}", "good", "Nearly the same representation, up to a linear change of basis.",
                       evidence)
    if score >= chance + 0.2:
        return Verdict(f"{b} vs {a}", "fair", "Related representations: they share much structure but differ "
                       "beyond a rotation.", evidence)
    return Verdict(f"{b} vs {a}", "poor", "Different representations: little shared structure beyond chance.",
                   evidence)


def agreement_section(runs, names, rows, zs, *, max_points: int, seed: int, bar) -> FigureSection:
    section = FigureSection(
        id="agreement", title="Where the spaces disagree",
        intro=f"Each point of {names[0]}'s map coloured by how many of its {AGREEMENT_K} nearest neighbours in the "
              "latent space are the same in the other run (Jaccard index: 1 = identical neighbourhood, "
              "0 = none shared). Dark regions are where the runs organise the data differently.",
        columns=2 if len(runs) > 2 else 1)
    projections, metadata = scatter_inputs(runs[0])
    methods = projection_methods(projections) if projections is not None else []
    facts = []
    for j in range(1, len(runs)):
        agreement = neighbourhood_agreement(zs[0], zs[j], k=AGREEMENT_K)
        bar.update(1)
        facts.append(Fact(f"{names[j]} vs {names[0]}", f"mean {agreement.mean():.2f}",
                          f"{(agreement >= 0.5).mean():.0%} of points keep at least half of their neighbours"))
        if methods:
            table = projections.iloc[rows[0]].reset_index(drop=True)
            meta = metadata.iloc[rows[0]].reset_index(drop=True).assign(agreement=np.round(agreement, 4))
            fig = figures.projection_scatter(table, meta, method=methods[0], color_by="agreement",
                                             max_points=max_points, seed=seed,
                                             title=f"{names[0]}'s {figures.METHOD_NAMES.get(methods[0], methods[0])}, "
                                                   f"coloured by agreement with {names[j]}")
            fig.data[0].marker.update(cmin=0, cmax=1)
            section.figures.append(spec(f"agreement-{j}", fig))
    section.facts = facts
    if not methods:
        section.note = f"{names[0]} has no projections to draw the agreement on: run `latentviz project` on it."
    return section


def aligned_sections(runs, names, rows, max_points: int, seed: int) -> list[FigureSection]:
    inputs = [scatter_inputs(r) for r in runs]
    if any(p is None for p, _ in inputs):
        missing = [n for n, (p, _) in zip(names, inputs) if p is None]
        return [FigureSection(id="aligned", title="Aligned maps",
                              missing=f"not computed for {', '.join(missing)}: run `latentviz project RUN`")]
    shared = [m for m in projection_methods(inputs[0][0]) if all(f"{m}_0" in p.columns for p, _ in inputs)]
    sections = []
    per_figure = max(1_000, max_points // len(runs))
    for method in shared:
        label = figures.METHOD_NAMES.get(method, method)
        maps = aligned_maps(runs, rows, method)
        metadata = inputs[0][1].iloc[rows[0]].reset_index(drop=True)
        color = next((c for c in ("label", *[c for c in metadata.columns if c.startswith("factor_")])
                      if c in metadata.columns), None)
        lo, hi = np.min([m.min(axis=0) for m in maps], axis=0), np.max([m.max(axis=0) for m in maps], axis=0)
        pad = (hi - lo) * 0.04
        section = FigureSection(
            id=f"aligned-{method}", title=f"Aligned {label} maps",
            intro=f"Every run's {label} map rotated, scaled and shifted onto {names[0]}'s (Procrustes), so the same "
                  "sample sits in the same place in every panel; differences are differences of the spaces.",
            columns=2)
        for k, (name, xy) in enumerate(zip(names, maps)):
            table = metadata[["id"]].assign(**{f"{method}_0": xy[:, 0], f"{method}_1": xy[:, 1]})
            fig = figures.projection_scatter(table, metadata, method=method, color_by=color, max_points=per_figure,
                                             seed=seed, title=name, height=420)
            fig.update_layout(xaxis_range=[lo[0] - pad[0], hi[0] + pad[0]], yaxis_range=[lo[1] - pad[1], hi[1] + pad[1]],
                              legend={"orientation": "h", "y": -0.12, "yanchor": "top", "x": 0})
            section.figures.append(spec(f"aligned-{method}-{k}", fig))
        sections.append(section)
    return sections
