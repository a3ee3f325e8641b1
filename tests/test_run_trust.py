"""A run folder never decides trust (issue 12 items 3-4, issue 14 item 7).

Reloading code a manifest names (a factory file, a module factory, a dataset callable, a pickled
module) needs ``--trust-checkpoint`` or this machine's record that its user made the run with
those exact files; a changed file is refused either way, and a relative name never imports a
same-named file from the working directory. Each attack plants code that leaves a marker file
when it runs, and the test asserts the marker is absent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys

import numpy as np
import pytest
import torch
from test_cli_errors import assert_one_line_error

MODELS = """
import pathlib
with open({marker!r}, "a") as log:
    log.write("imported\\n")

import torch
from torch import nn


class VAE(nn.Module):
    def __init__(self, latent_dim=2, n_features=6):
        super().__init__()
        self.enc = nn.Linear(n_features, 2 * latent_dim)
        self.dec = nn.Linear(latent_dim, n_features)

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z):
        return torch.sigmoid(self.dec(z))
"""

DATA = """
with open({marker!r}, "a") as log:
    log.write("imported\\n")

import torch


def make():
    return torch.utils.data.TensorDataset(torch.rand(40, 6, generator=torch.Generator().manual_seed(0)))
"""


class _Payload:
    """A pickle that creates a marker file when it is unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _state_dict(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "enc.weight": torch.randn(4, 6, generator=g),
        "enc.bias": torch.zeros(4),
        "dec.weight": torch.randn(6, 2, generator=g),
        "dec.bias": torch.zeros(6),
    }


@pytest.fixture
def fresh_imports(monkeypatch):
    """Forget the user files earlier tests imported, so an import here runs the file (and leaves its marker)."""
    for name in [m for m in sys.modules if m.startswith("_latentviz_user_")]:
        monkeypatch.delitem(sys.modules, name)


@pytest.fixture
def project(tmp_path, fresh_imports):
    """The user's own folder: mymodels.py and mydata.py (each logs its import to a marker), a state dict."""
    folder = tmp_path / "project"
    folder.mkdir()
    markers = {"model": tmp_path / "model-imported", "data": tmp_path / "data-imported"}
    (folder / "mymodels.py").write_text(MODELS.format(marker=str(markers["model"])))
    (folder / "mydata.py").write_text(DATA.format(marker=str(markers["data"])))
    torch.save(_state_dict(), folder / "vae.pt")
    return folder, markers


@pytest.fixture
def made_run(cli, project, tmp_path, monkeypatch):
    """A run encoded from the project folder with relative names (as typed there); markers cleared after."""
    folder, markers = project
    monkeypatch.chdir(folder)
    result = cli(
        "encode",
        "vae.pt",
        "--model",
        "mymodels.py:VAE",
        "--data",
        "mydata.py:make",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--device",
        "cpu",
    )
    assert result.code == 0, result.err
    assert markers["model"].exists() and markers["data"].exists()
    for marker in markers.values():
        marker.unlink()
    for name in [m for m in sys.modules if m.startswith("_latentviz_user_")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "run", markers


@pytest.fixture
def other_user(tmp_path, monkeypatch):
    """Another user's machine: an empty trust store (the run folder came from someone else)."""
    monkeypatch.setenv("LATENTVIZ_DATA_DIR", str(tmp_path / "other-user"))


def _edit_manifest(run, **model_fields):
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"].update(model_fields)
    path.write_text(json.dumps(manifest))


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_records_absolute_paths_and_hashes(made_run, project):
    run, _ = made_run
    folder, _ = project
    manifest = json.loads((run / "manifest.json").read_text())
    model, data = manifest["model"], manifest["data"]
    assert model["checkpoint"] == str((folder / "vae.pt").resolve()) and model["sha256"] == _sha256(folder / "vae.pt")
    assert model["factory"] == f"{(folder / 'mymodels.py').resolve()}:VAE"
    assert model["factory_sha256"] == _sha256(folder / "mymodels.py")
    assert data["spec"] == f"{(folder / 'mydata.py').resolve()}:make" and data["sha256"] == _sha256(
        folder / "mydata.py"
    )


def test_module_specs_stay_module_names(cli, tmp_path, vae_checkpoint):
    from conftest import SMALL_SHAPES, VAE_FACTORY

    result = cli(
        "encode",
        vae_checkpoint,
        "--model",
        VAE_FACTORY,
        "--data",
        SMALL_SHAPES,
        "--limit",
        "8",
        "--out",
        tmp_path / "run",
        "--quiet",
        "--device",
        "cpu",
    )
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["model"]["factory"] == VAE_FACTORY and manifest["model"]["factory_sha256"] is None


def test_copied_run_marked_trusted_with_a_malicious_pickle_runs_nothing(cli, made_run, tmp_path, other_user):
    run, _ = made_run
    copy = tmp_path / "shared"
    shutil.copytree(run, copy)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save(_Payload(marker), evil)
    # the colleague's manifest says trusted, names the pickle as a module and gives its true sha256
    _edit_manifest(
        copy,
        checkpoint=str(evil),
        sha256=_sha256(evil),
        form="pickled_module",
        factory=None,
        factory_sha256=None,
        trusted=True,
    )
    result = cli("traverse", copy, "--quiet", "--device", "cpu")
    assert_one_line_error(result, "evil.pt", "pickled module", "--trust-checkpoint")
    assert not marker.exists()
    assert not (copy / "traversals").exists()


def test_traverse_does_not_import_the_manifests_factory_without_trust(cli, made_run, other_user):
    run, markers = made_run
    result = cli("traverse", run, "--quiet", "--device", "cpu", "--no-gif", "--samples", "1", "--steps", "3")
    assert_one_line_error(
        result, "the run's model was not reloaded", "mymodels.py is not trusted", "--trust-checkpoint"
    )
    assert not markers["model"].exists()
    trusted = cli(
        "traverse",
        run,
        "--quiet",
        "--device",
        "cpu",
        "--no-gif",
        "--samples",
        "1",
        "--steps",
        "3",
        "--trust-checkpoint",
    )
    assert trusted.code == 0, trusted.err
    assert markers["model"].exists() and (run / "traversals" / "traversals.json").exists()


def test_metrics_without_trust_skip_what_needs_code_and_compute_the_rest(cli, made_run, other_user):
    run, markers = made_run
    result = cli("metrics", run, "--device", "cpu")
    assert result.code == 0, result.err
    assert not markers["model"].exists() and not markers["data"].exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert "mymodels.py is not trusted on this machine" in metrics["skipped"]["reconstruction_error"]
    assert "mydata.py is not trusted on this machine" in metrics["skipped"]["trustworthiness"]
    assert "active_units" in metrics and "effective_rank" in metrics
    assert "skipped reconstruction_error: the run's model was not reloaded" in result.err


def test_the_users_own_record_reloads_model_and_data(cli, made_run):
    run, markers = made_run
    result = cli("metrics", run, "--device", "cpu", "--quiet")
    assert result.code == 0, result.err
    metrics = json.loads((run / "metrics.json").read_text())
    assert "reconstruction_error" in metrics and "trustworthiness" in metrics, metrics["skipped"]
    assert markers["model"].exists() and markers["data"].exists()


def test_dashboard_store_does_not_import_the_factory_without_trust(made_run, other_user):
    from dashboards.store import RunData

    run, markers = made_run
    data = RunData("r", run, device="cpu")
    assert data.model is None and "mymodels.py is not trusted on this machine" in data.model_note
    assert not markers["model"].exists()
    trusted = RunData("r", run, device="cpu", trust_checkpoint=True)
    assert trusted.model is not None and markers["model"].exists()


def test_dashboard_command_says_in_one_line_why_the_model_is_not_reloaded(cli, made_run, other_user, monkeypatch):
    import dashboards.app

    run, markers = made_run
    served = {}
    monkeypatch.setattr(dashboards.app, "serve", lambda runs, **kw: served.update(kw))
    result = cli("dashboard", run)
    assert result.code == 0, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "mymodels.py is not trusted" in lines[0] and "--trust-checkpoint" in lines[0], lines
    assert served["trust_checkpoint"] is False and not markers["model"].exists()


def test_a_module_factory_from_the_manifest_is_not_called_without_trust(cli, made_run, tmp_path, other_user):
    run, _ = made_run
    marker = tmp_path / "made-by-os-makedirs"
    _edit_manifest(run, factory="os:makedirs", factory_sha256=None, kwargs={"name": str(marker)})
    result = cli("traverse", run, "--quiet", "--device", "cpu")
    assert_one_line_error(result, "os:makedirs is not trusted", "--trust-checkpoint")
    assert not marker.exists()


def test_an_edited_manifest_does_not_match_the_users_record(cli, made_run, tmp_path):
    run, _ = made_run
    marker = tmp_path / "made-by-os-makedirs"
    _edit_manifest(run, factory="os:makedirs", factory_sha256=None, kwargs={"name": str(marker)})
    result = cli("traverse", run, "--quiet", "--device", "cpu")
    assert_one_line_error(result, "os:makedirs is not trusted")
    assert not marker.exists()


@pytest.mark.parametrize("flag", [[], ["--trust-checkpoint"]])
def test_a_changed_checkpoint_is_refused(cli, made_run, project, flag):
    run, markers = made_run
    folder, _ = project
    torch.save(_state_dict(seed=1), folder / "vae.pt")
    result = cli("traverse", run, "--quiet", "--device", "cpu", *flag)
    assert_one_line_error(result, str((folder / "vae.pt").resolve()), "changed since the run was made")
    assert not markers["model"].exists()


@pytest.mark.parametrize("flag", [[], ["--trust-checkpoint"]])
def test_a_changed_factory_file_is_refused(cli, made_run, project, flag):
    run, markers = made_run
    folder, _ = project
    with open(folder / "mymodels.py", "a") as handle:
        handle.write("\nimport os  # changed after the run was made\n")
    result = cli("traverse", run, "--quiet", "--device", "cpu", *flag)
    assert_one_line_error(result, "mymodels.py", "changed since the run was made")
    assert not markers["model"].exists()


def test_a_changed_dataset_file_is_refused(cli, made_run, project):
    run, markers = made_run
    folder, _ = project
    with open(folder / "mydata.py", "a") as handle:
        handle.write("\n# changed\n")
    result = cli("metrics", run, "--device", "cpu", "--trust-checkpoint")
    assert result.code == 0, result.err
    assert (
        "changed since the run was made" in json.loads((run / "metrics.json").read_text())["skipped"]["trustworthiness"]
    )
    assert not markers["data"].exists()


def test_reload_from_another_directory_ignores_a_same_named_decoy(cli, made_run, tmp_path, monkeypatch):
    run, markers = made_run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    decoy = tmp_path / "decoy-imported"
    (elsewhere / "mymodels.py").write_text(MODELS.format(marker=str(decoy)))
    (elsewhere / "mydata.py").write_text(DATA.format(marker=str(decoy)))
    monkeypatch.chdir(elsewhere)
    result = cli("metrics", "../run", "--device", "cpu", "--quiet")
    assert result.code == 0, result.err
    assert "reconstruction_error" in json.loads((run / "metrics.json").read_text())
    assert markers["model"].exists() and markers["data"].exists() and not decoy.exists()


def test_a_relative_factory_in_a_manifest_is_refused_even_with_the_flag(cli, made_run, tmp_path, monkeypatch):
    run, _ = made_run
    decoy = tmp_path / "decoy-imported"
    (tmp_path / "mymodels.py").write_text(MODELS.format(marker=str(decoy)))
    _edit_manifest(run, factory="mymodels.py:VAE")
    result = cli("traverse", run, "--quiet", "--device", "cpu", "--trust-checkpoint")
    assert_one_line_error(result, "relative path", "mymodels.py")
    assert not decoy.exists()


def test_python_api_reload_follows_the_same_rules(made_run, other_user):
    from latentviz.errors import UnsafeCheckpointError
    from latentviz.run import Run

    run, markers = made_run
    with pytest.raises(UnsafeCheckpointError, match="mymodels.py is not trusted"):
        Run(run).load_model(device="cpu")
    assert not markers["model"].exists()
    model = Run(run).load_model(device="cpu", trust_checkpoint=True)
    z = np.asarray(Run(run).z, dtype=np.float32)
    assert model.decode(torch.from_numpy(z[:2])).shape == (2, 6)


GENERATOR = """
with open({marker!r}, "a") as log:
    log.write("imported\\n")

import torch


def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Sigmoid())
"""


def test_sample_records_its_callable_checkpoint(cli, tmp_path, monkeypatch, fresh_imports, trust_store):
    marker = tmp_path / "generator-imported"
    (tmp_path / "gen.py").write_text(GENERATOR.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    result = cli("sample", "gen.py:make", "--out", "g", "--latent-dim", "3", "--n", "12", "--quiet", "--device", "cpu")
    assert result.code == 0, result.err
    spec = json.loads((tmp_path / "g" / "manifest.json").read_text())["model"]
    assert spec["checkpoint"] == f"{(tmp_path / 'gen.py').resolve()}:make"
    assert spec["factory_sha256"] == _sha256(tmp_path / "gen.py")
    for name in [m for m in sys.modules if m.startswith("_latentviz_user_")]:
        monkeypatch.delitem(sys.modules, name)
    marker.unlink()
    monkeypatch.setenv("LATENTVIZ_DATA_DIR", str(tmp_path / "other-user"))
    refused = cli("traverse", "g", "--quiet", "--device", "cpu", "--samples", "1", "--steps", "3", "--no-gif")
    assert_one_line_error(refused, "gen.py is not trusted")
    assert not marker.exists()
    monkeypatch.setenv("LATENTVIZ_DATA_DIR", str(trust_store))  # this user's own store: sample's record allows it
    result = cli("traverse", "g", "--quiet", "--device", "cpu", "--samples", "1", "--steps", "3", "--no-gif")
    assert result.code == 0, result.err
    assert marker.exists()
