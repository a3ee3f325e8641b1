"""Build each section of a run's report from the run folder (what is there; a note for what is not)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import plotly.io as pio

from latentviz import figures
from latentviz.latent_stats import LatentStats
from reports._model import (
    Fact, FigureSection, FigureSpec, Picture, PictureSection, ProjectionSection,
)
from reports._thumbs import hover_sprites

#: Default colour-by candidates: a column qualifies with at most this many categories (numbers always do).
MAX_COLOR_CATEGORIES = 50
_METHOD_ORDER = ("pca", "tsne", "umap")


def figure_json(fig) -> dict:
    """A figure as the JSON dict plotly.js reads (numpy arrays become typed arrays)."""
    return json.loads(pio.to_json(fig, validate=False))


def spec(fig_id: str, fig, caption: str = "") -> FigureSpec:
    return FigureSpec(id=fig_id, figure=figure_json(fig), caption=caption)


def latent_stats(run) -> dict:
    """The encode stage's per-dimension statistics, or the same computed from the latents."""
    stats = run.manifest.get("latent_stats")
    if stats and len(stats.get("var", [])) == run.latent_dim:
        return stats
    acc = LatentStats(run.latent_dim)
    acc.update(run.z, run.logvar)
    return acc.compute()


# -- projections -----------------------------------------------------------------------------

def projection_methods(projections) -> list[str]:
    found = sorted({c.rsplit("_", 1)[0] for c in projections.columns if c.endswith("_0")})
    return [m for m in _METHOD_ORDER if m in found] + [m for m in found if m not in _METHOD_ORDER]


def color_options(metadata) -> list[str]:
    """Metadata columns worth colouring by: numbers, and categories with few distinct values."""
    keep = []
    for column in metadata.columns:
        if column == "id":
            continue
        values = metadata[column]
        if not figures.is_categorical(values) or values.astype(str).nunique() <= MAX_COLOR_CATEGORIES:
            keep.append(column)
    return sorted(keep, key=lambda c: (c != "label", not c.startswith("factor_"), 0))


def scatter_inputs(run):
    """(projections, metadata) with rows in the same order, or (None, None) when not projected."""
    projections = run.projections
    if projections is None:
        return None, None
    metadata = run.latents[run.metadata_columns].reset_index(drop=True)
    if not np.array_equal(projections["id"].astype(str).to_numpy(), metadata["id"].astype(str).to_numpy()):
        metadata = metadata.set_index(metadata["id"].astype(str)).loc[projections["id"].astype(str)].reset_index(drop=True)
    return projections.reset_index(drop=True), metadata


def projection_section(run, *, max_points: int, seed: int) -> ProjectionSection:
    section = ProjectionSection(
        id="projections", title="Projections",
        intro="Each point is one sample, placed so that samples with similar latent codes sit close together. "
              "PCA keeps global distances (a linear view); t-SNE and UMAP keep local neighbourhoods, so "
              "their cluster sizes and the gaps between clusters carry little meaning. Hover over a point to "
              "see the input it came from.")
    projections, metadata = scatter_inputs(run)
    if projections is None:
        section.missing = "not computed: run `latentviz project RUN`"
        return section
    options = color_options(metadata)
    section.color_options = [(c, figures.display_name(c)) for c in options]
    section.color_by = options[0] if options else None
    strata = metadata["label"] if "label" in metadata.columns else None
    rows = figures.sample_rows(len(projections), max_points=max_points, seed=seed, strata=strata)
    for method in projection_methods(projections):
        fig = figures.projection_scatter(projections, metadata, method=method, color_by=section.color_by,
                                         max_points=max_points, seed=seed)
        entry = (run.manifest.get("projections") or {}).get(method) or {}
        section.figures.append(spec(f"projection-{method}", fig, projection_caption(entry)))
        section.methods.append((method, figures.METHOD_NAMES.get(method, method)))
    shown = metadata.iloc[rows]
    section.colors = {c: figures.scatter_colors(shown[c], name=figures.display_name(c)) for c in options}
    section.thumbs = hover_sprites(shown["id"].astype(str), run.thumbnails, seed=seed)
    notes = []
    if len(rows) < len(projections):
        notes.append(f"Showing {len(rows):,} of {len(projections):,} points, a seeded sample"
                     + (" stratified by label" if strata is not None else "") + f" (--max-points {max_points:,}).")
    if section.thumbs and section.thumbs["count"] < len(rows):
        notes.append(f"Thumbnails are embedded for {section.thumbs['count']:,} of the {len(rows):,} shown points.")
    section.note = " ".join(notes)
    return section


def projection_caption(entry: dict) -> str:
    """What the projection stage measured about one map: its faithfulness, variance kept, notes."""
    parts = []
    if isinstance(entry.get("trustworthiness"), (int, float)):
        parts.append(f"trustworthiness {entry['trustworthiness']:.3f}")
    if isinstance(entry.get("knn_preservation"), (int, float)):
        parts.append(f"{entry['knn_preservation']:.0%} of each point's {entry.get('quality_k', 10)} nearest "
                     "neighbours kept")
    ratio = entry.get("explained_variance_ratio")
    if isinstance(ratio, list) and len(ratio) >= 2:
        parts.append(f"the two axes hold {sum(ratio[:2]):.0%} of the variance")
    parts += [str(n) for n in entry.get("notes", [])]
    return (" · ".join(parts) + ".") if parts else ""


# -- latent dimensions -------------------------------------------------------------------------

def latent_section(run, stats: dict) -> FigureSection:
    section = FigureSection(
        id="latents", title="Latent dimensions",
        intro="How each dimension of the code is used. A VAE's prior asks every dimension to look like "
              "N(0, 1); a dimension that carries information departs from it, and one whose KL to the prior "
              "is near zero has collapsed — it encodes nothing and the decoder ignores it.")
    z = run.z
    names = [f"z{j}" for j in range(run.latent_dim)]
    active = np.asarray(stats.get("active", []), dtype=bool)
    section.facts.append(Fact("Active dimensions", f"{int(active.sum())} of {len(active)}",
                              "variance of the codes above 0.01 (Burda et al., 2016)"))
    if "collapsed" in stats:
        collapsed = [names[j] for j in np.flatnonzero(stats["collapsed"])]
        section.facts.append(Fact("Collapsed dimensions", ", ".join(collapsed) if collapsed else "none",
                                  "mean KL to the prior below 0.01 nats"))
    section.figures.append(spec("latent-histograms", figures.latent_histograms(z),
                                "Blue: the codes' distribution per dimension; red dots: the N(0, 1) prior."))
    if "kl_per_dim" in stats:
        section.figures.append(spec("latent-kl", figures.kl_bars(stats["kl_per_dim"]),
                                    "Mean KL(q(z|x) ‖ N(0, 1)) per dimension: the information each dimension carries."))
    section.figures.append(spec("latent-activity", figures.activity_bars(stats["var"]),
                                "Variance of the codes across samples; a dimension that does not vary is unused."))
    if run.latent_dim > 1:
        section.figures.append(spec("latent-correlation", figures.correlation_heatmap(z),
                                    "Off-diagonal colour means two dimensions move together — they encode "
                                    "overlapping information (entanglement)."))
    return section


# -- traversals ---------------------------------------------------------------------------------

_MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def traversal_section(run) -> PictureSection:
    section = PictureSection(
        id="traversals", title="Traversals and interpolations",
        intro="Decoded images while one latent dimension sweeps its range and the others stay fixed. A "
              "dimension that changes one thing (size, position, rotation) is disentangled; one that changes "
              "nothing is unused.")
    index = run.traversals
    folder = run.traversal_dir
    entries = traversal_entries(index, folder)
    if not entries:
        section.missing = "not computed: run `latentviz traverse RUN`"
        return section
    for title, caption, path in entries:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        section.pictures.append(Picture(title=title, caption=caption, mime=_MIME[path.suffix.lower()], data=data))
    return section


_KIND_TITLES = {"grid": "Dimension traversal", "channel_grid": "Channel traversal", "direction": "Direction sweep",
                "interpolation": "Interpolation"}


def traversal_entries(index: dict, folder: Path) -> list[tuple[str, str, Path]]:
    """(title, caption, file) of every image ``traversals.json`` lists, in its order (files inside the folder only)."""
    out = []
    root = folder.resolve()
    for entry in index.get("files", []):
        path = (folder / str(entry.get("file", ""))).resolve()
        if path.parent != root or not path.is_file() or path.suffix.lower() not in _MIME:
            continue
        kind = str(entry.get("kind", ""))
        title = _KIND_TITLES.get(kind, kind.replace("_", " ").capitalize() or path.stem)
        if entry.get("format") == "gif":
            title += " (animated)"
        out.append((title, str(entry.get("shows", "")), path))
    return out
