"""``latentviz export``: TensorBoard projector files in the run's row order, and plain tables."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from PIL import Image

from latentviz.run import Run


def test_tensorboard_export_keeps_row_order_and_sprite_geometry(cli, report_run, tmp_path):
    out = tmp_path / "tb"
    result = cli("export", report_run, out, "--format", "tensorboard")
    assert result.code == 0, result.err
    run = Run(report_run)

    tensors = np.loadtxt(out / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(tensors, run.z, rtol=1e-6, atol=1e-7)

    lines = (out / "metadata.tsv").read_text().splitlines()
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    assert header == ["id", "label", "factor_size"]
    assert [r[0] for r in rows] == list(run.ids)  # metadata row i describes tensor row i
    assert rows[2][1] == "<script>alert(1)</script>"  # TSV is data, not markup: kept verbatim

    per_side, cell = math.ceil(math.sqrt(run.n)), 8
    sprite = Image.open(out / "sprite.png")
    assert sprite.size == (per_side * cell, per_side * cell)
    pixels = np.asarray(sprite.convert("L"))
    for i in (0, 13, run.n - 1):
        x, y = (i % per_side) * cell, (i // per_side) * cell
        expected = np.asarray(Image.open(io.BytesIO(run.thumbnails[run.ids[i]])).convert("L"))
        np.testing.assert_array_equal(pixels[y : y + cell, x : x + cell], expected)

    config = (out / "projector_config.pbtxt").read_text()
    for line in (
        'tensor_path: "tensors.tsv"',
        'metadata_path: "metadata.tsv"',
        'image_path: "sprite.png"',
        "single_image_dim: 8",
    ):
        assert line in config


def test_metadata_cells_cannot_break_rows(make_run, tmp_path):
    path = make_run(tmp_path / "run", np.eye(3, dtype=np.float32), labels=["a\tb", "line\nbreak", "plain"])
    from latentviz.export import export_run

    written = export_run(Run(path), tmp_path / "tb", fmt="tensorboard")
    assert [p.name for p in written[:3]] == ["tensors.tsv", "metadata.tsv", "projector_config.pbtxt"]  # no thumbnails
    assert len(written) == 4 and written[3].name.startswith("events.out.tfevents.")  # TensorBoard lists it as a run
    rows = (tmp_path / "tb" / "metadata.tsv").read_text().splitlines()
    assert rows == ["id\tlabel", "0\ta b", "1\tline break", "2\tplain"]
    parsed = pd.read_csv(tmp_path / "tb" / "metadata.tsv", sep="\t", dtype=str)  # a real TSV reader agrees
    assert parsed.shape == (3, 2) and list(parsed["label"]) == ["a b", "line break", "plain"]


def test_table_exports_join_projections_by_id(cli, report_run, tmp_path):
    run = Run(report_run)
    for fmt, reader in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        out = tmp_path / f"table.{fmt}"
        assert cli("export", report_run, out, "--format", fmt).code == 0
        table = reader(out)
        assert list(table["id"].astype(str)) == list(run.ids)
        assert {"label", "factor_size", "z_0", "pca_0", "umap_1"} <= set(table.columns)
        np.testing.assert_allclose(table["pca_0"], run.projections["pca_0"], rtol=1e-6)
        np.testing.assert_allclose(table[run.z_columns].to_numpy(), run.z, rtol=1e-6)


def test_unknown_format_is_a_usage_error(cli, report_run, tmp_path):
    result = cli("export", report_run, tmp_path / "x", "--format", "hdf5")
    assert result.code == 2 and "hdf5" in result.err
