"""Build each section of a run's report from the run folder (what is there; a note for what is not)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import plotly.io as pio

from latentviz import figures
from latentviz.errors import InputError
from latentviz.run import FACTOR_PREFIX, method_label, projection_columns, projection_methods
from reports._model import (
    Fact,
    FigureSection,
    FigureSpec,
    Picture,
    PictureGroup,
    PictureSection,
    ProjectionSection,
)
from reports._thumbs import hover_sprites

#: Default colour-by candidates: a column qualifies with at most this many categories (numbers always do).
MAX_COLOR_CATEGORIES = 50
NO_STATS = "the manifest records no latent statistics (the encode and import stages write them; re-encode the run)"


def figure_json(fig) -> dict:
    """A figure as the JSON dict plotly.js reads (numpy arrays become typed arrays)."""
    return json.loads(pio.to_json(fig, validate=False))


def spec(fig_id: str, fig, caption: str = "") -> FigureSpec:
    return FigureSpec(id=fig_id, figure=figure_json(fig), caption=caption)


def latent_stats(run) -> dict:
    """The per-dimension statistics the encode (or import) stage recorded in the manifest; {} when none."""
    stats = run.manifest.get("latent_stats")
    return stats if stats and len(stats.get("var", [])) == run.latent_dim else {}


# -- projections -----------------------------------------------------------------------------


def color_options(metadata, color_modes: dict | None = None) -> list[str]:
    """Metadata columns worth colouring by: numbers on a scale, and categories with few distinct values."""
    keep = []
    for column in metadata.columns:
        if column == "id":
            continue
        values = metadata[column]
        mode = (color_modes or {}).get(column, "auto")
        if not figures.is_categorical(values, mode) or values.astype(str).nunique() <= MAX_COLOR_CATEGORIES:
            keep.append(column)
    return sorted(keep, key=lambda c: (c != "label", not c.startswith(FACTOR_PREFIX), 0))


def scatter_inputs(run):
    """(projections, metadata) with rows in the same order, or (None, None) when not projected."""
    projections = run.projections
    if projections is None:
        return None, None
    metadata = run.metadata.reset_index(drop=True)  # the same rows: Run.projections checks
    return projections.reset_index(drop=True), metadata


def projection_section(run, *, max_points: int, seed: int, color_modes: dict | None = None) -> ProjectionSection:
    """The projection scatters; ``color_modes`` (column -> ``categorical``/``continuous``) forces a colouring."""
    section = ProjectionSection(
        id="projections",
        title="Projections",
        intro="Each point is one sample, placed so that samples with similar latent codes sit close together. "
        "PCA keeps global distances (a linear view); t-SNE and UMAP keep local neighbourhoods, so "
        "their cluster sizes and the gaps between clusters carry little meaning. Hover over a point to "
        "see the input it came from.",
    )
    projections, metadata = scatter_inputs(run)
    if projections is None:
        section.missing = "not computed: run `latentviz project RUN`"
        return section
    modes = dict(color_modes or {})
    unknown = sorted(set(modes) - set(metadata.columns))
    if unknown:
        raise InputError(
            f"--color-mode: the run has no column {unknown[0]!r}; choose from "
            f"{', '.join(c for c in metadata.columns if c != 'id')}"
        )
    options = color_options(metadata, modes)
    section.color_options = [(c, figures.display_name(c)) for c in options]
    section.color_by = options[0] if options else None
    strata = metadata["label"] if "label" in metadata.columns else None
    rows = figures.sample_rows(len(projections), max_points=max_points, seed=seed, strata=strata)
    for method in projection_methods(projections):
        fig = figures.projection_scatter(
            projections,
            metadata,
            method=method,
            color_by=section.color_by,
            max_points=max_points,
            seed=seed,
            color_mode=modes.get(section.color_by, "auto"),
        )
        if len(rows) < len(projections):
            density_under(fig, projections, method)
        entry = (run.manifest.get("projections") or {}).get(method) or {}
        section.figures.append(spec(f"projection-{method}", fig, projection_caption(entry)))
        section.methods.append((method, method_label(method)))
    shown = metadata.iloc[rows]
    section.colors = {
        c: figures.scatter_colors(shown[c], name=figures.display_name(c), mode=modes.get(c, "auto")) for c in options
    }
    section.thumbs = hover_sprites(shown["id"].astype(str), run.thumbnails, seed=seed)
    notes = []
    if len(rows) < len(projections):
        notes.append(
            f"Showing {len(rows):,} of {len(projections):,} points, a seeded sample"
            + (" stratified by label" if strata is not None else "")
            + f" (--max-points {max_points:,}); "
            f"the shading under them draws all {len(projections):,} points as density."
        )
    if section.thumbs and section.thumbs["count"] < len(rows):
        notes.append(f"Thumbnails are embedded for {section.thumbs['count']:,} of the {len(rows):,} shown points.")
    section.note = " ".join(notes)
    return section


def density_under(fig, projections, method: str) -> None:
    """Put every point of the map under the sampled ones: a density image (datashader), PNG embedded, and the
    axes fixed to the whole map so the image is never cropped to the sample's range."""
    from latentviz.figures import density_image, extent

    x, y = (projections[column].to_numpy() for column in projection_columns(method, 2))
    x_range, y_range = extent(x, y)
    fig.add_layout_image(density_image(x, y, x_range=x_range, y_range=y_range))
    fig.update_layout(xaxis_range=list(x_range), yaxis_range=list(y_range))


def projection_caption(entry: dict) -> str:
    """What the projection stage measured about one map: its faithfulness, variance kept, notes."""
    parts = []
    if isinstance(entry.get("trustworthiness"), (int, float)):
        parts.append(f"trustworthiness {entry['trustworthiness']:.3f}")
    if isinstance(entry.get("knn_preservation"), (int, float)):
        parts.append(
            f"{entry['knn_preservation']:.0%} of each point's {entry.get('quality_k', 10)} nearest neighbours kept"
        )
    ratio = entry.get("explained_variance_ratio")
    if isinstance(ratio, list) and len(ratio) >= 2:
        parts.append(f"the two axes hold {sum(ratio[:2]):.0%} of the variance")
    parts += [str(n) for n in entry.get("notes", [])]
    return (" · ".join(parts) + ".") if parts else ""


# -- latent dimensions -------------------------------------------------------------------------


def latent_section(run, stats: dict) -> FigureSection:
    section = FigureSection(
        id="latents",
        title="Latent dimensions",
        intro="How each dimension of the code is used. A VAE's prior asks every dimension to look like "
        "N(0, 1); a dimension that carries information departs from it, and one whose KL to the prior "
        "is near zero has collapsed — it encodes nothing and the decoder ignores it.",
    )
    z = run.z
    names = [f"z{j}" for j in range(run.latent_dim)]
    if not stats:
        section.note = f"{NO_STATS}: active and collapsed dimensions are not shown."
    else:
        active = np.asarray(stats.get("active", []), dtype=bool)
        section.facts.append(
            Fact(
                "Active dimensions",
                f"{int(active.sum())} of {len(active)}",
                "variance of the codes above 0.01 (Burda et al., 2016)",
            )
        )
    if "collapsed" in stats:
        collapsed = [names[j] for j in np.flatnonzero(stats["collapsed"])]
        section.facts.append(
            Fact(
                "Collapsed dimensions",
                ", ".join(collapsed) if collapsed else "none",
                "mean KL to the prior below 0.01 nats",
            )
        )
    section.figures.append(
        spec(
            "latent-histograms",
            figures.latent_histograms(z),
            "Blue: the codes' distribution per dimension; red dots: the N(0, 1) prior.",
        )
    )
    if "kl_per_dim" in stats:
        section.figures.append(
            spec(
                "latent-kl",
                figures.kl_bars(stats["kl_per_dim"]),
                "Mean KL(q(z|x) ‖ N(0, 1)) per dimension: the information each dimension carries.",
            )
        )
    if "var" in stats:
        section.figures.append(
            spec(
                "latent-activity",
                figures.activity_bars(stats["var"]),
                "Variance of the codes across samples; a dimension that does not vary is unused.",
            )
        )
    if run.latent_dim > 1:
        section.figures.append(
            spec(
                "latent-correlation",
                figures.correlation_heatmap(z),
                "Off-diagonal colour means two dimensions move together — they encode "
                "overlapping information (entanglement).",
            )
        )
    return section


# -- traversals ---------------------------------------------------------------------------------

_MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def traversal_section(run) -> PictureSection:
    section = PictureSection(
        id="traversals",
        title="Traversals and interpolations",
        intro="Decoded outputs while the code moves and everything else stays fixed. A dimension that changes "
        "one thing (size, position, rotation) is disentangled; one that changes nothing is unused.",
    )
    entries = traversal_entries(run.traversals, run.traversal_dir)
    if not entries:
        section.missing = "not computed: run `latentviz traverse RUN`"
        return section
    by_kind: dict[str, list] = {}
    for entry, path in entries:
        by_kind.setdefault(str(entry.get("kind", "")), []).append((entry, path))
    grids = by_kind.pop("grid", []) + by_kind.pop("channel_grid", [])
    if grids:
        first = grids[0][0].get("seed_ids", [None])[0]
        lead = [g for g in grids if g[0].get("seed_ids", [None])[0] == first]
        section.groups.append(
            PictureGroup(
                "Dimension traversals",
                "Each row sweeps one latent dimension from low to high (columns), most "
                "informative first, starting from one sample's code; the animation plays the columns in turn.",
                [_picture(e, p) for e, p in lead],
            )
        )
        rest = [(e, p) for e, p in grids if (e, p) not in lead and e.get("format") != "gif"]
        if rest:
            section.groups.append(
                PictureGroup(
                    "More samples",
                    "The same sweep from other samples' codes.",
                    [_picture(e, p) for e, p in rest],
                    folded=True,
                )
            )
    interpolations = by_kind.pop("interpolation", [])
    if interpolations:
        straight = [(e, p) for e, p in interpolations if "slerp" not in p.stem]
        section.groups.append(
            PictureGroup(
                "Interpolations",
                "Decoded points on the straight line between two codes; a smooth, even change "
                "means the space between the samples is meaningful.",
                [_picture(e, p) for e, p in straight],
            )
        )
        curved = [(e, p) for e, p in interpolations if "slerp" in p.stem]
        if curved:
            section.groups.append(
                PictureGroup(
                    "Spherical interpolations",
                    "The same pairs along the great circle (slerp), which keeps the codes' norm.",
                    [_picture(e, p) for e, p in curved],
                    folded=True,
                )
            )
    directions = [(e, p) for e, p in by_kind.pop("direction", []) if e.get("format") != "gif"]
    if directions:
        section.groups.append(
            PictureGroup(
                "Direction sweeps",
                "Sweeps along directions found in the codes (class and factor directions, "
                "principal components) rather than along single dimensions.",
                [_picture(e, p) for e, p in directions],
                folded=True,
            )
        )
    for kind, items in by_kind.items():
        section.groups.append(
            PictureGroup(
                kind.replace("_", " ").capitalize() or "Other", "", [_picture(e, p) for e, p in items], folded=True
            )
        )
    return section


def _picture(entry: dict, path: Path) -> Picture:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    animated = entry.get("format") == "gif"
    title = _picture_title(entry, path) + (" (animated)" if animated else "")
    return Picture(title=title, caption=str(entry.get("shows", "")), mime=_MIME[path.suffix.lower()], data=data)


def _picture_title(entry: dict, path: Path) -> str:
    kind = entry.get("kind")
    if kind in ("grid", "channel_grid") and entry.get("seed_ids"):
        return f"Sample {entry['seed_ids'][0]}"
    if kind == "direction" and isinstance(entry.get("direction"), dict):
        return f"Direction {entry['direction'].get('name', path.stem)}"
    if kind == "interpolation":
        group = entry.get("group", "")
        return {
            "random": "Random pairs of samples",
            "classes": "Between class means",
            "ids": "Between the chosen samples",
        }.get(group, path.stem.replace("_", " "))
    return path.stem.replace("_", " ")


def traversal_entries(index: dict, folder: Path) -> list[tuple[dict, Path]]:
    """(entry, file) of every image ``traversals.json`` lists, in its order (files inside the folder only)."""
    out = []
    root = folder.resolve()
    for entry in index.get("files", []):
        if not isinstance(entry, dict):
            continue
        path = (folder / str(entry.get("file", ""))).resolve()
        if path.parent == root and path.is_file() and path.suffix.lower() in _MIME:
            out.append((entry, path))
    return out
