"""Attacks on issue 12's defences: a hostile run folder, a hostile archive, a web page in the user's browser.

Each test builds the artefact an attacker controls and asserts that nothing outside the run folder is
touched, no code runs, and the user gets one line (exit 2 at the CLI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import write_run

from latentviz import run as runfolder
from latentviz.errors import InputError
from latentviz.run import Run


def _victim(tmp_path: Path) -> Path:
    """A folder of the user's, outside any run, with a file and a sub-folder named like run entries."""
    victim = tmp_path / "victim"
    (victim / runfolder.TRAVERSALS).mkdir(parents=True)
    (victim / runfolder.TRAVERSALS / "keep.txt").write_text("mine")
    (victim / "notes.txt").write_text("mine")
    return victim


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "r", np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32))


# -- a hostile colleague's run folder ----------------------------------------------------------------------
def test_a_journal_whose_staging_trash_links_outside_deletes_nothing_there(tmp_path, cli):
    """Rolling a journal forward moves replaced folders into ``staging/.replaced``: a link there led outside."""
    victim = _victim(tmp_path)
    before = _listing(victim)
    folder = _run(tmp_path)
    (folder / runfolder.TRAVERSALS).mkdir()
    staging = folder / f"{runfolder.STAGE_PREFIX}traverse-0000"
    (staging / runfolder.TRAVERSALS).mkdir(parents=True)
    (staging / ".replaced").symlink_to(victim)
    (folder / runfolder.COMMIT).write_text(json.dumps({"staging": staging.name, "install": [runfolder.TRAVERSALS],
                                                       "remove": []}))
    result = cli("metrics", folder, "--quiet")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and "link" in result.err
    assert _listing(victim) == before


def test_a_journal_installing_a_link_to_a_file_outside_is_refused(tmp_path, cli):
    victim = _victim(tmp_path)
    folder = _run(tmp_path)
    staging = folder / f"{runfolder.STAGE_PREFIX}metrics-0000"
    staging.mkdir()
    (staging / runfolder.METRICS).symlink_to(victim / "notes.txt")
    (folder / runfolder.COMMIT).write_text(json.dumps({"staging": staging.name, "install": [runfolder.METRICS],
                                                       "remove": []}))
    result = cli("metrics", folder, "--quiet")
    assert result.code == 2 and "link" in result.err
    assert not (folder / runfolder.METRICS).is_symlink() and (victim / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("staging", ["../victim", "/tmp", ".stage-x/../../victim", ".r.new", "..", ""])
def test_a_journal_naming_a_staging_place_outside_the_run_is_refused(tmp_path, cli, staging):
    victim = _victim(tmp_path)
    before = _listing(victim)
    folder = _run(tmp_path)
    (folder / runfolder.COMMIT).write_text(json.dumps({"staging": staging, "install": ["notes.txt"], "remove": []}))
    result = cli("metrics", folder, "--quiet")
    assert result.code == 2 and "outside the run folder's schema" in result.err
    assert _listing(victim) == before


def test_a_lock_file_linking_to_a_file_outside_is_not_written_through(tmp_path, cli):
    """Taking the lock opened ``.lock`` following links, then truncated it and wrote the holder's pid."""
    victim = _victim(tmp_path)
    folder = _run(tmp_path)
    (folder / runfolder.LOCK).symlink_to(victim / "notes.txt")
    result = cli("metrics", folder, "--quiet")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and runfolder.LOCK in result.err
    assert (victim / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("content", [b"x" * (1 << 20), b'{"pid": "not a pid", "host": null}', b"[1, 2]",
                                     b'{"pid": 99999999999999999999}', b"\xff\xfe\x00"])
def test_crafted_lock_contents_of_a_dead_holder_are_taken_over(tmp_path, cli, content):
    """Nobody holds the flock, so whatever the file says, the lock is free (a foreign host is refused elsewhere)."""
    folder = _run(tmp_path)
    (folder / runfolder.LOCK).write_bytes(content)
    result = cli("metrics", folder, "--quiet")
    assert result.code == 0, result.err
    assert not (folder / runfolder.LOCK).exists()


def test_a_lock_naming_a_live_process_of_another_user_does_not_block(tmp_path, cli):
    """pid 1 is alive and not ours: the pid in the file is only a message, the flock decides."""
    folder = _run(tmp_path)
    (folder / runfolder.LOCK).write_text(json.dumps({"pid": 1, "host": os.uname().nodename, "command": "x"}))
    assert cli("metrics", folder, "--quiet").code == 0


def test_a_run_entry_linking_to_a_folder_outside_is_replaced_not_followed(tmp_path):
    """A stage that replaces ``traversals`` when the run's ``traversals`` is a link to the user's folder."""
    victim = _victim(tmp_path)
    before = _listing(victim)
    folder = _run(tmp_path)
    (folder / runfolder.TRAVERSALS).symlink_to(victim / runfolder.TRAVERSALS)
    run = Run(folder)
    with run.stage("traverse") as stage:
        stage.path(runfolder.TRAVERSALS).mkdir()
        (stage.path(runfolder.TRAVERSALS) / "grid.png").write_bytes(b"png")
    assert _listing(victim) == before
    assert not (folder / runfolder.TRAVERSALS).is_symlink()
    assert (folder / runfolder.TRAVERSALS / "grid.png").read_bytes() == b"png"


def test_clearing_a_run_whose_entries_link_outside_deletes_nothing_there(tmp_path):
    victim = _victim(tmp_path)
    before = _listing(victim)
    folder = _run(tmp_path)
    (folder / runfolder.TRAVERSALS).symlink_to(victim / runfolder.TRAVERSALS)
    (folder / runfolder.METRICS).symlink_to(victim / "notes.txt")
    Run(folder).clear()
    assert _listing(victim) == before
    assert not (folder / runfolder.TRAVERSALS).is_symlink() and not (folder / runfolder.METRICS).is_symlink()


def test_an_overwrite_whose_build_place_links_outside_writes_nothing_there(tmp_path, cli):
    """``--overwrite`` builds the new run in ``.NAME.new`` beside the old: a link there led outside."""
    victim = _victim(tmp_path)
    before = _listing(victim)
    folder = tmp_path / "r"
    source = tmp_path / "z.npy"
    np.save(source, np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32))
    assert cli("import", source, "--out", folder).code == 0
    (tmp_path / ".r.new").symlink_to(victim)
    result = cli("import", source, "--out", folder, "--overwrite")
    assert result.code == 0, result.err
    assert _listing(victim) == before
    assert Run(folder).n == 30 and not (tmp_path / ".r.new").exists()
