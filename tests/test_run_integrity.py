"""A run folder is never silently wrong or lost: stages commit together, one writer at a time (issue 12, items 10-11)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_SHAPES, write_run

from latentviz import run as runfolder
from latentviz.neighbors import Neighbors
from latentviz.run import Run

STAGE_OUTPUTS = ("manifest.json", "neighbors.npz", "projections.parquet")


def _snapshot(folder: Path, names=STAGE_OUTPUTS) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names}


def _projected(folder: Path, *, n: int = 120, k: int = 30) -> Path:
    """A run with PCA projections and a kNN graph of ``k`` neighbours."""
    from latentviz.projection import project

    write_run(folder, np.random.default_rng(0).normal(size=(n, 6)).astype(np.float32))
    project(folder, methods="pca", k=k, quiet=True, device="cpu")
    return folder


def _consistent(folder: Path) -> int:
    """The graph's k, checked against the manifest's and the projections' rows."""
    run = Run(folder)
    k = run.manifest["neighbors"]["k"]
    assert Neighbors.load(run.file(runfolder.NEIGHBORS), n=run.n).k == k
    assert list(run.projections["id"]) == list(run.ids)
    return k


def _leftovers(folder: Path) -> list[str]:
    found = [
        p.name for p in folder.iterdir() if p.name.startswith(runfolder.STAGE_PREFIX) or p.name == runfolder.COMMIT
    ]
    return found + [p.name for p in folder.parent.glob(f".{folder.name}.new")]


def test_a_project_that_fails_mid_stage_leaves_the_old_outputs(tmp_path, monkeypatch, cli):
    from latentviz.stages import project as _project

    folder = _projected(tmp_path / "r", k=30)
    before = _snapshot(folder)
    seen = []

    def crash(run, *args):
        seen.extend(p.name for p in folder.glob(f"{runfolder.STAGE_PREFIX}project-*/*"))
        raise RuntimeError("simulated crash after the graph was written")

    monkeypatch.setattr(_project, "_table", crash)
    with pytest.raises(RuntimeError):
        _project.project(folder, methods="pca", k=10, quiet=True, device="cpu")
    assert seen == [runfolder.NEIGHBORS]  # the new graph (k = 10) existed when the stage died
    assert _snapshot(folder) == before and _consistent(folder) == 30
    assert not _leftovers(folder) and not (folder / runfolder.LOCK).exists()
    monkeypatch.undo()
    assert cli("metrics", folder, "--quiet").code == 0  # later stages work on it


def test_two_concurrent_projects_refuse_the_second_and_a_kill_leaves_the_old_run(tmp_path, cli):
    folder = _projected(tmp_path / "r", n=3000, k=30)  # its t-SNE outlasts the checks below
    before = _snapshot(folder)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "latentviz",
            "project",
            str(folder),
            "--methods",
            "pca,tsne",
            "--k",
            "10",
            "--device",
            "cpu",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(f"{runfolder.STAGE_PREFIX}project-*/{runfolder.NEIGHBORS}")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = cli("project", folder, "--methods", "pca", "--device", "cpu", "--quiet")
        assert second.code == 2
        assert second.err.strip().count("\n") == 0 and "Traceback" not in second.err
        assert f"is being written by pid {proc.pid} (latentviz project)" in second.err
        assert f"remove {folder / runfolder.LOCK} if that process is gone" in second.err
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _snapshot(folder) == before and _consistent(folder) == 30  # the graph (k = 10) never reached the run
    assert (folder / runfolder.LOCK).exists() and _leftovers(folder)  # a SIGKILL leaves the lock and the staging ...
    assert cli("project", folder, "--methods", "pca", "--k", "12", "--device", "cpu", "--quiet").code == 0
    assert _consistent(folder) == 12 and not _leftovers(folder)  # ... and the next writer takes both over


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, cli):
    folder = write_run(tmp_path / "r", np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32))
    lock = {"pid": _dead_pid(), "host": socket.gethostname(), "command": "latentviz project"}
    (folder / runfolder.LOCK).write_text(json.dumps(lock))
    result = cli("project", folder, "--methods", "pca", "--k", "5", "--device", "cpu", "--quiet")
    assert result.code == 0, result.err
    assert Run(folder).manifest["neighbors"]["k"] == 5 and not (folder / runfolder.LOCK).exists()


def test_a_lock_taken_on_another_host_is_refused(tmp_path, cli):
    folder = write_run(tmp_path / "r", np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32))
    (folder / runfolder.LOCK).write_text(
        json.dumps({"pid": 1, "host": "elsewhere.example", "command": "latentviz metrics"})
    )
    result = cli("project", folder, "--methods", "pca", "--quiet")
    assert result.code == 2
    assert "is being written by pid 1 (latentviz metrics) on host elsewhere.example" in result.err
    assert not (folder / runfolder.PROJECTIONS).exists()


def test_a_commit_cut_short_is_finished_before_anyone_reads_the_run(tmp_path, monkeypatch):
    folder = _projected(tmp_path / "r", k=30)
    real_replace = os.replace

    def dies_before_the_manifest(source, target):
        if Path(target).resolve() == (folder / runfolder.MANIFEST).resolve():
            raise KeyboardInterrupt("killed between the outputs and the manifest")
        real_replace(source, target)

    from latentviz.projection import project

    monkeypatch.setattr(runfolder.os, "replace", dies_before_the_manifest)
    with pytest.raises(KeyboardInterrupt):
        project(folder, methods="pca", k=8, quiet=True, device="cpu")
    monkeypatch.undo()
    assert (folder / runfolder.COMMIT).exists()
    assert json.loads((folder / runfolder.MANIFEST).read_text())["neighbors"]["k"] == 30  # half committed on disk
    assert _consistent(folder) == 8  # a reader finishes the commit first
    assert not _leftovers(folder)


def test_a_journal_naming_paths_outside_the_run_is_refused(tmp_path, cli):
    folder = write_run(tmp_path / "r", np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "manifest.json").write_text("{}")
    (folder / runfolder.COMMIT).write_text(
        json.dumps({"staging": "../victim", "install": ["manifest.json"], "remove": []})
    )
    result = cli("metrics", folder, "--quiet")
    assert result.code == 2 and "outside the run folder's schema" in result.err
    assert (victim / "manifest.json").read_text() == "{}"


def _import(cli, z: np.ndarray, folder: Path, *extra: str):
    source = folder.parent / "z.npy"
    np.save(source, z)
    return cli("import", source, "--out", folder, *extra)


def test_an_interrupted_import_overwrite_leaves_the_old_run(tmp_path, monkeypatch, cli):
    rng = np.random.default_rng(0)
    old, new = rng.normal(size=(30, 3)).astype(np.float32), rng.normal(size=(50, 4)).astype(np.float32)
    folder = tmp_path / "r"
    assert _import(cli, old, folder).code == 0
    (folder / runfolder.REPORT).write_text("the old run's report")
    real_write_table = runfolder.write_table

    def dies_after_writing(path, table):
        real_write_table(path, table)
        raise KeyboardInterrupt("killed after the new latents were written")

    monkeypatch.setattr(runfolder, "write_table", dies_after_writing)
    assert _import(cli, new, folder, "--overwrite").code == 130  # the CLI's exit on an interrupt
    monkeypatch.undo()
    run = Run(folder)
    assert run.complete and np.array_equal(run.z, old) and (folder / runfolder.REPORT).exists()
    assert not _leftovers(folder)
    assert _import(cli, new, folder, "--overwrite").code == 0
    run = Run(folder)
    assert run.complete and np.array_equal(run.z, new) and not (folder / runfolder.REPORT).exists()
    assert not _leftovers(folder) and not (folder / runfolder.LOCK).exists()


def test_an_interrupted_encode_overwrite_keeps_the_old_run_and_resumes(tmp_path, vae_run, vae_checkpoint):
    from test_encode import _flaky_model

    from latentviz.data import open_source
    from latentviz.encode import EncodeOptions, encode

    folder = tmp_path / "r"
    shutil.copytree(vae_run, folder)
    (folder / runfolder.PROJECTIONS).write_bytes(b"the old run's projections")
    before = _snapshot(folder, ("manifest.json", "latents.parquet", "thumbnails.parquet"))
    options = {"batch_size": 16, "shard_size": 48, "limit": 150, "overwrite": True, "quiet": True}
    model, _ = _flaky_model(vae_checkpoint, fail_after=80)  # dies in the 2nd shard of the new run
    with pytest.raises(KeyboardInterrupt):
        encode(model, open_source(SMALL_SHAPES), folder, EncodeOptions(**options))
    assert _snapshot(folder, ("manifest.json", "latents.parquet", "thumbnails.parquet")) == before
    assert Run(folder).complete and Run(folder).n == 192 and (folder / runfolder.PROJECTIONS).exists()
    partial = tmp_path / ".r.new"
    assert len(list((partial / "shards").glob("latents-*.parquet"))) == 1  # kept for --overwrite --resume
    model, counter = _flaky_model(vae_checkpoint)
    run = encode(model, open_source(SMALL_SHAPES), folder, EncodeOptions(resume=True, **options))
    assert counter.seen == 150 - 48  # the finished shard of the interrupted overwrite was not redone
    assert run.path == folder and run.complete and run.n == 150
    np.testing.assert_allclose(run.z, Run(vae_run).z[:150], atol=1e-6)
    assert not (folder / runfolder.PROJECTIONS).exists() and not _leftovers(folder)


def _decoder(fail_after: int | None = None, folder: Path | None = None):
    """Decodes codes to 1x8x8 images; raises after ``fail_after`` calls (a traverse dying half-way),
    noting in ``decode.staged`` the figures the stage had written into ``folder`` by then."""
    calls = []

    def decode(z):
        import torch

        calls.append(len(z))
        if fail_after is not None and len(calls) > fail_after:
            decode.staged = list(folder.glob(f"{runfolder.STAGE_PREFIX}traverse-*/{runfolder.TRAVERSALS}/*.png"))
            raise KeyboardInterrupt("killed mid-traverse")
        z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
        return torch.tanh(z[:, :1, None, None] + torch.linspace(-1, 1, 8)[None, None, :, None]).expand(-1, 1, 8, 8)

    return decode


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_traversals_are_replaced_whole_or_not_at_all(tmp_path):
    from latentviz.traversal import traverse

    z = np.random.default_rng(2).normal(size=(30, 3)).astype(np.float32)
    folder = write_run(tmp_path / "r", z, manifest={"kind": "autoencoder"})
    traverse(folder, model=_decoder(), samples=3, steps=3, gif=False, quiet=True)
    before, manifest = _listing(folder / runfolder.TRAVERSALS), (folder / runfolder.MANIFEST).read_bytes()
    dying = _decoder(fail_after=4, folder=folder)
    with pytest.raises(KeyboardInterrupt):
        traverse(folder, model=dying, samples=1, steps=4, gif=False, quiet=True)
    assert dying.staged  # it died with new figures written
    assert _listing(folder / runfolder.TRAVERSALS) == before and (folder / runfolder.MANIFEST).read_bytes() == manifest
    index = traverse(folder, model=_decoder(), samples=1, steps=4, gif=False, quiet=True)
    written = {e["file"] for e in index["files"]} | {runfolder.TRAVERSAL_INDEX, runfolder.TRAVERSAL_PATHS}
    assert set(_listing(folder / runfolder.TRAVERSALS)) == written  # nothing of the first traverse is left
    assert Run(folder).manifest["parameters"]["traverse"]["steps"] == 4 and not _leftovers(folder)


def test_an_overwrite_cut_short_while_swapping_is_finished_by_the_next_reader(tmp_path, monkeypatch, cli):
    rng = np.random.default_rng(3)
    old, new = rng.normal(size=(20, 3)).astype(np.float32), rng.normal(size=(25, 2)).astype(np.float32)
    folder = tmp_path / "r"
    assert _import(cli, old, folder).code == 0
    (folder / runfolder.METRICS).write_text("{}")
    real_replace = os.replace

    def dies_before_the_manifest(source, target):
        if Path(target).resolve() == (folder / runfolder.MANIFEST).resolve():
            raise KeyboardInterrupt("killed between the latents and the manifest")
        real_replace(source, target)

    monkeypatch.setattr(runfolder.os, "replace", dies_before_the_manifest)
    assert _import(cli, new, folder, "--overwrite").code == 130
    monkeypatch.undo()
    assert json.loads((folder / runfolder.COMMIT).read_text())["staging"] == ".r.new"
    run = Run(folder)  # the new latents are in, the old manifest still names 20 rows: the reader finishes the swap
    assert run.complete and np.array_equal(run.z, new) and run.manifest["n"] == 25
    assert not (folder / runfolder.METRICS).exists() and not _leftovers(folder)
