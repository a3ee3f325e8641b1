"""``latentviz compare``: rows matched by id, similarity with chance levels, aligned maps, neighbourhood agreement."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from latentviz.compare import compare_runs, matched_rows, order_runs, run_step
from latentviz.errors import InputError
from latentviz.neighbors import neighbourhood_agreement
from latentviz.run import Run, write_json
from reports.compare import build_comparison


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
    b = make_run(
        tmp_path / "ckpt-step50", (z @ rotation)[order].astype(np.float32), labels=labels[order], ids=ids[order]
    )
    for path, mig in ((a, 0.40), (b, 0.25)):
        add_maps(path)
        write_json(path / "metrics.json", {"mig": mig, "trustworthiness": 0.95})
    return Run(a), Run(b)


def test_rows_are_matched_by_id(rotated_pair):
    a, b = rotated_pair
    ids, rows = matched_rows([a, b])
    assert list(a.ids[rows[0]]) == list(b.ids[rows[1]]) == list(ids)
    assert list(ids) == list(a.ids)  # in the first run's order


def test_rotated_latents_agree_everywhere(rotated_pair):
    a, b = rotated_pair
    comparison = compare_runs([a, b], permutations=5)
    assert comparison.agreement[0].shape == (a.n,) and comparison.agreement[0].min() > 0.99

    maps = [xy[index] for xy, index in zip(comparison.maps["pca"], comparison.rows, strict=True)]
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
    _, rows = matched_rows([a, Run(noise)])
    assert neighbourhood_agreement(a.z[rows[0]], Run(noise).z[rows[1]]).mean() < 0.2


def test_the_agreement_reads_each_runs_own_graph_when_every_row_is_matched(
    rotated_pair, make_run, tmp_path, monkeypatch
):
    from latentviz import neighbors
    from latentviz.run import NEIGHBORS

    a, b = rotated_pair
    _, rows = matched_rows([a, b])
    searched = neighbourhood_agreement(a.z[rows[0]], b.z[rows[1]])  # both graphs searched here
    np.testing.assert_array_equal(compare_runs([a, b], permutations=2).agreement[0], searched)

    calls = []  # searches for the agreement (the mutual-kNN score searches its sample too, and is not counted)
    search = neighbors.knn

    def counted(*args, **kwargs):
        if sys._getframe(1).f_code.co_name == "_matched_graph":
            calls.append(1)
        return search(*args, **kwargs)

    monkeypatch.setattr(neighbors, "knn", counted)
    # b's graph replaced by other neighbours (each row given the previous row's): the agreement follows the file
    stored = b.neighbors()
    rolled = np.roll(stored.indices, 1, axis=0)
    neighbors.Neighbors(rolled, stored.distances, metric=stored.metric, method=stored.method).save(b.path / NEIGHBORS)
    assert compare_runs([a, Run(b.path)], permutations=2).agreement[0].mean() < 0.2 < 0.99 < searched.min()
    assert calls == []  # every row of both runs is matched: their own graphs, renumbered, and no search

    # an unreadable or stale graph file is searched past, as if there were none: the same numbers as searching
    (b.path / NEIGHBORS).write_bytes(b"not an npz")
    np.testing.assert_array_equal(compare_runs([a, Run(b.path)], permutations=2).agreement[0], searched)
    neighbors.Neighbors(stored.indices[:-1], stored.distances[:-1]).save(b.path / NEIGHBORS)  # one row short
    np.testing.assert_array_equal(compare_runs([a, Run(b.path)], permutations=2).agreement[0], searched)
    assert calls == [1, 1]
    calls.clear()

    # a run sharing only some ids: its graph names rows outside the shared ones, so both sides are searched
    fewer = make_run(tmp_path / "fewer", a.z[:100], ids=a.ids[:100])
    compare_runs([a, Run(fewer)], permutations=2)
    assert len(calls) == 2


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
    import json

    a, b = rotated_pair
    out = tmp_path / "compare.html"
    result = cli("compare", a.path, b.path, "-o", out, "--permutations", "2", "--quiet")
    assert result.code == 0, result.err
    html = out.read_text()
    assert "comparison report" in html and 'id="aligned-pca"' in html and 'id="agreement"' in html
    one = cli("compare", a.path)
    assert one.code == 2 and "at least two runs" in one.err
    kept = cli("compare", a.path, b.path, "-o", out, "--permutations", "2", "--results", tmp_path / "c.json", "--quiet")
    assert kept.code == 0, kept.err
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["names"] == ["ckpt-step200", "ckpt-step50"] and saved["permutations"] == 2
    assert f"{saved['scores']['linear_cka']['values'][0][1]:.3f} (chance" in out.read_text()
    wrong = cli("compare", a.path, b.path, "-o", tmp_path / "never.html", "--results", tmp_path / "c.csv")
    assert wrong.code == 2 and "written to a .json or .npz file" in wrong.err and not (tmp_path / "never.html").exists()
    unknown = cli("compare", a.path, b.path, "--order", "size")
    assert unknown.code == 2


def test_runs_of_different_data_are_refused(rotated_pair, make_run, tmp_path):
    a, _ = rotated_pair
    other = make_run(tmp_path / "other", np.zeros((20, 2), np.float32), ids=[f"y{i}" for i in range(20)])
    with pytest.raises(InputError, match="share 0 sample ids"):
        matched_rows([a, Run(other)])


def _floats(value) -> np.ndarray:
    """A figure array as plotly's JSON holds it: a list, or a base64 typed array."""
    import base64

    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=float)


def test_the_report_and_the_dashboard_show_the_same_comparison(make_run, add_maps, tmp_path):
    """One comparison result: the scores, the agreement and the aligned maps read out of the report's HTML
    and model equal those the dashboard's Compare page and store show for the same runs."""
    import re

    from dashboards.pages.compare import panel_figure, similarity_card
    from dashboards.store import RunStore
    from reports._render import render

    rng = np.random.default_rng(3)
    n = 120
    z = rng.normal(size=(n, 4)).astype(np.float32)
    ids = np.array([f"s{i}" for i in range(n)])
    order = rng.permutation(n)
    a = add_maps(make_run(tmp_path / "a", z, ids=ids, labels=np.arange(n) % 3))
    b = add_maps(
        make_run(
            tmp_path / "b",
            (z + rng.normal(scale=0.7, size=z.shape))[order].astype(np.float32),
            ids=ids[order],
            labels=(np.arange(n) % 3)[order],
        )
    )
    model = build_comparison([Run(a), Run(b)], quiet=True)
    html = render("report.html", report=model)
    store = RunStore([a, b], load_model=False)

    cell = re.search(r'id="similarity".*?<td>a vs b</td><td[^>]*>([\d.]+) \(chance ([\d.]+)\)</td>', html, re.DOTALL)
    heatmap = similarity_card(store).children.figure.data[0]
    assert 0.3 < float(cell[1]) < 0.99  # a score that is neither chance nor identity
    assert float(cell[1]) == pytest.approx(float(heatmap.z[0][1]), abs=5e-4)
    assert cell[2] == f"{heatmap.customdata[0][1]:.3f}"

    mean = re.search(r"<dt>b vs a</dt>\s*<dd>mean ([\d.]+)", html)[1]
    shown = store["b"].color_values("run_agreement", "pca")[0]
    assert 0.1 < float(mean) < 0.9 and mean == f"{np.nanmean(shown):.2f}"
    first = store["a"].color_values("run_agreement", "pca")[0]  # the first run is coloured by the same pairs
    np.testing.assert_allclose(np.sort(first), np.sort(shown))

    report_map = next(s for s in model.sections if s.id == "aligned-pca").figures[1].figure["data"][0]
    panel = panel_figure(store, store["b"], "pca", "none")["data"][0]
    in_report = dict(
        zip(report_map["customdata"], zip(_floats(report_map["x"]), _floats(report_map["y"]), strict=True), strict=True)
    )
    in_panel = dict(zip(panel["customdata"], zip(_floats(panel["x"]), _floats(panel["y"]), strict=True), strict=True))
    assert set(in_report) == set(in_panel) == set(ids)
    assert all(in_report[i] == in_panel[i] for i in ids)
    assert in_panel["s0"] != tuple(store["b"].coords("pca", 2)[store["b"].row_of["s0"]])  # moved onto a's map


def test_a_comparison_is_written_to_json_and_npz(rotated_pair, tmp_path):
    import json

    a, b = rotated_pair
    comparison = compare_runs([b, a], order="step", permutations=2)
    assert comparison.names == ["ckpt-step50", "ckpt-step200"]
    saved = json.loads(comparison.save(tmp_path / "c.json").read_text())
    assert saved["names"] == comparison.names and saved["n_shared"] == a.n
    np.testing.assert_allclose(saved["scores"]["svcca"]["values"], comparison.scores["svcca"].values)
    with np.load(comparison.save(tmp_path / "c.npz")) as arrays:
        np.testing.assert_array_equal(arrays["ids"], b.ids)
        np.testing.assert_allclose(arrays["map_pca_1"], comparison.maps["pca"][1])
        np.testing.assert_allclose(arrays["agreement_1"], comparison.agreement[0])
    with pytest.raises(InputError, match=r"c\.csv: a comparison is written to a \.json or \.npz file"):
        comparison.save(tmp_path / "c.csv")
