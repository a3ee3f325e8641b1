"""Every bad input ends with one line ``latentviz: error: ...`` on stderr and exit code 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_SHAPES, VAE_FACTORY


def assert_one_line_error(result, *needles):
    assert result.code == 2, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("latentviz: error: ")
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def bad_inputs(tmp_path, vae_checkpoint):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(vae_checkpoint.read_bytes()[:2000])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    empty_npy = tmp_path / "empty.npy"
    np.save(empty_npy, np.zeros((0, 1, 32, 32), dtype=np.float32))
    wrong_shape = tmp_path / "rgb.npy"
    np.save(wrong_shape, np.zeros((4, 3, 32, 32), dtype=np.float32))
    text_table = tmp_path / "names.csv"
    pd.DataFrame({"name": ["a", "b"], "city": ["x", "y"]}).to_csv(text_table, index=False)
    return {
        "truncated": truncated,
        "garbage": garbage,
        "empty": empty_npy,
        "wrong_shape": wrong_shape,
        "text": text_table,
    }


def _encode(cli, checkpoint, data, out, *extra):
    return cli("encode", checkpoint, "--model", VAE_FACTORY, "--data", data, "--out", out, "--quiet", *extra)


def test_missing_checkpoint(cli, tmp_path):
    assert_one_line_error(_encode(cli, tmp_path / "nope.pt", SMALL_SHAPES, tmp_path / "r"), "nope.pt", "no such file")


def test_missing_data(cli, tmp_path, vae_checkpoint):
    assert_one_line_error(_encode(cli, vae_checkpoint, tmp_path / "nothing.npz", tmp_path / "r"), "nothing.npz")


def test_truncated_checkpoint(cli, tmp_path, bad_inputs):
    assert_one_line_error(_encode(cli, bad_inputs["truncated"], SMALL_SHAPES, tmp_path / "r"), "truncated")


def test_garbage_checkpoint(cli, tmp_path, bad_inputs):
    assert_one_line_error(_encode(cli, bad_inputs["garbage"], SMALL_SHAPES, tmp_path / "r"), "garbage.pt")


def test_shape_mismatch_names_both_shapes(cli, tmp_path, bad_inputs):
    out = tmp_path / "r"
    result = _encode(cli, _checkpoint(tmp_path), bad_inputs["wrong_shape"], out)
    assert_one_line_error(result, "(3, 32, 32)", "1 input channels")
    assert not (out / "latents.parquet").exists()
    manifest = out / "manifest.json"
    assert not manifest.exists() or '"complete": false' in manifest.read_text()


def _checkpoint(tmp_path):
    import torch

    from latentviz.models.demo_vae import DemoVAE

    path = tmp_path / "vae.pt"
    torch.save(DemoVAE().state_dict(), path)
    return path


def test_empty_data_set(cli, tmp_path, vae_checkpoint, bad_inputs):
    assert_one_line_error(_encode(cli, vae_checkpoint, bad_inputs["empty"], tmp_path / "r"), "empty")


def test_table_without_numeric_columns(cli, tmp_path, vae_checkpoint, bad_inputs):
    assert_one_line_error(
        _encode(cli, vae_checkpoint, bad_inputs["text"], tmp_path / "r"), "no numeric columns", "--features"
    )


def test_unknown_option_value(cli, tmp_path, vae_checkpoint):
    assert_one_line_error(
        _encode(cli, vae_checkpoint, SMALL_SHAPES, tmp_path / "r", "--device", "tpu"), "--device", "tpu"
    )


def test_bad_model_kwargs(cli, tmp_path, vae_checkpoint):
    assert_one_line_error(
        _encode(cli, vae_checkpoint, SMALL_SHAPES, tmp_path / "r", "--model-kwargs", "{latent: 8"), "--model-kwargs"
    )


def test_model_file_that_is_not_python(cli, tmp_path, vae_checkpoint):
    notes = tmp_path / "models.txt"  # importlib finds no loader for it
    notes.write_text("class VAE: pass\n")
    result = _encode(cli, vae_checkpoint, SMALL_SHAPES, tmp_path / "r", "--model", f"{notes}:VAE")
    assert_one_line_error(result, "--model", "not a Python source file")


def test_state_dict_that_does_not_fit(cli, tmp_path, vae_checkpoint):
    result = _encode(cli, vae_checkpoint, SMALL_SHAPES, tmp_path / "r", "--model-kwargs", '{"latent_dim": 4}')
    assert_one_line_error(result, "does not fit", "to_stats.weight (16, 128) vs (8, 128)")


def test_unknown_builtin_and_bad_image_size(cli, tmp_path, vae_checkpoint):
    assert_one_line_error(_encode(cli, vae_checkpoint, "builtin:mnist", tmp_path / "r"), "mnist")
    assert_one_line_error(_encode(cli, vae_checkpoint, SMALL_SHAPES + "&colour=3", tmp_path / "r"), "colour")


def test_not_a_run_folder(cli, tmp_path):
    from latentviz.errors import InputError
    from latentviz.run import Run

    with pytest.raises(InputError, match="not a run folder"):
        Run(tmp_path)


def test_debug_shows_the_traceback(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "latentviz",
            "--debug",
            "import",
            str(tmp_path / "none.npy"),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


# -- a library's parameter errors name the parameter; the CLI names its flag ------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("project", "--methods", "pca,bogus"), "--methods: unknown projection 'bogus'; choose from pca, tsne, umap"),
        (("traverse", "--steps", "1"), "--steps: must be an integer >= 2; got 1"),
        (("traverse", "--range", "0"), "--range: must be a number > 0; got 0.0"),
        (
            ("traverse", "--dims", "0,8"),
            "--dims: dimension [8] out of range; the run's latents have 8 dimensions (0..7)",
        ),
        (("traverse", "--direction", "nowhere.npy"), "--direction: nowhere.npy: no such file"),
    ],
)
def test_a_library_parameter_error_names_the_flag_it_came_through(vae_run, cli, args, expected):
    command, *flags = args
    result = cli(command, vae_run, *flags)
    assert result.code == 2
    assert result.err == f"latentviz: error: {expected}\n"


def test_the_python_api_names_the_parameter_and_the_cli_its_flag(tmp_path, make_run):
    from latentviz._validation import ParameterError
    from latentviz.cli.main import flag_of
    from latentviz.cli.project import project_command
    from latentviz.cli.traverse import traverse_command
    from latentviz.projection import project

    run = make_run(tmp_path / "run", np.random.default_rng(0).normal(size=(30, 3)))
    with pytest.raises(ParameterError, match=r"^project: k: must be an integer >= 1; got 0$") as info:
        project(run, k=0, quiet=True)
    assert (info.value.parameter, info.value.problem) == ("k", "must be an integer >= 1; got 0")
    assert flag_of(project_command, "k") == "--k" and flag_of(traverse_command, "range_") == "--range"
    assert flag_of(traverse_command, "direction_file") == "--direction"
    assert flag_of(project_command, "direction_file") is None  # no such flag there: the library's message stands
