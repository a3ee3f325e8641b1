"""A run folder's files may be damaged (a copy cut short, a disk error) or another run's (copied in by hand):
every command that reads one says which file in one line, with exit code 2, and never joins a result to the
wrong rows. ``project`` replaces a stale projections table instead of refusing it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_report_run
from test_cli_errors import assert_one_line_error

from latentviz import run as runfolder
from latentviz.run import Run


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Path, Path]:
    """A run holding every result file (latents to drift), and a second run of the same rows to compare with."""
    from latentviz.clusters import cluster_run
    from latentviz.drift import drift_runs

    folder = tmp_path_factory.mktemp("damaged")
    base = write_report_run(folder / "base")
    cluster_run(base, quiet=True)
    other = folder / "other"
    shutil.copytree(base, other)
    drift_runs(other, base, allow_different_models=True)  # into base's drift.json
    return base, other


def _commands(run: Path, other: Path, out: Path) -> dict[str, tuple]:
    return {
        "report": ("report", run, "-o", out / "r.html"),
        "metrics": ("metrics", run),
        "project": ("project", run, "--methods", "pca"),
        "compare": ("compare", run, other, "-o", out / "c.html"),
        "cluster": ("cluster", run),
        "export": ("export", run, out / "e.parquet", "--format", "parquet"),
        "audit": ("audit", run),
        "drift": ("drift", other, run, "--allow-different-models"),
    }


def _garbage(path: Path) -> None:
    path.write_bytes(b"not what its name says\n")


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _another_runs_table(path: Path) -> None:
    pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0]}).to_parquet(path)


def _words_for_numbers(path: Path) -> None:
    table = pd.read_parquet(path)
    for column in table.columns:
        if column != "id" and pd.api.types.is_numeric_dtype(table[column]):
            table[column] = table[column].astype(str)
    table.to_parquet(path)


def _retyped(path: Path) -> None:
    """Every number a string, every string a number, every list an object: valid JSON of the wrong shape."""

    def flip(value):
        if isinstance(value, dict):
            return {key: flip(item) for key, item in value.items()}
        if isinstance(value, list):
            return {"0": [flip(item) for item in value]}
        if isinstance(value, bool):
            return "yes"
        if isinstance(value, (int, float)):
            return str(value)
        return 7 if isinstance(value, str) else value

    path.write_text(json.dumps(flip(json.loads(path.read_text()))))


FILES = (
    runfolder.LATENTS,
    runfolder.PROJECTIONS,
    runfolder.THUMBNAILS,
    runfolder.CLUSTERS,
    runfolder.NEIGHBORS,
    runfolder.METRICS,
    runfolder.CLUSTER_FACTS,
    runfolder.DRIFT,
    runfolder.MANIFEST,
    f"{runfolder.TRAVERSALS}/{runfolder.TRAVERSAL_INDEX}",
)
TABLES = [name for name in FILES if name.endswith(".parquet")]
CASES = (
    [(name, damage) for name in FILES for damage in (_garbage, _cut_short)]
    + [(name, damage) for name in TABLES for damage in (_another_runs_table, _words_for_numbers)]
    + [(name, _retyped) for name in FILES if name.endswith(".json")]
)


@pytest.mark.parametrize(("name", "damage"), CASES, ids=[f"{n}-{d.__name__.strip('_')}" for n, d in CASES])
def test_a_damaged_file_is_a_one_line_error_in_every_command(whole, tmp_path, cli, name, damage):
    base, other = whole
    run = tmp_path / "run"
    shutil.copytree(base, run)
    damage(run / name)
    refused = []
    for command, args in _commands(run, other, tmp_path).items():
        result = cli("--quiet", *args)
        assert "unexpected" not in result.err, (command, result.err)  # bad input, not a bug
        if result.code == 2:
            assert_one_line_error(result)
            refused.append(command)
        else:
            assert result.code in (0, 1), (command, result.err)  # audit's 1: a check failed
            assert "Traceback" not in result.err, (command, result.err)
    if name in (runfolder.LATENTS, runfolder.MANIFEST) and damage in (_garbage, _cut_short):  # all read these
        assert {"report", "metrics", "project", "cluster", "export"} <= set(refused), refused


def test_the_error_names_the_file_and_the_stage_that_rewrites_it(whole, tmp_path, cli):
    base, other = whole
    run = tmp_path / "run"
    shutil.copytree(base, run)
    _cut_short(run / runfolder.LATENTS)
    assert_one_line_error(
        cli("--quiet", "report", run, "-o", tmp_path / "r.html"), str(run / runfolder.LATENTS), "re-run"
    )
    shutil.copy(base / runfolder.LATENTS, run / runfolder.LATENTS)
    _another_runs_table(run / runfolder.PROJECTIONS)
    assert_one_line_error(
        cli("--quiet", "report", run, "-o", tmp_path / "r.html"),
        str(run / runfolder.PROJECTIONS),
        f"latentviz project {run}",
    )


def test_a_table_of_other_rows_is_never_joined_to_the_run(whole, tmp_path, cli):
    """The same ids in another order (a run re-encoded with shuffled data, its clusters copied in) are refused:
    each row's cluster would otherwise be another sample's."""
    base, _ = whole
    run = tmp_path / "run"
    shutil.copytree(base, run)
    table = pd.read_parquet(run / runfolder.CLUSTERS)
    table.iloc[::-1].to_parquet(run / runfolder.CLUSTERS)
    assert_one_line_error(
        cli("--quiet", "export", run, tmp_path / "e.csv", "--format", "csv"),
        str(run / runfolder.CLUSTERS),
        "latentviz cluster",
    )
    assert not (tmp_path / "e.csv").exists()


def test_project_replaces_another_runs_projections(whole, tmp_path, cli):
    base, _ = whole
    run = tmp_path / "run"
    shutil.copytree(base, run)
    _another_runs_table(run / runfolder.PROJECTIONS)
    assert cli("--quiet", "project", run, "--methods", "pca").code == 0
    reread = Run(run)
    assert list(reread.projection_methods) == ["pca"]
    assert (reread.projections["id"].to_numpy() == reread.ids).all()
    centred = reread.z - reread.z.mean(axis=0)
    first = np.linalg.svd(centred.astype(np.float64), full_matrices=False)[2][0]
    assert abs(np.corrcoef(reread.projection("pca")[:, 0], centred @ first)[0, 1]) > 0.999


def test_a_latents_table_without_latent_columns_is_refused(tmp_path, cli):
    run = write_report_run(tmp_path / "run", extras=False)
    table = pd.read_parquet(run / runfolder.LATENTS)
    table[[c for c in table.columns if not c.startswith(runfolder.Z_PREFIX)]].to_parquet(run / runfolder.LATENTS)
    for args in (("project", run), ("cluster", run), ("metrics", run)):
        assert_one_line_error(cli("--quiet", *args), "no latent columns")


def test_the_dashboard_shows_a_run_with_foreign_results_without_them(whole, tmp_path):
    """Projections and clusters of other rows are not drawn over the run's samples: the run opens without them."""
    from dashboards.store import RunStore

    base, _ = whole
    run = tmp_path / "run"
    shutil.copytree(base, run)
    for name in (runfolder.PROJECTIONS, runfolder.CLUSTERS):
        table = pd.read_parquet(run / name)
        table.iloc[::-1].to_parquet(run / name)  # the same ids, another order
    data = next(iter(RunStore([run], load_model=False)))
    assert data.methods == {} and data.clusters is None
    intact = next(iter(RunStore([base], load_model=False)))
    assert set(intact.methods) == {"pca", "umap"} and intact.clusters is not None


def test_the_dashboard_says_a_drift_json_is_damaged_and_drops_a_damaged_cluster_list(whole, tmp_path):
    from dashboards.pages import metrics
    from dashboards.store import RunStore

    base, _ = whole
    run = tmp_path / "run"
    shutil.copytree(base, run)
    for name in (runfolder.DRIFT, runfolder.CLUSTER_FACTS):
        _retyped(run / name)
    data = next(iter(RunStore([run], load_model=False)))
    card = metrics.drift_panel(data)
    assert str(run / runfolder.DRIFT) in card.children[1].children and "re-run" in card.children[1].children
    assert data.cluster_entries == [] and data.clusters is not None  # the rows' clusters still colour the map
    intact = next(iter(RunStore([base], load_model=False)))
    assert len(intact.cluster_entries) == intact.run.cluster_facts["n_clusters"]
    assert metrics.drift_panel(intact).children[0].children.startswith("Drift from ")
