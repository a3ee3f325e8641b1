"""Attacks on issue 12's defences: a hostile run folder, a hostile archive, a web page in the user's browser.

Each test builds the artefact an attacker controls and asserts that nothing outside the run folder is
touched, no code runs, and the user gets one line (exit 2 at the CLI)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_run
from test_cli_errors import assert_one_line_error
from torch import nn

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
    (folder / runfolder.COMMIT).write_text(
        json.dumps({"staging": staging.name, "install": [runfolder.TRAVERSALS], "remove": []})
    )
    result = cli("metrics", folder, "--quiet")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and "link" in result.err
    assert _listing(victim) == before


def test_a_journal_installing_a_link_to_a_file_outside_is_refused(tmp_path, cli):
    victim = _victim(tmp_path)
    folder = _run(tmp_path)
    staging = folder / f"{runfolder.STAGE_PREFIX}metrics-0000"
    staging.mkdir()
    (staging / runfolder.METRICS).symlink_to(victim / "notes.txt")
    (folder / runfolder.COMMIT).write_text(
        json.dumps({"staging": staging.name, "install": [runfolder.METRICS], "remove": []})
    )
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


@pytest.mark.parametrize(
    "content",
    [
        b"x" * (1 << 20),
        b'{"pid": "not a pid", "host": null}',
        b"[1, 2]",
        b'{"pid": 99999999999999999999}',
        b"\xff\xfe\x00",
    ],
)
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


# -- a web page in the user's browser ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1.attacker.example.com",
        "localhost.",
        "localhost..",
        "127.0.0.1.",
        "0.0.0.0",
        "0.0.0.0:8050",
        "[::]",
        "[::ffff:7f00:1]x",
        "127.1",
        "2130706433",
        "localhost:8050:80",
        "localhost@attacker.example.com",
        "attacker.example.com#@localhost",
        "localhost\r\nX: y",
        "[::1]evil",
        "localhost,attacker.example.com",
        " ",
        None,
    ],
)
def test_host_header_variants_that_are_not_loopback_are_refused(host):
    from dashboards.security import allowed_host

    assert not allowed_host(host)


def _raw(port: int, request: bytes) -> bytes:
    """Send ``request`` as it is, in pieces, and return what the server answered (it may answer and close early,
    so a thread reads while this one sends, and sending stops once an answer has come)."""
    import socket
    import threading

    reply: list[bytes] = []

    def read(connection):
        try:
            while chunk := connection.recv(65536):
                reply.append(chunk)
        except OSError:
            pass  # reset after the answer: what was read stays

    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        reader = threading.Thread(target=read, args=(connection,))
        reader.start()
        try:
            for start in range(0, len(request), 16384):
                if reply:
                    break
                connection.sendall(request[start : start + 16384])
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before the whole body was sent
        reader.join(timeout=20)
    return b"".join(reply)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``latentviz dashboard`` over one small run, served by waitress as users run it."""
    import socket
    import subprocess
    import sys
    import time

    folder = write_run(
        tmp_path_factory.mktemp("srv") / "r", np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "latentviz", "dashboard", str(folder), "--port", str(port), "--no-model"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                _raw(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                break
            except OSError:
                assert process.poll() is None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_chunked_body_without_content_length_is_bounded(served):
    """No Content-Length: the size cap must hold on the bytes that arrive (waitress's own body limit)."""
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(64)) + b"0\r\n\r\n"  # 4 MiB
    reply = _raw(
        served,
        b"POST /_dash-update-component HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
        b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body,
    )
    assert reply.split(b"\r\n")[0].split()[1] == b"413", reply[:200]


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /_dash-layout HTTP/1.0\r\n\r\n",  # no Host at all
        b"GET http://localhost/_dash-layout HTTP/1.1\r\nHost: attacker.example.com\r\nConnection: close\r\n\r\n",
        b"GET /_dash-layout HTTP/1.1\r\nHost: localhost.\r\nConnection: close\r\n\r\n",
        b"GET /_dash-layout HTTP/1.1\r\nHost: attacker.example.com\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ],
)
def test_requests_without_a_loopback_host_get_403_from_waitress(served, request_line):
    reply = _raw(served, request_line)
    assert reply.split(b"\r\n")[0].split()[1] == b"403", reply[:200]
    assert b'"props"' not in reply


# -- a hostile checkpoint author ----------------------------------------------------------------------------
@torch.jit.script
def _map_and_write(path: str) -> torch.Tensor:
    mapped = torch.from_file(path, shared=True, size=4, dtype=torch.uint8)
    return mapped.copy_(torch.full((4,), 65, dtype=torch.uint8))


class _ForkWriter(nn.Module):
    """Reaches ``aten::from_file`` only through a free function run by ``torch.jit.fork`` and a direct call."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x):
        future = torch.jit.fork(_map_and_write, self.path)
        return x + torch.jit.wait(future).sum().float() * 0


class _AwaitWriter(nn.Module):
    """Reaches ``aten::from_file`` through ``torch.jit._awaitable`` (``prim::awaitable``)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x):
        later = torch.jit._awaitable(_map_and_write, self.path)
        return x + torch.jit._awaitable_wait(later).sum().float() * 0


@pytest.fixture
def target(tmp_path) -> Path:
    path = tmp_path / "target.txt"
    path.write_text("hello world\n")
    return path


@pytest.mark.parametrize("module", [_ForkWriter, _AwaitWriter])
def test_torchscript_file_access_through_fork_or_awaitable_is_refused(cli, tmp_path, target, module):
    scripted = tmp_path / "writer.pt"
    torch.jit.script(module(str(target))).save(str(scripted))
    assert_one_line_error(cli("inspect", scripted), "aten::from_file", "--trust-checkpoint")
    assert target.read_text() == "hello world\n"


def test_torchscript_pt_holding_archive_format_is_checked_as_an_export(cli, tmp_path, target):
    """torch treats any zip with an ``archive_format`` member as an export, whatever its suffix."""
    scripted = tmp_path / "writer.pt"
    torch.jit.script(_ForkWriter(str(target))).save(str(scripted))
    with zipfile.ZipFile(scripted, "a") as archive:
        root = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{root}/archive_format", "pt2")
    result = cli("inspect", scripted)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and "--trust-checkpoint" in result.err
    assert target.read_text() == "hello world\n"


@pytest.mark.parametrize(
    "member",
    [
        "{root}/../evil.pt",
        "{root}\\data\\sample_inputs\\evil.pt",
        "{root}/DATA/weights/x.pt",
        "{root}/data/constants/custom_obj_0",
        "{root}/data/aotinductor/model/x.so",
        "{root}/data/sample_inputs/model.PT",
        "{ROOT}/models/model.json",
        "evil/x.pt",
    ],
)
def test_export_members_hidden_by_zip_name_tricks_are_refused(cli, tmp_path, member):
    from test_program_safety import _Armed, _edited, _export, _saved

    marker = tmp_path / "marker"

    def add(files, root):
        files[member.format(root=root, ROOT=root.upper())] = _saved(_Armed(torch.zeros(2), marker))

    archive = _edited(_export(tmp_path / "plain.pt2"), tmp_path / "evil.pt2", add)
    assert_one_line_error(
        cli("inspect", archive), "is not part of a plain torch.export.save archive", "--trust-checkpoint"
    )
    assert not marker.exists()


def test_export_duplicate_member_names_are_refused(cli, tmp_path):
    from test_program_safety import _Armed, _export, _saved

    marker = tmp_path / "marker"
    plain = _export(tmp_path / "plain.pt2")
    archive = tmp_path / "dup.pt2"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(archive, "w") as out:
        names = source.namelist()
        for name in names:
            out.writestr(name, source.read(name))
        sample = next(n for n in names if n.endswith(".pt"))
        with pytest.warns(UserWarning, match="Duplicate name"):
            out.writestr(sample, _saved(_Armed(torch.zeros(2), marker)))
    assert_one_line_error(cli("inspect", archive), "repeats a member name", "--trust-checkpoint")
    assert not marker.exists()


def _remote_code_folder(folder: Path, marker: Path, *, model_type: str) -> Path:
    """A transformers folder whose config's ``auto_map`` names its own Python files, which create ``marker``."""
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(
            vocab_size=30,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            max_position_embeddings=16,
        )
    ).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type=model_type,
        auto_map={"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("configuration_evil.py", "modeling_evil.py"):
        (folder / name).write_text(f"open({str(marker)!r}, 'w').close()\n")
    return folder


@pytest.mark.parametrize("model_type", ["evil", "bert"])
def test_a_transformers_folder_with_auto_map_runs_none_of_its_code(cli, tmp_path, model_type):
    marker = tmp_path / "marker"
    folder = _remote_code_folder(tmp_path / "hf", marker, model_type=model_type)
    result = cli("inspect", folder)
    if model_type == "evil":  # only its own code could build it: refused
        assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and "--trust-checkpoint" in result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err
    assert not marker.exists()


@pytest.mark.parametrize("name", ["w.MODEL", "w.Kv", "w.txt", "w.npy"])
def test_a_pickled_gensim_file_under_another_suffix_is_not_unpickled(cli, tmp_path, name):
    """gensim's ``.model``/``.kv`` are pickles; renamed, they must not reach pickle either."""
    import pickle

    class _Opener:
        def __reduce__(self):
            return open, (str(tmp_path / "marker"), "w")

    (tmp_path / name).write_bytes(pickle.dumps(_Opener()))
    result = cli("import", tmp_path / name, "--out", tmp_path / "run")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and "unexpected" not in result.err
    assert not (tmp_path / "marker").exists()


# -- the trust store ------------------------------------------------------------------------------------------
def _factory_spec(file: Path) -> dict:
    from latentviz.trust import code_sha256

    spec = f"{file}:make"
    return {
        "form": "factory",
        "checkpoint": spec,
        "sha256": None,
        "factory": None,
        "factory_sha256": code_sha256(spec),
        "kwargs": None,
    }


def test_a_record_is_bound_to_its_path_and_content_not_to_look_alike_specs(tmp_path):
    from latentviz.trust import NotTrustedError, check_model, remember

    mine = tmp_path / "mine.py"
    mine.write_text("def make():\n    return None\n")
    remember(model=_factory_spec(mine))
    assert check_model(_factory_spec(mine)) is False  # the user's own record: reloads without the flag
    twin = tmp_path / "elsewhere" / "mine.py"  # same content, another path
    twin.parent.mkdir()
    twin.write_bytes(mine.read_bytes())
    with pytest.raises(NotTrustedError):
        check_model(_factory_spec(twin))
    recorded = _factory_spec(mine)
    mine.write_text("import os\ndef make():\n    return None\n")  # same specs, other content
    with pytest.raises(InputError, match="changed since the run was made"):
        check_model(recorded)
    with pytest.raises(NotTrustedError):  # a manifest that drops the hash matches no record either
        check_model({**recorded, "factory_sha256": None})


def test_commands_over_a_hostile_run_never_write_the_trust_store(cli, tmp_path, trust_store):
    store = trust_store / "trusted.json"
    before = store.read_bytes() if store.exists() else None
    folder = _run(tmp_path)
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(tmp_path / 'marker')!r}, 'w').close()\ndef make():\n    return None\n")
    manifest = json.loads((folder / runfolder.MANIFEST).read_text())
    manifest.update(trusted=True, trust_checkpoint=True, model={**_factory_spec(evil), "trusted": True})
    (folder / runfolder.MANIFEST).write_text(json.dumps(manifest))
    for command in (("metrics", folder, "--quiet"), ("traverse", folder, "--quiet")):
        cli(*command)
    assert (store.read_bytes() if store.exists() else None) == before
    assert not (tmp_path / "marker").exists()
