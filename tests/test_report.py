"""The static report: one self-contained, deterministic, escaped HTML file built from the run folder."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from PIL import Image

from latentviz import figures
from latentviz.run import Run, write_json, write_table
from reports import build_report, render_report, write_report
from reports._sections import NO_STATS, scatter_inputs

SECTIONS = ("summary", "audit", "projections", "latents", "metrics", "traversals", "provenance")
XSS = "<script>alert(1)</script>"


class _Scan(HTMLParser):
    """Every tag's attributes and the JSON blocks, as a browser's parser sees them."""

    def __init__(self):
        super().__init__()
        self.attrs, self.json, self.ids, self._json_id, self.scripts_with_src = [], {}, [], None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attrs.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "script" and attrs.get("src"):
            self.scripts_with_src += 1
        self._json_id = attrs.get("id") if tag == "script" and attrs.get("type") == "application/json" else None

    def handle_data(self, data):
        if self._json_id:
            self.json[self._json_id] = json.loads(data)
            self._json_id = None


def scan(html: str) -> _Scan:
    parser = _Scan()
    parser.feed(html)
    return parser


def report_html(path, **options) -> str:
    return render_report(build_report(Run(path), **options))


def test_report_is_one_self_contained_file(report_run):
    html = report_html(report_run)
    page = scan(html)
    links = [(tag, key, value) for tag, attrs in page.attrs for key, value in attrs.items() if key in ("src", "href")]
    external = [link for link in links if not (link[2].startswith("data:") or link[2].startswith("#"))]
    assert external == [], external
    assert page.scripts_with_src == 0
    assert not any(tag == "link" for tag, _ in page.attrs)
    assert html.count("* plotly.js v") == 1  # the bundle's banner: inlined exactly once
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert len(page.ids) == len(set(page.ids)), "element ids must be unique"


def test_report_has_every_section_and_verdict(report_run):
    html = report_html(report_run)
    ids = set(scan(html).ids)
    assert set(SECTIONS) <= ids
    model = build_report(Run(report_run))
    assert [v.area for v in model.verdicts] == ["Collapse", "Disentanglement", "Regularity", "Projection quality"]
    disentanglement = model.verdicts[1]
    assert "MIG 0.31" in disentanglement.evidence and disentanglement.tone == "fair"
    assert model.verdicts[3].tone == "good" and "PCA 0.990, UMAP 0.960" in model.verdicts[3].evidence


def test_same_run_renders_byte_identical_reports(report_run, tmp_path):
    first = write_report(Run(report_run), tmp_path / "a.html").read_bytes()
    second = write_report(Run(report_run), tmp_path / "b.html").read_bytes()
    assert first == second
    assert re.search(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", first) is None  # no uuids


def test_user_strings_are_escaped(report_run):
    html = report_html(report_run)
    assert XSS not in html
    assert "<script>alert" not in html
    colors = scan(html).json["projection-colors"]["label"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in {t["name"] for t in colors["legend"]}


def test_embedded_figures_equal_the_builders_output(report_run):
    run = Run(report_run)
    page = scan(report_html(report_run))
    projections, metadata = scatter_inputs(run)
    expected = figures.projection_scatter(
        projections, metadata, method="pca", color_by="label", max_points=20_000, seed=0
    )
    assert page.json["projection-pca-json"] == json.loads(pio.to_json(expected, validate=False))
    assert page.json["latent-histograms-json"] == json.loads(
        pio.to_json(figures.latent_histograms(run.z), validate=False)
    )


def test_colour_options_recolour_the_same_points(report_run):
    page = scan(report_html(report_run))
    points = page.json["projection-pca-json"]["data"][0]
    colors = page.json["projection-colors"]
    assert set(colors) == {"label", "factor_size"}
    assert points["marker"]["color"] == colors["label"]["marker"]["color"]
    assert len(colors["factor_size"]["marker"]["color"]) == len(points["customdata"])
    # four whole-number levels: categories with a legend (figures.is_categorical), like the labels
    assert [t["name"] for t in colors["factor_size"]["legend"]] == ["0", "1", "2", "3"]


def test_hover_thumbnail_cells_hold_each_points_thumbnail(report_run):
    run = Run(report_run)
    page = scan(report_html(report_run))
    thumbs = page.json["projection-thumbs"]
    ids = page.json["projection-pca-json"]["data"][0]["customdata"]
    assert thumbs["count"] == len(ids) == run.n
    sheets = [np.asarray(Image.open(io.BytesIO(base64.b64decode(s))).convert("L")) for s in thumbs["sheets"]]
    for point in (0, 7, len(ids) - 1):
        cell = thumbs["index"][point]
        sheet, c = divmod(cell, thumbs["per_sheet"])
        size = thumbs["cell"]
        x, y = (c % thumbs["columns"]) * size, (c // thumbs["columns"]) * size
        tile = sheets[sheet][y : y + size, x : x + size]
        expected = np.asarray(Image.open(io.BytesIO(run.thumbnails[ids[point]])).convert("L"))
        np.testing.assert_array_equal(tile, expected)


def test_traversal_images_are_embedded_and_only_from_the_folder(report_run):
    html = report_html(report_run)
    sources = [attrs["src"] for tag, attrs in scan(html).attrs if tag == "img"]
    assert [s.split(";")[0] for s in sources] == ["data:image/png", "data:image/gif"]


def test_absent_stages_say_which_command_computes_them(make_run, tmp_path):
    rng = np.random.default_rng(0)
    path = make_run(tmp_path / "bare", rng.normal(size=(30, 3)).astype(np.float32))
    html = report_html(path)
    for command in (
        "latentviz project RUN",
        "latentviz metrics RUN",
        "latentviz traverse RUN",
        "latentviz report RUN --policy POLICY.yaml",
    ):
        assert f"<code>{command}</code>" in html
    model = build_report(Run(path))
    assert model.verdicts[1].tone == "unknown" and "no ground-truth factors" in model.verdicts[1].headline
    # no latent statistics in the manifest: the report says so instead of computing them
    assert [(v.tone, v.evidence) for v in (model.verdicts[0], model.verdicts[2])] == [("unknown", NO_STATS)] * 2
    assert NO_STATS in next(s for s in model.sections if s.id == "latents").note


def test_verdicts_and_figures_read_what_the_metrics_stage_recorded(report_run):
    """The regularity verdict and the MI heatmap show the recorded correlation matrix and factor entropies,
    which here differ from what the latents would give (they are nearly uncorrelated; the factor has 4 values)."""
    from reports._build import mutual_information

    run = Run(report_run)
    assert build_report(run).verdicts[2].tone == "unknown"  # metrics.json records no correlations yet
    corr = np.eye(4)
    corr[0, 1] = corr[1, 0] = -0.8
    mi = np.array([[0.6], [0.3], [0.0], [0.0]])
    write_json(
        report_run / "metrics.json",
        {
            "mig": 0.25,
            "detail": {
                "mean_abs_correlation": {"matrix": corr},
                "mig": {"mutual_info_matrix": mi, "factor_entropy": [1.2]},
            },
        },
    )
    run = Run(report_run)
    regularity = build_report(run).verdicts[2]
    assert regularity.tone == "poor" and "z0–z1, |r| = 0.80" in regularity.evidence
    np.testing.assert_allclose(mutual_information(run.metrics, run), mi / 1.2)


def test_audit_results_appear_in_the_report(report_run, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("checks:\n  - metric: mig\n    gte: 0.5\n  - metric: trustworthiness\n    gte: 0.9\n")
    from latentviz.audit import load_policy

    section = build_report(Run(report_run), policy=load_policy(policy)).sections[0]
    assert section.id == "audit" and section.status == "fail"
    assert [(r.metric, r.status) for r in section.rows] == [("mig", "fail"), ("trustworthiness", "pass")]


def test_large_run_stays_under_the_size_budget(make_run, tmp_path):
    n, rng = 200_000, np.random.default_rng(0)
    z = rng.normal(size=(n, 8)).astype(np.float32)
    labels = np.where(np.arange(n) < 100, "rare", np.array(list("abcdefghi"))[np.arange(n) % 9])
    path = make_run(tmp_path / "big", z, labels=labels)
    ids = [str(i) for i in range(n)]
    write_table(
        path / "projections.parquet",
        pd.DataFrame({"id": ids, "pca_0": z[:, 0], "pca_1": z[:, 1], "umap_0": z[:, 2], "umap_1": z[:, 3]}),
    )
    noise = [io.BytesIO() for _ in range(256)]  # incompressible thumbnails, 256 kinds in turn
    for buffer in noise:
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(buffer, format="PNG")
    write_table(
        path / "thumbnails.parquet", pd.DataFrame({"id": ids, "png": [noise[i % 256].getvalue() for i in range(n)]})
    )
    write_json(path / "metrics.json", {"mig": 0.2})
    out = write_report(Run(path), tmp_path / "big.html")
    assert out.stat().st_size < 20 * 2**20, out.stat().st_size
    page = scan(out.read_text())
    scatter = page.json["projection-umap-json"]
    assert scatter["layout"]["title"]["subtitle"]["text"] == "showing 20,000 of 200,000 points (stratified by label)"
    shown = set(scatter["data"][0]["text"])
    assert "rare" in shown  # the stratified sample keeps the rare class
    assert 0 < page.json["projection-thumbs"]["count"] < 20_000  # thumbnails stopped at their byte budget


def test_report_command_and_bad_input(cli, report_run, tmp_path):
    result = cli("report", report_run, "-o", tmp_path / "r.html", "--max-points", "50", "--quiet")
    assert result.code == 0, result.err
    assert str(tmp_path / "r.html") in result.out
    assert "showing 50 of 120 points" in (tmp_path / "r.html").read_text()
    missing = cli("report", tmp_path / "nowhere")
    assert missing.code == 2 and missing.err.startswith("latentviz: error:") and missing.err.count("\n") == 1


def test_core_does_not_import_reports():
    import subprocess
    import sys

    code = (
        "import latentviz, latentviz.figures, latentviz.audit, latentviz.export, sys; "
        "print(sorted(m for m in ('reports', 'dashboards', 'dash') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "value,text", [(None, "—"), (0.3124, "0.312"), (1234567, "1,234,567"), (2.5e-05, "2.5e-05"), (float("nan"), "—")]
)
def test_number_filter(value, text):
    from reports._render import num

    assert num(value) == text
