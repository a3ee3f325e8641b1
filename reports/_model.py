"""The report as data: dataclasses a template renders, built from a run by :mod:`reports._build`.

Nothing here knows HTML. Every string is plain text (the template escapes it); figures are
plotly JSON dicts; images are base64 strings with their MIME type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from latentviz.figures import MetricRow


@dataclass(frozen=True)
class FigureSpec:
    """One plotly figure: a stable id (from the run and the figure's name, never random) and its JSON."""

    id: str
    figure: dict
    caption: str = ""


@dataclass(frozen=True)
class Fact:
    """A labelled value (summary cards, provenance rows)."""

    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    """One area's plain-language judgement, tied to the numbers behind it.

    ``tone`` is ``good``, ``fair``, ``poor`` or ``unknown`` (the badge colour).
    """

    area: str
    tone: str
    headline: str
    evidence: str


@dataclass(frozen=True)
class Picture:
    """An embedded image (PNG grid or strip, animated GIF)."""

    title: str
    caption: str
    mime: str
    data: str


@dataclass(frozen=True)
class AuditRow:
    status: str
    metric: str
    value: float | None
    threshold: str
    message: str
    description: str


@dataclass
class Section:
    """A titled part of the report; ``missing`` replaces the body when its data is absent."""

    kind: ClassVar[str] = "section"
    id: str
    title: str
    intro: str = ""
    missing: str = ""


@dataclass
class ProjectionSection(Section):
    """The projection maps: one scatter per method, a shared colour-by switch and hover thumbnails.

    ``colors`` maps a colour-by option to :func:`latentviz.figures.scatter_colors` of the shown
    points (the same rows in every map); ``thumbs`` holds the sprite sheets and, per shown
    point, its cell (-1 for none).
    """

    kind: ClassVar[str] = "projections"
    figures: list[FigureSpec] = field(default_factory=list)
    methods: list[tuple[str, str]] = field(default_factory=list)  # (method, display name)
    color_options: list[tuple[str, str]] = field(default_factory=list)  # (column, display name)
    color_by: str | None = None
    colors: dict = field(default_factory=dict)
    thumbs: dict | None = None
    note: str = ""


@dataclass
class FigureSection(Section):
    """Figures (``columns`` side by side) after an optional list of facts."""

    kind: ClassVar[str] = "figures"
    figures: list[FigureSpec] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    columns: int = 1
    note: str = ""


@dataclass(frozen=True)
class Cell:
    """A table cell: its text and a tone (``good``, ``poor`` or empty) for colour."""

    text: str
    tone: str = ""


@dataclass
class TableSection(Section):
    """Optional facts, a plain table (header and rows of cells), then figures and pictures."""

    kind: ClassVar[str] = "table"
    header: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    note: str = ""
    facts: list[Fact] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)


@dataclass
class MetricSection(Section):
    """The metrics table, in groups (registry order), then the figures."""

    kind: ClassVar[str] = "metrics"
    groups: list[tuple[str, list[MetricRow]]] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    skipped: list[Fact] = field(default_factory=list)


@dataclass(frozen=True)
class PictureGroup:
    """Pictures under one heading; a ``folded`` group starts closed (``<details>``)."""

    title: str
    intro: str
    pictures: list[Picture]
    folded: bool = False


@dataclass
class PictureSection(Section):
    kind: ClassVar[str] = "pictures"
    groups: list[PictureGroup] = field(default_factory=list)


@dataclass
class AuditSection(Section):
    kind: ClassVar[str] = "audit"
    status: str = ""
    rows: list[AuditRow] = field(default_factory=list)
    policy: str = ""


@dataclass
class ReportModel:
    """Everything one report shows, in reading order."""

    title: str
    subtitle: str
    facts: list[Fact]
    verdicts: list[Verdict]
    provenance: list[Fact]
    sections: list[Section]
    generator: str = "latentviz"
    eyebrow: str = "latent space report"
