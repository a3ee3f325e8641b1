"""TorchScript and torch.export programs are code: untrusted, only pure tensor programs load (issue 12 items 1-2).

Each attack is a real archive written by torch and then edited the way a hostile author would; the
test shows the attack works with ``--trust-checkpoint`` (the marker appears) and is refused, with
one line and exit code 2, without it. Ordinary layer programs keep loading untrusted, and a program
exported with a static batch size encodes any number of rows (issue 14 item 10).
"""

from __future__ import annotations

import io
import json
import operator
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from checkpoint_models import ExportedEncoder, make_TupleVAE
from test_cli_errors import assert_one_line_error
from torch import nn

from latentviz.errors import UnsafeCheckpointError
from latentviz.models import load_model
from latentviz.run import Run


class _Opener:
    """Unpickles as ``open(marker, "w")``: creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


class _Armed:
    """Unpickles as ``tensor`` after creating the marker (``getitem((tensor, open(...)), 0)``)."""

    def __init__(self, tensor, marker):
        self.tensor, self.marker = tensor, marker

    def __reduce__(self):
        return operator.getitem, ((self.tensor, _Opener(self.marker)), 0)


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _seeded_encoder() -> nn.Module:
    torch.manual_seed(0)
    return ExportedEncoder().eval()


def _export(path: Path, *, dynamic: bool = True, batch: int = 4) -> Path:
    x = torch.randn(batch, 6)
    shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    torch.export.save(torch.export.export(_seeded_encoder(), (x,), dynamic_shapes=shapes), str(path))
    return path


def _edited(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    root = next(iter(files)).split("/")[0]
    edit(files, root)
    with zipfile.ZipFile(dst, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return dst


def _pickled_weight(marker):
    def edit(files, root):
        config_name = f"{root}/data/weights/model_weights_config.json"
        config = json.loads(files[config_name])
        entry = config["config"]["body.0.weight"]
        entry["use_pickle"] = True
        raw = torch.frombuffer(bytearray(files[f"{root}/data/weights/{entry['path_name']}"]), dtype=torch.float32)
        files[f"{root}/data/weights/{entry['path_name']}"] = _saved(
            _Armed(nn.Parameter(raw.reshape(8, 6).clone()), marker)
        )
        files[config_name] = json.dumps(config).encode()

    return edit


def _pickled_constant(marker):
    def edit(files, root):
        files[f"{root}/data/constants/tensor_0"] = _saved(_Armed(torch.zeros(3), marker))
        config = {
            "config": {"c": {"path_name": "tensor_0", "is_param": False, "use_pickle": True, "tensor_meta": None}}
        }
        files[f"{root}/data/constants/model_constants_config.json"] = json.dumps(config).encode()

    return edit


def _pickled_sample_inputs(marker):
    def edit(files, root):
        name = f"{root}/data/sample_inputs/model.pt"
        files[name] = _saved(_Armed(torch.load(io.BytesIO(files[name]), weights_only=True), marker))

    return edit


def _opaque_constant(marker):
    def edit(files, root):  # torch reads opaque objects with pickle.loads
        files[f"{root}/data/constants/opaque_obj_0"] = pickle.dumps(_Opener(marker))
        config = {
            "config": {"c": {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}}
        }
        files[f"{root}/data/constants/model_constants_config.json"] = json.dumps(config).encode()

    return edit


def _legacy_weights(marker):
    def edit(files, root):  # an older torch's layout: the weights as one torch.save file, read before the config
        files[f"{root}/data/weights/model.pt"] = _saved(_Armed({}, marker))

    return edit


def _guard_code(marker):
    def edit(files, root):
        name = f"{root}/models/model.json"
        program = json.loads(files[name])
        program["guards_code"] = [f"open({str(marker)!r}, 'w') is not None"]
        files[name] = json.dumps(program).encode()

    return edit


def _renamed(old: str, new: str):
    def edit(files, root):  # torch writes names into the forward it generates (getattr(self.body, "0").weight)
        for name in (f"{root}/models/model.json", f"{root}/data/weights/model_weights_config.json"):
            files[name] = files[name].replace(json.dumps(old).encode(), json.dumps(new).encode())

    return edit


def _attribute_path(marker):
    return _renamed("body.0.weight", f'body.0")and open("{marker}","w")and("x.weight')


def _input_name(marker):
    return _renamed("x", f"x=open({str(marker)!r},'w')")


def _custom_target(marker):
    return _renamed("torch.ops.aten.tanh.default", "torch.ops.mylib.tanh.default")


ATTACKS = {
    "pickled weight": _pickled_weight,
    "pickled constant": _pickled_constant,
    "pickled sample inputs": _pickled_sample_inputs,
    "opaque object": _opaque_constant,
    "legacy weights file": _legacy_weights,
    "attribute path": _attribute_path,
    "input name": _input_name,
    "custom operator": _custom_target,
    "guard code": _guard_code,
}


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> tuple[Path, torch.Tensor]:
    x = np.random.default_rng(0).normal(size=(11, 6)).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "x.npy"
    np.save(path, x)
    return path, torch.from_numpy(x)


@pytest.fixture(scope="module")
def plain_export(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("export") / "plain.pt2")


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_export_archive_that_would_run_code_is_refused(cli, tmp_path, plain_export, features, attack):
    marker = tmp_path / "marker"
    archive = _edited(plain_export, tmp_path / "evil.pt2", ATTACKS[attack](marker))
    assert_one_line_error(cli("inspect", archive), "--trust-checkpoint", "nothing was run")
    assert_one_line_error(
        cli("encode", archive, "--data", features[0], "--out", tmp_path / "run", "--quiet"), "--trust-checkpoint"
    )
    assert not marker.exists()


class _WithMode(nn.Module):
    def forward(self, x, mode: str):
        return x * 2 if mode == "double" else x


def test_export_string_input_is_refused(tmp_path):
    """torch writes a string input into the guard code it executes: ``mode == 'double' or open(...) or ''``."""
    marker = tmp_path / "marker"
    torch.export.save(torch.export.export(_WithMode(), (torch.randn(2, 3), "double")), str(tmp_path / "mode.pt2"))
    archive = _edited(
        tmp_path / "mode.pt2", tmp_path / "evil.pt2", _renamed("double", f"double' or open({str(marker)!r}, 'w') or '")
    )
    with pytest.raises(UnsafeCheckpointError, match="input mode is a string constant.*--trust-checkpoint"):
        load_model(str(archive))
    assert not marker.exists()


def test_export_archive_named_pt_is_still_checked(cli, tmp_path, plain_export):
    marker = tmp_path / "marker"
    archive = _edited(plain_export, tmp_path / "evil.pt", _pickled_weight(marker))
    assert_one_line_error(cli("inspect", archive), "body.0.weight", "is a pickle", "--trust-checkpoint")
    assert not marker.exists()


def test_trusted_export_archive_loads_as_torch_loads_it(cli, tmp_path, plain_export):
    marker = tmp_path / "marker"
    archive = _edited(plain_export, tmp_path / "evil.pt2", _pickled_weight(marker))
    result = cli("inspect", archive, "--trust-checkpoint")
    assert result.code == 0, result.err
    assert marker.exists()  # torch ran the pickle: the refusal above is what stopped it


class _FileWriter(nn.Module):
    """Maps ``path`` into a tensor (``shared=True``) and overwrites its first bytes, then acts as a Linear."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.lin = nn.Linear(6, 2)

    def forward(self, x):
        mapped = torch.from_file(self.path, shared=True, size=4, dtype=torch.uint8)
        mapped.copy_(torch.full((4,), 65, dtype=torch.uint8))
        return self.lin(x) + mapped.sum().float() * 0


class _SetStateWriter(nn.Module):
    """Overwrites ``path`` from ``__setstate__``, which ``torch.jit.load`` itself runs."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.mapped = torch.zeros(4, dtype=torch.uint8)

    def forward(self, x):
        return x

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return self.path, self.training

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.path, self.training = state[0], state[1]
        self.mapped = torch.from_file(self.path, shared=True, size=4, dtype=torch.uint8)
        self.mapped.copy_(torch.full((4,), 66, dtype=torch.uint8))


@torch.jit.script
class _Mapping:
    """A TorchScript context manager whose ``__enter__`` writes the file: reached only through prim::Enter."""

    def __init__(self, path: str):
        self.path = path
        self.mapped = torch.zeros(4, dtype=torch.uint8)

    def __enter__(self):
        self.mapped = torch.from_file(self.path, shared=True, size=4, dtype=torch.uint8)
        self.mapped.copy_(torch.full((4,), 67, dtype=torch.uint8))

    def __exit__(self, kind: Any, value: Any, trace: Any):  # noqa: PYI036 (TorchScript knows Any, not object)
        pass


class _ContextWriter(nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x):
        with _Mapping(self.path):
            y = x * 2
        return y


@pytest.fixture
def target(tmp_path) -> Path:
    path = tmp_path / "target.txt"
    path.write_text("hello world\n")
    return path


def test_torchscript_writing_a_file_is_refused_naming_the_operator(cli, tmp_path, features, target):
    scripted = tmp_path / "writer.pt"
    torch.jit.script(nn.Sequential(_FileWriter(str(target)))).save(str(scripted))
    assert_one_line_error(cli("inspect", scripted, "--data", features[0]), "aten::from_file", "--trust-checkpoint")
    assert_one_line_error(
        cli("encode", scripted, "--data", features[0], "--out", tmp_path / "run", "--quiet"),
        "aten::from_file",
        "--trust-checkpoint",
    )
    assert target.read_text() == "hello world\n"
    model = load_model(str(scripted), trust_checkpoint=True)  # with the flag it loads and runs as today
    model.encode(features[1])
    assert target.read_text() == "AAAAo world\n"


def test_torchscript_context_manager_code_is_checked(cli, tmp_path, target):
    scripted = tmp_path / "context.pt"
    torch.jit.script(_ContextWriter(str(target))).save(str(scripted))
    assert_one_line_error(cli("inspect", scripted), "aten::from_file", "--trust-checkpoint")
    assert target.read_text() == "hello world\n"


def test_torchscript_setstate_is_refused_before_loading(cli, tmp_path, target):
    scripted = tmp_path / "setstate.pt"
    torch.jit.script(_SetStateWriter(str(target))).save(str(scripted))
    assert_one_line_error(cli("inspect", scripted), "__setstate__", "--trust-checkpoint")
    assert target.read_text() == "hello world\n"
    assert cli("inspect", scripted, "--trust-checkpoint").code == 0
    assert target.read_text() == "BBBBo world\n"  # torch.jit.load ran it: refusing before loading is what held


def _define_custom_library():
    """A custom operator namespace, registered once per process (test_attacks imports this module a second time)."""
    try:
        library = torch.library.Library("latentviz_test", "DEF")
    except RuntimeError:  # already registered by the first import of this module, which keeps it alive
        return None
    library.define("double(Tensor x) -> Tensor")
    library.impl("double", lambda x: x * 2, "CompositeExplicitAutograd")
    return library


_LIBRARY = _define_custom_library()


class _CustomOp(nn.Module):
    def forward(self, x):
        return torch.ops.latentviz_test.double(x)


def test_custom_operator_namespace_is_refused(cli, tmp_path):
    scripted = tmp_path / "custom.pt"
    torch.jit.script(_CustomOp()).save(str(scripted))
    assert_one_line_error(cli("inspect", scripted), "latentviz_test::double", "--trust-checkpoint")


class _Layers(nn.Module):
    """Conv, BatchNorm, ReLU, reshape, Linear under no_grad: the common case."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.norm = nn.BatchNorm2d(2)
        self.head = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        with torch.no_grad():  # TorchScript: prim::Enter/Exit on torch's own no_grad class
            return self.head(torch.relu(self.norm(self.conv(x))).reshape(x.shape[0], -1))


def test_ordinary_programs_load_untrusted_and_match_a_direct_call(tmp_path):
    torch.manual_seed(0)
    layers = _Layers().eval()
    images = torch.randn(5, 1, 4, 4)
    torch.jit.script(layers).save(str(tmp_path / "layers.pt"))
    program = torch.export.export(layers, (images,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(tmp_path / "layers.pt2"))
    vae = make_TupleVAE()
    torch.jit.script(vae).save(str(tmp_path / "vae.pt"))
    x = torch.randn(5, 6)
    with torch.no_grad():
        for file, inputs, expected in (
            ("layers.pt", images, layers(images)),
            ("layers.pt2", images, layers(images)),
            ("vae.pt", x, vae.encode(x)[0]),
        ):
            mu, _ = load_model(str(tmp_path / file)).encode(inputs)
            torch.testing.assert_close(mu, expected, atol=1e-5, rtol=0)
        encoder = _export(tmp_path / "encoder.pt2")
        torch.testing.assert_close(load_model(str(encoder)).encode(x)[0], _seeded_encoder()(x), atol=1e-5, rtol=0)


def test_static_batch_export_encodes_any_number_of_rows(cli, tmp_path, features):
    data, x = features  # 11 rows, exported for exactly 4
    program = _export(tmp_path / "static.pt2", dynamic=False, batch=4)
    result = cli("encode", program, "--data", data, "--out", tmp_path / "run", "--quiet", "--device", "cpu")
    assert result.code == 0, result.err
    run = Run(tmp_path / "run")
    with torch.no_grad():
        np.testing.assert_allclose(run.z, _seeded_encoder()(x).numpy(), atol=1e-5, rtol=0)
    assert run.manifest["model"]["static_batch"] == 4
    assert "exported for batches of exactly 4 rows" in cli("inspect", program).out
