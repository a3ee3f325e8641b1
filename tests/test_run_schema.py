"""The run folder's schema has one owner, latentviz/run.py: its accessors round-trip what the stage
writers write, and a scan of the source tree finds no other module that spells a run file name, formats
or parses a ``{method}_{i}`` projection column, spells a latents column prefix or lists the projection
methods again."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentviz import run as runfolder
from latentviz.errors import InputError
from latentviz.neighbors import Neighbors, knn
from latentviz.run import Run, write_json, write_table

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("latentviz", "dashboards", "reports")
OWNER = ROOT / "latentviz" / "run.py"
#: The run's files (every constant of run.py that is a file name with a suffix).
FILE_NAMES = sorted(
    {
        value
        for name, value in vars(runfolder).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"\.?\w+\.\w+", value)
    }
)
PREFIXES = (runfolder.Z_PREFIX, runfolder.LOGVAR_PREFIX, runfolder.FACTOR_PREFIX)  # latents.parquet's column prefixes
METHODS = set(runfolder.PROJECTION_METHODS)
#: (path relative to the root, start of the offending text): places allowed to spell a schema fact, with reasons.
ALLOWED = {
    ("latentviz/stages/project.py", "{'tsne', 'umap'}"),  # the stage runs t-SNE and UMAP side by side
    ("reports/_build.py", "report.html"),  # the Jinja template's name, not the run's file
    ("reports/compare.py", "report.html"),  # the same template
    ("latentviz/cli/report.py", "report.html"),  # --help prose, built before latentviz.run (numpy) is imported
    ("latentviz/cli/audit.py", "drift.json"),  # --help prose, likewise
    ("latentviz/cli/project.py", "pca,tsne,umap"),  # --methods' default in --help, likewise
    ("latentviz/cli/project.py", "Comma-separated projections: pca, tsne, umap."),  # its --help prose
}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the nodes that are docstrings (prose may name files; code may not)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _offences(source: str) -> list[tuple[int, str]]:
    """(line, text) of each run file name literal (outside docstrings), each f-string that builds a projection
    column (``f"{method}_{i}"``, ``f"{x}_0"``), each string that matches numbered columns (``_\\d``) and each
    ``.rpartition("_")`` / ``.rsplit("_", ...)`` (how column names were taken apart), each latents column
    prefix (``"factor_"``, ``f"z_{j}"``) spelled out, and each literal naming two or more projection methods
    (a tuple, list, set or dict of them, or a string such as ``"pca,tsne"``): a second list of methods."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    in_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    names = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, FILE_NAMES)) + r")(?!\w)")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for match in names.finditer(node.value):
                found.append((node.lineno, match.group(1)))
            if "_\\d" in node.value:  # a regex over numbered columns
                found.append((node.lineno, node.value))
            if node.value in PREFIXES and id(node) not in in_fstrings:
                found.append((node.lineno, node.value))
            if len(set(re.findall(r"[a-z]+", node.value)) & METHODS) >= 2:
                found.append((node.lineno, node.value))
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            if len({item.value for item in items if isinstance(item, ast.Constant)} & METHODS) >= 2:
                found.append((node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("rpartition", "rsplit")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "_"
        ):
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.JoinedStr):
            parts = node.values
            if isinstance(parts[0], ast.Constant) and str(parts[0].value).startswith(PREFIXES):
                found.append((node.lineno, ast.unparse(node)))
            if len(parts) in (2, 3) and isinstance(parts[0], ast.FormattedValue) and isinstance(parts[1], ast.Constant):
                head, text = ast.unparse(parts[0].value), parts[1].value
                numbered = len(parts) == 2 and re.fullmatch(r"_\d+", text)
                indexed = len(parts) == 3 and text == "_" and ("method" in head or head == "m")
                if numbered or indexed:
                    found.append((node.lineno, ast.unparse(node)))
    return found


def test_offences_are_found():
    """The scan catches each way the schema used to be re-derived (so an empty scan means something)."""
    source = '''
"""Docstrings may say latents.parquet."""
a = run.path / "neighbors.npz"
b = f"{method}_{i}"
c = df[f"{method}_0"]
d = re.fullmatch(rf"{method}_\\d+", column)
e = f"{name}_z"  # a paths.npz key, not a column: allowed
f = sorted({c.rsplit("_", 1)[0] for c in table.columns})
g = [f"factor_{name}", c.startswith("factor_"), f"z_{j}", f"zoom_{j}"]
h = {"pca": "PCA", "umap": "UMAP"}, ("pca", "lerp"), "--methods tsne,umap"
'''
    assert sorted(line for line, _ in _offences(source)) == [3, 4, 5, 6, 8, 9, 9, 9, 10, 10]


def test_only_run_py_knows_the_schema():
    offenders = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == OWNER:
                continue
            rel = path.relative_to(ROOT).as_posix()
            offenders += [
                f"{rel}:{line}: {text}"
                for line, text in _offences(path.read_text())
                if not any(rel == where and text.startswith(start) for where, start in ALLOWED)
            ]
    assert not offenders, (
        "run folder schema spelled outside latentviz/run.py (use its constants and helpers):\n" + "\n".join(offenders)
    )


# -- the accessors ------------------------------------------------------------------------------------
def _run(tmp_path, n=12, d=4) -> Run:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, d)).astype(np.float32)
    table = pd.DataFrame({"id": [f"s{i}" for i in range(n)], **{f"z_{j}": z[:, j] for j in range(d)}})
    write_table(tmp_path / runfolder.LATENTS, table)
    write_json(tmp_path / runfolder.MANIFEST, {"complete": True})
    return Run(tmp_path)


def test_projection_accessors_round_trip_the_project_stage(tmp_path):
    from latentviz.projection import project

    run = _run(tmp_path, n=40)
    project(run, methods="tsne,pca", dims=3, k=5, quiet=True)
    run = Run(tmp_path)
    table = pd.read_parquet(tmp_path / "projections.parquet")
    assert list(table.columns) == ["id", "pca_0", "pca_1", "pca_2", "tsne_0", "tsne_1", "tsne_2"]
    assert run.projection_methods == {"pca": 3, "tsne": 3}
    np.testing.assert_array_equal(run.projection("tsne", 2), table[["tsne_0", "tsne_1"]].to_numpy(np.float32))
    assert run.projection("pca").shape == (40, 3)
    with pytest.raises(InputError, match="no umap projection"):
        run.projection("umap")
    with pytest.raises(InputError, match="in 4-D"):
        run.projection("pca", 4)
    # a second call replaces its method's map and keeps the others, in the canonical order
    project(run, methods="pca", dims=2, k=5, quiet=True)
    run = Run(tmp_path)
    assert list(pd.read_parquet(tmp_path / "projections.parquet").columns) == [
        "id",
        "pca_0",
        "pca_1",
        "tsne_0",
        "tsne_1",
        "tsne_2",
    ]
    assert run.projection_methods == {"pca": 2, "tsne": 3}
    np.testing.assert_array_equal(run.projection("tsne"), table[["tsne_0", "tsne_1", "tsne_2"]].to_numpy(np.float32))


def test_projection_columns_parse_and_order():
    assert runfolder.projection_columns("tsne", 2) == ["tsne_0", "tsne_1"]
    assert [runfolder.parse_projection_column(c) for c in ("umap_10", "id", "my_map_1", "pca_x")] == [
        ("umap", 10),
        None,
        ("my_map", 1),
        None,
    ]
    table = runfolder.projection_table(
        np.array(["a", "b"]), {"zmap": np.ones((2, 2)), "umap": np.zeros((2, 2)), "pca": np.zeros((2, 3))}
    )
    assert list(table.columns) == ["id", "pca_0", "pca_1", "pca_2", "umap_0", "umap_1", "zmap_0", "zmap_1"]
    assert runfolder.projection_methods(table.drop(columns=["pca_1"])) == {"pca": 1, "umap": 2, "zmap": 2}
    assert [runfolder.method_label(m) for m in ("pca", "tsne", "umap", "zmap")] == ["PCA", "t-SNE", "UMAP", "zmap"]


def test_neighbors_round_trip_and_a_stale_graph_is_refused(tmp_path):
    run = _run(tmp_path)
    assert run.neighbors() is None
    graph = knn(run.z, k=3, method="exact")
    graph.save(run.file(runfolder.NEIGHBORS))
    loaded = run.neighbors()
    assert isinstance(loaded, Neighbors)
    np.testing.assert_array_equal(loaded.indices, graph.indices)
    np.testing.assert_array_equal(run.neighbors(k=2).indices, graph.indices[:, :2])
    knn(np.random.default_rng(1).normal(size=(run.n + 1, 4)), k=3, method="exact").save(run.file(runfolder.NEIGHBORS))
    with pytest.raises(InputError, match=f"has {run.n + 1} points but the run has {run.n}"):
        run.neighbors()


def test_traversal_paths_round_trip(tmp_path):
    run = _run(tmp_path)
    assert run.traversal_paths() is None
    arrays = {"ids": np.array([["s0", "s1"]]), "t": np.linspace(0, 1, 5), "lerp_z": np.ones((1, 5, 4), np.float32)}
    assert runfolder.write_traversal_paths(run.traversal_dir, arrays) == runfolder.TRAVERSAL_PATHS
    back = run.traversal_paths()
    assert sorted(back) == sorted(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value)
        assert back[key].dtype == value.dtype


def test_shard_paths(tmp_path):
    run = _run(tmp_path)
    assert run.shard_path(3, "latents") == tmp_path / "shards" / "latents-00003.parquet"
    assert run.shard_path(12, "thumbs").name == "thumbs-00012.parquet"
    with pytest.raises(ValueError):
        run.shard_path(0, "other")


def test_the_cli_spells_the_table_of_methods_as_it_is():
    """``--methods`` spells the methods out (its --help is built without importing numpy): they are the table's."""
    from latentviz.cli.project import project_command

    option = next(p for p in project_command.params if p.name == "methods")
    assert option.default == ",".join(runfolder.PROJECTION_METHODS)
    assert option.help.endswith(": " + ", ".join(runfolder.PROJECTION_METHODS) + ".")


# -- the table of projection methods ------------------------------------------------------------------
def test_every_projection_method_has_a_complete_entry():
    """Each entry of the table names its method as its projector does, has a label, builds an estimator from the
    stage's options (with its starting layout) and names a module that a Dask worker can import."""
    import importlib.util

    from latentviz.projection._base import Projector
    from latentviz.projectors import PROJECTORS, ProjectorOptions

    assert runfolder.PROJECTION_METHODS == {name: entry.label for name, entry in PROJECTORS.items()}
    for name, entry in PROJECTORS.items():
        assert entry.name == name and re.fullmatch(r"[a-z][a-z0-9]*", name), f"{name!r} cannot prefix a column"
        assert entry.label.strip(), f"{name} has no display label"
        for backend in ("opentsne", "sklearn"):
            options = ProjectorOptions(dims=3, seed=7, tsne_backend=backend)
            projector = entry.build(options, entry.init)
            assert isinstance(projector, Projector) and projector.name == name, f"{name} builds {projector!r}"
            params = projector.get_params()
            assert params["n_components"] == 3 and params.get("random_state", 7) == 7, f"{name} ignores options"
            assert params.get("init") == entry.init, f"{name} ignores its starting layout"
            module = entry.worker_module(options)
            assert importlib.util.find_spec(module) is not None, f"{name}: a worker cannot import {module!r}"


def test_every_projector_has_an_entry_and_the_stage_takes_exactly_the_table():
    """A projector class written in latentviz/projection/ without an entry would never run: each one has one,
    and ``--methods`` accepts the table's names and nothing else."""
    import importlib
    import pkgutil

    import latentviz.projection as package
    from latentviz.projection._base import Projector
    from latentviz.projectors import PROJECTORS
    from latentviz.stages.project import METHODS, parse_methods

    classes = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        classes |= {
            value.name
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Projector) and value is not Projector
        }
    assert classes == set(PROJECTORS), f"projectors without an entry: {sorted(classes - set(PROJECTORS))}"
    assert parse_methods(",".join(PROJECTORS)) == METHODS == tuple(PROJECTORS)
    with pytest.raises(InputError, match="unknown projection 'isomap'"):
        parse_methods("pca,isomap")
