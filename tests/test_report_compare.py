"""``latentviz compare``: rows matched by id, similarity with chance levels, aligned maps, neighbourhood agreement."""

from __future__ import annotations

import numpy as np
import pytest

from latentviz.errors import InputError
from latentviz.run import Run, write_json
from latentviz.neighbors import neighbourhood_agreement
from reports.compare import (aligned_maps, build_comparison, matched_rows, order_runs,
                             run_step)


@pytest.fixture
def rotated_pair(make_run, add_maps, tmp_path):
    """Run A, and run B holding A's latents rotated by a random orthogonal matrix, rows shuffled."""
    rng = np.random.default_rng(0)
    n, d = 150, 5
    z = (rng.normal(size=(n, d)) * np.array([3.0, 2.0, 1.5, 1.0, 0.5])).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    labels = np.array(["a", "b", "c"])[np.arange(n) % 3]
    ids = np.array([f"x{i}" for i in range(n)])
    order = rng.permutation(n)
    a = make_run(tmp_path / "ckpt-step200", z, labels=labels, ids=ids)
    b = make_run(tmp_path / "ckpt-step50", (z @ rotation)[order].astype(np.float32), labels=labels[order], ids=ids[order])
    for path, mig in ((a, 0.40), (b, 0.25)):
        add_maps(path)
        write_json(path / "metrics.json", {"mig": mig, "trustworthiness": 0.95})
    return Run(a), Run(b)


def test_rows_are_matched_by_id(rotated_pair):
    a, b = rotated_pair
    rows = matched_rows([a, b])
    assert list(a.ids[rows[0]]) == list(b.ids[rows[1]])
    assert list(a.ids[rows[0]]) == list(a.ids)  # in the first run's order


def test_rotated_latents_agree_everywhere(rotated_pair):
    a, b = rotated_pair
    rows = matched_rows([a, b])
    za, zb = a.z[rows[0]], b.z[rows[1]]
    agreement = neighbourhood_agreement(za, zb)
    assert agreement.shape == (a.n,) and agreement.min() > 0.99

    maps = aligned_maps([a, b], rows, "pca")
    spread = np.abs(maps[0]).max()
    np.testing.assert_allclose(maps[1], maps[0], atol=1e-4 * spread)

    model = build_comparison([a, b], quiet=True, permutations=5)
    similarity = next(s for s in model.sections if s.id == "similarity")
    assert similarity.header[1] == "linear CKA"
    cka = float(similarity.rows[0][1].text.split()[0])
    chance = float(similarity.rows[0][1].text.split("chance ")[1].rstrip(")"))
    assert cka == pytest.approx(1.0, abs=1e-3) and chance < 0.5
    assert model.verdicts[0].tone == "good"
    agreement_facts = next(s for s in model.sections if s.id == "agreement").facts
    assert agreement_facts[0].value == "mean 1.00"


def test_shuffled_latents_disagree(rotated_pair, make_run, tmp_path):
    a, _ = rotated_pair
    rng = np.random.default_rng(1)
    noise = make_run(tmp_path / "noise", rng.normal(size=(a.n, 5)).astype(np.float32), ids=a.ids)
    rows = matched_rows([a, Run(noise)])
    assert neighbourhood_agreement(a.z[rows[0]], Run(noise).z[rows[1]]).mean() < 0.2


def test_metric_table_and_step_order(rotated_pair):
    a, b = rotated_pair
    assert [run_step(a), run_step(b)] == [200.0, 50.0]
    assert [r.path.name for r in order_runs([a, b], "step")] == ["ckpt-step50", "ckpt-step200"]
    model = build_comparison([a, b], order="step", quiet=True, permutations=2)
    table = next(s for s in model.sections if s.id == "metrics")
    assert table.header == ["Metric", "Better", "ckpt-step50", "ckpt-step200", "Δ"]
    mig = next(row for row in table.rows if row[0].text == "mig")
    assert [c.text for c in mig[2:]] == ["0.25", "0.4", "+0.15"]
    assert any(f.id == "compare-series" for f in table.figures)  # metrics over the checkpoint series


def test_compare_command(cli, rotated_pair, tmp_path):
    a, b = rotated_pair
    out = tmp_path / "compare.html"
    result = cli("compare", a.path, b.path, "-o", out, "--permutations", "2", "--quiet")
    assert result.code == 0, result.err
    html = out.read_text()
    assert "comparison report" in html and 'id="aligned-pca"' in html and 'id="agreement"' in html
    one = cli("compare", a.path)
    assert one.code == 2 and "at least two runs" in one.err
    unknown = cli("compare", a.path, b.path, "--order", "size")
    assert unknown.code == 2


def test_runs_of_different_data_are_refused(rotated_pair, make_run, tmp_path):
    a, _ = rotated_pair
    other = make_run(tmp_path / "other", np.zeros((20, 2), np.float32), ids=[f"y{i}" for i in range(20)])
    with pytest.raises(InputError, match="share 0 sample ids"):
        matched_rows([a, Run(other)])
