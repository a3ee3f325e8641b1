"""What a reload may run: ``--trust-checkpoint`` on that command, or this machine's own record.

A run folder may come from someone else, so nothing in it decides trust (the manifest's
``trusted`` is provenance only). Reloading what a manifest names can run code when it is a
``MODULE_OR_FILE:CALLABLE`` (the ``--model`` factory, a callable checkpoint, a ``--data``
dataset), a pickled module, a transformers folder with remote code, or a TorchScript / export
program outside the allowlist. That needs the flag, or a record in this user's data folder that
this user created a run with exactly those specs and files (their sha256), the way Jupyter
trusts the notebooks its user wrote. ``encode``, ``run``, ``sample`` and ``demo`` write the
record for what they were given; nothing else does.

The record lives in ``trusted.json`` under ``$LATENTVIZ_DATA_DIR``, else
``$XDG_DATA_HOME/latentviz``, else ``~/.local/share/latentviz``. Before every reload, trusted or
not, each file a manifest names must still have its recorded sha256, and a file callable must
be named by an absolute path (never a same-named file in the working directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import overload

from latentviz._imports import looks_like_callable_spec
from latentviz.errors import InputError, UnsafeCheckpointError

ENV_DATA_DIR = "LATENTVIZ_DATA_DIR"
STORE = "trusted.json"
# The model spec's fields that decide what a reload runs (the rest only shapes the output).
MODEL_KEY_FIELDS = ("form", "checkpoint", "sha256", "factory", "factory_sha256", "kwargs")


class NotTrustedError(UnsafeCheckpointError):
    """A reload would run code that neither ``--trust-checkpoint`` nor this machine's record allows."""


def data_dir() -> Path:
    """This user's latentviz data folder (see the module docstring)."""
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "latentviz"


# -- MODULE_OR_FILE:CALLABLE specs ------------------------------------------------------------------
def code_file(spec: str | None) -> Path | None:
    """The ``.py`` file a ``FILE:CALLABLE`` spec names, or None (a module spec, or not a callable)."""
    if not spec or not looks_like_callable_spec(spec):
        return None
    target = spec.rpartition(":")[0]
    return Path(target) if target.endswith(".py") or "/" in target or "\\" in target else None


@overload
def pin(spec: str) -> str: ...
@overload
def pin(spec: None) -> None: ...
def pin(spec: str | None) -> str | None:
    """``spec`` with its file resolved to an absolute path; module specs (``pkg.mod:fn``) unchanged."""
    file = code_file(spec)
    if file is None or spec is None:
        return spec
    return f"{file.resolve()}:{spec.rpartition(':')[2]}"


def code_sha256(spec: str | None) -> str | None:
    """sha256 of the file a ``FILE:CALLABLE`` spec names (None for a module or a missing file)."""
    file = code_file(spec)
    return sha256_of(file) if file is not None and file.is_file() else None


def model_code(spec: dict) -> str | None:
    """The ``MODULE_OR_FILE:CALLABLE`` a model spec imports on reload: its factory, or a callable checkpoint."""
    checkpoint = str(spec.get("checkpoint") or "")
    return spec.get("factory") or (checkpoint if looks_like_callable_spec(checkpoint) else None)


def data_code(data: dict | None) -> str | None:
    """The dataset callable a manifest's ``data`` entry imports on reload, or None (files need no code)."""
    spec = str((data or {}).get("spec") or "")
    return spec if not spec.startswith("builtin:") and looks_like_callable_spec(spec) else None


# -- checks before a reload -----------------------------------------------------------------------------
def check_model(spec: dict, *, trust_checkpoint: bool = False) -> bool:
    """Check the manifest's model before it reloads; return the trust its loader gets.

    Raises :class:`InputError` when a file it names changed since the run was made, and
    :class:`NotTrustedError` when the reload would import code (or unpickle a module) that
    neither ``trust_checkpoint`` nor this machine's record allows.
    """
    checkpoint = str(spec.get("checkpoint") or "")
    path = Path(checkpoint)
    if spec.get("sha256") and path.exists() and sha256_of(path) != spec["sha256"]:
        raise InputError(
            f"checkpoint {checkpoint} changed since the run was made (its sha256 is not the "
            "manifest's); restore that file or encode the run again"
        )
    code = model_code(spec)
    _check_unchanged(code, spec.get("factory_sha256"), "--model")
    if trust_checkpoint:
        return True
    record = _records().get(_key("model", {f: spec.get(f) for f in MODEL_KEY_FIELDS}))
    if record is not None:
        return bool(record.get("trust_checkpoint"))
    if code:
        raise NotTrustedError(
            f"the run's model was not reloaded: {_short(code)} is not trusted on this machine "
            "(this user did not create the run with it); pass --trust-checkpoint if you trust it"
        )
    if spec.get("form") == "pickled_module":
        raise NotTrustedError(
            f"the run's model was not reloaded: {path.name} is a pickled module, which runs code "
            "when loaded, and this user did not create the run with it; pass --trust-checkpoint "
            "if you trust it"
        )
    return False


def check_data(data: dict | None, *, trust_checkpoint: bool = False) -> None:
    """Refuse to reopen a dataset callable that changed, or that neither the flag nor the record allows."""
    code = data_code(data)
    if code is None or data is None:
        return
    _check_unchanged(code, data.get("sha256"), "--data")
    if trust_checkpoint or _key("data", {"spec": code, "sha256": data.get("sha256")}) in _records():
        return
    raise NotTrustedError(
        f"the run's data set was not reopened: {_short(code)} is not trusted on this machine "
        "(this user did not create the run with it); pass --trust-checkpoint if you trust it"
    )


def _check_unchanged(spec: str | None, recorded: str | None, option: str) -> None:
    file = code_file(spec)
    if file is None:
        return
    if not file.is_absolute():
        raise InputError(
            f"{option}: the run names {file} by a relative path, which would import whatever file of "
            "that name the working directory holds; encode the run again to record its absolute path"
        )
    if recorded and file.is_file() and sha256_of(file) != recorded:
        raise InputError(
            f"{option}: {file} changed since the run was made (its sha256 is not the manifest's); "
            "restore that file or encode the run again"
        )


def _short(spec: str) -> str:
    file = code_file(spec)
    return file.name if file is not None else spec


# -- the record -------------------------------------------------------------------------------------------
def remember(*, model: dict | None = None, data: dict | None = None, trust_checkpoint: bool = False) -> None:
    """Record that this user created a run with ``model`` (a model spec) and ``data`` (a manifest data entry).

    Only what can run code on reload is recorded. A store that cannot be written costs the
    record, not the run: later commands then ask for ``--trust-checkpoint``.
    """
    entries = {}
    if model is not None and (model_code(model) or trust_checkpoint):
        entries[_key("model", {f: model.get(f) for f in MODEL_KEY_FIELDS})] = {
            "what": "model",
            "spec": model_code(model) or model.get("checkpoint"),
            "trust_checkpoint": trust_checkpoint,
        }
    code = data_code(data)
    if code is not None and data is not None:
        entries[_key("data", {"spec": code, "sha256": data.get("sha256")})] = {"what": "data", "spec": code}
    if not entries:
        return
    try:
        records = _records()
        for key, entry in entries.items():
            old = records.get(key) or {}
            entry["trust_checkpoint"] = bool(entry.get("trust_checkpoint") or old.get("trust_checkpoint"))
            records[key] = {**entry, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write(records)
    except OSError as exc:
        from latentviz.progress import say

        say(
            f"latentviz: could not record this run as trusted in {data_dir() / STORE} ({exc}); later commands "
            "that reload its code will need --trust-checkpoint"
        )


def _key(what: str, fields: dict) -> str:
    text = json.dumps({"what": what, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _records() -> dict:
    path = data_dir() / STORE
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # an unreadable store trusts nothing
    records = content.get("records") if isinstance(content, dict) else None
    return dict(records) if isinstance(records, dict) else {}


def _write(records: dict) -> None:
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{STORE}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump({"version": 1, "records": records}, out, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, folder / STORE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of every file in a folder (sorted by relative path): the one hash the manifest records."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
