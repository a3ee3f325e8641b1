"""Regression tests of issue #13: the day-one paths that crashed or gave wrong numbers."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from tests.conftest import VAE_FACTORY, invoke, read_json, write_run


def _grid(levels: int, factors: int) -> np.ndarray:
    """Every combination of ``factors`` factors with ``levels`` levels: exactly independent factors."""
    return np.array(list(itertools.product(range(levels), repeat=factors)))


# -- item 1: an imported run (seed: null) has a report ---------------------------------------------


def test_report_of_an_imported_run(tmp_path):
    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32))
    assert invoke("import", tmp_path / "z.npy", "--out", tmp_path / "run").code == 0
    assert read_json(tmp_path / "run" / "manifest.json")["seed"] is None
    result = invoke("report", tmp_path / "run", "--quiet")
    assert result.code == 0, result.err
    html = (tmp_path / "run" / "report.html").read_text()
    assert "None" not in html.split("Seed", 1)[1][:200]  # provenance shows a dash, not Python's None
    assert invoke("import", tmp_path / "z.npy", "--out", tmp_path / "run2").code == 0
    result = invoke("compare", tmp_path / "run", tmp_path / "run2", "--out", tmp_path / "compare.html", "--quiet")
    assert result.code == 0, result.err
    assert "seed None" not in (tmp_path / "compare.html").read_text()


# -- item 2: a series of runs with many metrics ----------------------------------------------------


def test_compare_series_with_30_metrics(tmp_path):
    runs = []
    for step in (10, 20, 30):
        path = write_run(
            tmp_path / f"epoch{step}", np.random.default_rng(step).normal(size=(40, 3)), manifest={"step": step}
        )
        (path / "metrics.json").write_text(json.dumps({f"metric_{k:02d}": step * 0.01 + k for k in range(30)}))
        runs.append(path)
    result = invoke("compare", *runs, "--order", "step", "--out", tmp_path / "compare.html", "--quiet")
    assert result.code == 0, result.err
    assert "metric_29" in (tmp_path / "compare.html").read_text()


def test_metric_series_panels_keep_their_height():
    from latentviz.figures import metric_series

    small = metric_series([1, 2, 3], {f"m{k}": [0.0, 1.0, 2.0] for k in range(6)})
    large = metric_series([1, 2, 3], {f"m{k}": [0.0, 1.0, 2.0] for k in range(90)})

    def panel_px(fig):
        low, high = fig.layout.yaxis.domain
        return (high - low) * (fig.layout.height - fig.layout.margin.t - fig.layout.margin.b)

    assert panel_px(large) == pytest.approx(panel_px(small), rel=0.01)


# -- item 3: constant (collapsed) latents in the MI-based metrics ----------------------------------

#: The tolerance below which plug-in MI is float noise (latentviz.metrics._binning.MI_TOLERANCE).
MI_TOLERANCE = 1e-12


def _with_constant_dims(z):
    n = len(z)
    return np.hstack([z, np.zeros((n, 1)), np.full((n, 1), 0.1)])


def test_mi_tolerance_is_the_stated_one():
    from latentviz.metrics._binning import MI_TOLERANCE as stated

    assert stated == MI_TOLERANCE


def test_mi_of_a_constant_latent_is_exactly_zero():
    from sklearn.metrics import mutual_info_score as reference

    from latentviz.metrics import mutual_info_matrix

    f = _grid(3, 5)
    mi = mutual_info_matrix(_with_constant_dims(f + 0.0), f)
    assert np.all(mi[5:] == 0.0)
    # the noise the tolerance removes: what the reference estimator returns for a constant code
    assert 0.0 <= max(reference(np.zeros(len(f)), f[:, j]) for j in range(5)) <= MI_TOLERANCE
    assert mi[0, 0] == pytest.approx(reference(f[:, 0], f[:, 0]), abs=1e-12)


def test_modularity_of_perfect_code_plus_constant_dims_is_five_sevenths():
    from latentviz.metrics import modularity

    f = _grid(3, 5)
    assert modularity(f + 0.0, f) == pytest.approx(1.0, abs=1e-12)
    assert modularity(_with_constant_dims(f * 2.0 + 1.0), f) == pytest.approx(5 / 7, abs=1e-12)


def test_mig_and_mi_score_unchanged_by_constant_dims():
    from latentviz.metrics import mig, mutual_info_score

    f = _grid(3, 4)
    z = f + np.random.default_rng(0).uniform(0, 0.9, size=f.shape)
    assert mig(_with_constant_dims(z), f) == pytest.approx(mig(z, f), abs=1e-12)
    d = z.shape[1]
    # the pairs with a constant latent add exactly 0 to the sum over d^2 - d ordered pairs
    expected = mutual_info_score(z) * (d * d - d) / ((d + 2) * (d + 1))
    assert mutual_info_score(_with_constant_dims(z)) == pytest.approx(expected, abs=1e-12)


def test_irs_ignores_constant_dims_exactly():
    import warnings

    from latentviz.metrics import irs

    f = _grid(3, 3)
    z = f + np.random.default_rng(1).uniform(0, 0.9, size=f.shape)
    assert irs(_with_constant_dims(z), f) == irs(z, f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert irs(np.full((len(f), 2), 0.1), f) == 0.0  # var() of a constant 0.1 column is not 0


# -- item 4: --repeats gives every stochastic metric its spread ------------------------------------


def _repeat(run_path, name, repeats=3):
    """metrics.json's part from the registry entry that writes ``name``, run ``repeats`` times on the run."""
    from latentviz.metrics._registry import ENTRIES
    from latentviz.run import Run
    from latentviz.stages.metrics import _run_metric, _RunData

    out = {"detail": {}}
    _run_metric(out, next(m for m in ENTRIES if name in m.names), _RunData(Run(run_path), 0), 0, repeats)
    return out


@pytest.mark.parametrize("name", ["consistency", "consistency_prior"])
def test_repeats_give_consistency_a_spread(vae_run, name):
    out = _repeat(vae_run, name)
    detail = out["detail"][name]
    assert len(detail["values"]) == 3
    assert out[name] == pytest.approx(np.mean(detail["values"]))
    assert detail["std"] == pytest.approx(np.std(detail["values"], ddof=1))
    if name == "consistency_prior":
        assert detail["std"] > 0  # fresh prior draws per repeat


def test_repeats_draw_a_split_per_seed(vae_run):
    # a logistic regression is deterministic: the spread comes from the split drawn with each seed
    assert _repeat(vae_run, "explicitness")["detail"]["explicitness"]["std"] > 0


def test_repeats_cover_every_stochastic_metric_of_every_task():
    import dataclasses

    from latentviz.metrics import REGISTRY
    from latentviz.metrics._registry import ENTRIES
    from latentviz.stages.metrics import _run_metric

    for metric in ENTRIES:
        out = {"detail": {}}

        def by_seed(ctx, seed, names=metric.names):
            return {n: float(seed) for n in names}, {}

        seeded = dataclasses.replace(metric, compute=by_seed)
        _run_metric(out, seeded, None, 10, 3)
        for name in metric.names:
            if REGISTRY[name].stochastic:
                assert out["detail"][name]["values"] == [10.0, 11.0, 12.0], name
                assert out[name] == 11.0
            else:
                assert out[name] == 10.0 and "values" not in out["detail"].get(name, {}), name


# -- item 7: the default audit policy follows the run's kind ---------------------------------------


@pytest.mark.parametrize(
    ("kind", "data_kind", "policy_name"),
    [
        ("vae", "shapes", "latentviz default for VAEs"),
        ("autoencoder", "shapes", "latentviz default for autoencoders"),
        ("feature_extractor", "images", "latentviz default for embeddings and features"),
        ("embedding", "text", "latentviz default for embeddings and features"),
        ("imported", "latents", "latentviz default for embeddings and features"),
        ("generator", "prior", "latentviz default for generators"),
        ("vae", "prior", "latentviz default for generators"),  # `latentviz sample` of a VAE: prior draws
    ],
)
def test_default_policy_per_kind(tmp_path, kind, data_kind, policy_name):
    run = write_run(
        tmp_path / "run",
        np.random.default_rng(0).normal(size=(20, 3)),
        manifest={"kind": kind, "data": {"spec": "x", "kind": data_kind}},
    )
    (run / "metrics.json").write_text(json.dumps({"active_units_fraction": 0.1, "effective_rank": 2.9}))
    result = invoke("audit", run, "--json", tmp_path / "audit.json", "--junit", tmp_path / "audit.xml")
    assert result.out.strip().splitlines()[-1].endswith(f"under {policy_name}")
    assert read_json(tmp_path / "audit.json")["policy_name"] == policy_name
    assert f'name="policy" value="{policy_name}"' in (tmp_path / "audit.xml").read_text()
    # a feature run with few "active" units (arbitrary scale) is not failed on the VAE's threshold
    assert result.code == (1 if policy_name.endswith(("VAEs", "autoencoders")) else 0), result.out


def test_every_model_kind_has_a_default_policy():
    from latentviz import audit
    from latentviz.models._adapter import KINDS

    for kind in (*KINDS, "imported"):
        assert kind in audit.DEFAULT_POLICIES
        assert audit.load_policy(audit.default_policy(kind)).name.startswith("latentviz default for")


# -- item 8: integer class labels are categories ---------------------------------------------------


def _legend_names(colors: dict) -> list[str]:
    return [t.get("name") for t in colors["legend"] if t.get("name")]


def test_integer_labels_get_a_categorical_legend():
    from latentviz.figures import scatter_colors
    from latentviz.figures._scatter import MAX_INTEGER_CATEGORIES

    labels = np.arange(60) % 10
    assert _legend_names(scatter_colors(labels, name="label")) == [str(k) for k in range(10)]
    assert scatter_colors(labels, name="label", mode="continuous")["marker"]["showscale"] is True
    many = np.arange(MAX_INTEGER_CATEGORIES + 1)
    assert scatter_colors(many, name="x")["marker"]["showscale"] is True  # too many ids: a scale
    assert len(_legend_names(scatter_colors(many, name="x", mode="categorical"))) > 1
    assert scatter_colors(np.linspace(0, 1, 5), name="z0")["marker"]["showscale"] is True


def test_report_colours_integer_labels_by_category_and_can_force_a_scale(tmp_path):
    from latentviz.run import Run
    from reports._build import build_report
    from tests.conftest import write_maps

    run = write_maps(
        write_run(tmp_path / "run", np.random.default_rng(0).normal(size=(50, 3)), labels=np.arange(50) % 4)
    )
    colors = build_report(Run(run)).sections[0].colors["label"]
    assert _legend_names(colors) == ["0", "1", "2", "3"]
    forced = build_report(Run(run), color_modes={"label": "continuous"}).sections[0].colors["label"]
    assert forced["marker"]["showscale"] is True
    bad = invoke("report", run, "--color-mode", "label=rainbow", "--quiet")
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1 and "COLUMN=MODE" in bad.err


def test_dashboard_colour_by_offers_the_other_colouring(tmp_path):
    from dashboards.pages.explore import colors_of
    from dashboards.store import RunStore
    from tests.conftest import write_maps

    write_maps(write_run(tmp_path / "run", np.random.default_rng(0).normal(size=(50, 3)), labels=np.arange(50) % 4))
    data = next(iter(RunStore([tmp_path / "run"], load_model=False)))
    values = [o["value"] for o in data.color_options()]
    assert "label@continuous" in values and "label@categorical" not in values
    assert _legend_names(colors_of(data, "label", "pca")[0]) == ["0", "1", "2", "3"]
    assert colors_of(data, "label@continuous", "pca")[0]["marker"]["showscale"] is True


# -- item 5: ordinary bad input is one line and exit 2, never "unexpected" -------------------------


def assert_one_line_refusal(result, *words):
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) >= 1, result
    last = lines[-1]  # a progress bar may precede it on a terminal; the message is one line
    assert last.startswith("latentviz: error: ") and "unexpected" not in result.err, result.err
    for word in words:
        assert word in last, last


def _image_folder(path, n=3):
    from PIL import Image

    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(path / f"{i:03d}.png")
    return path


def test_npz_with_object_arrays(tmp_path):
    np.savez(tmp_path / "z.npz", z=np.array([np.zeros(3), np.zeros(2)], dtype=object))
    assert_one_line_refusal(invoke("import", tmp_path / "z.npz", "--out", tmp_path / "run"), "'z'", "Python objects")
    np.savez(
        tmp_path / "x.npz", x=np.zeros((4, 1, 32, 32), np.float32), labels=np.array(["a", 1, None, 2], dtype=object)
    )
    assert_one_line_refusal(
        invoke(
            "encode", _vae(tmp_path), "--model", VAE_FACTORY, "--data", tmp_path / "x.npz", "--out", tmp_path / "run2"
        ),
        "'labels'",
    )


def _vae(tmp_path):
    import torch

    from latentviz.models.demo_vae import DemoVAE

    path = tmp_path / "vae.pt"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(DemoVAE().state_dict(), path)
    return path


def test_factors_not_one_per_row(tmp_path):
    np.savez(tmp_path / "z.npz", z=np.zeros((10, 3), np.float32), factors=np.zeros(15))
    assert_one_line_refusal(invoke("import", tmp_path / "z.npz", "--out", tmp_path / "run"), "factors", "10 rows")


def test_corrupt_first_image_and_decompression_bomb(tmp_path, monkeypatch):
    from PIL import Image

    folder = _image_folder(tmp_path / "images")
    (folder / "000.png").write_bytes(b"not a png")
    assert_one_line_refusal(
        invoke("encode", _vae(tmp_path), "--model", VAE_FACTORY, "--data", folder, "--out", tmp_path / "a"), "000.png"
    )
    (folder / "000.png").unlink()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 32x32 > 2 x 100: Pillow's DecompressionBombError
    assert_one_line_refusal(
        invoke("encode", _vae(tmp_path), "--model", VAE_FACTORY, "--data", folder, "--out", tmp_path / "b"),
        "too large to decode safely",
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("column", ["name", "vec"])
def test_features_that_are_not_numbers(tmp_path, suffix, column):
    import pandas as pd

    frame = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0), "name": list("abcdef"), "vec": [[1.0, 2.0]] * 6})
    path = tmp_path / f"table{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    features = f"a,{column}" if suffix == ".parquet" else column  # a list column alone is a Parquet input
    assert_one_line_refusal(
        invoke(
            "encode",
            _vae(tmp_path),
            "--model",
            VAE_FACTORY,
            "--data",
            path,
            "--features",
            features,
            "--out",
            tmp_path / "run",
        ),
        f"column {column}",
        "numbers",
    )


def test_transformers_bin_with_pickled_objects(tmp_path):
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path / "bert"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "dog"]
    BertModel(
        BertConfig(
            vocab_size=len(words),
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            max_position_embeddings=16,
        )
    ).save_pretrained(folder)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}).save_pretrained(folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    torch.save(
        {"embeddings.word_embeddings.weight": torch.zeros(7, 8), "extra": _Pickled()}, folder / "pytorch_model.bin"
    )
    (tmp_path / "texts.txt").write_text("cat dog\ndog\n")
    assert_one_line_refusal(
        invoke("encode", folder, "--data", tmp_path / "texts.txt", "--out", tmp_path / "run"), "pickled Python objects"
    )


class _Pickled:
    """An object a weights-only unpickler refuses."""


def test_traverse_latents_with_nan(tmp_path, vae_run):
    import shutil

    import pandas as pd

    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    table = pd.read_parquet(run / "latents.parquet")
    table.loc[table.index[:3], "z_0"] = np.nan
    table.to_parquet(run / "latents.parquet")
    assert_one_line_refusal(invoke("traverse", run, "--trust-checkpoint", "--quiet"), "3 of 192", "NaN")


def test_output_file_that_is_a_folder(tmp_path):
    run = write_run(tmp_path / "run", np.random.default_rng(0).normal(size=(20, 3)))
    (tmp_path / "out").mkdir()
    for option in ("--junit", "--json"):
        assert_one_line_refusal(invoke("audit", run, option, tmp_path / "out"), "is a folder")


# -- item 6: library warnings and logging stay off stderr (unless --debug) -------------------------

NOISY_IMPORT = """
import logging, sys, warnings
import numpy as np
import latentviz.importer
from latentviz.cli.main import main
from latentviz.metrics import irs

real = latentviz.importer.import_latents

def noisy(*args, **kwargs):
    np.mean(np.array([]))  # numpy: RuntimeWarning, Mean of empty slice
    warnings.warn("Using a non-default pickle protocol", UserWarning)  # as torch warns
    try:
        raise RuntimeError("cannot export")
    except RuntimeError:  # torch.export's fallback: WARNING logging with a traceback
        logging.getLogger("torch._export").warning("falling back to non-strict export", exc_info=True)
    logging.getLogger("diffusers.utils").warning("An error occurred while trying to fetch x")
    irs(np.ones((20, 2)), np.arange(20)[:, None] % 2)  # ours: MetricWarning, every latent constant
    return real(*args, **kwargs)

latentviz.importer.import_latents = noisy
main(sys.argv[1:])
"""


def _noisy_import(tmp_path, *options):
    """``latentviz import`` in a fresh process (stderr as a user sees it), with library noise on its way."""
    import subprocess
    import sys

    np.save(tmp_path / "z.npy", np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32))
    return subprocess.run(
        [
            sys.executable,
            "-c",
            NOISY_IMPORT,
            *options,
            "import",
            str(tmp_path / "z.npy"),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_library_noise_is_silenced_and_ours_is_one_line(tmp_path):
    result = _noisy_import(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["latentviz: warning: irs: every latent dimension is constant; the score is 0"]


def test_debug_shows_library_noise(tmp_path):
    result = _noisy_import(tmp_path, "--debug")
    assert result.returncode == 0, result.stderr
    for text in ("Mean of empty slice", "pickle protocol", "falling back", "Traceback", "trying to fetch"):
        assert text in result.stderr, text


def test_silencing_is_undone_after_a_command(tmp_path):
    import logging
    import warnings

    np.save(tmp_path / "z.npy", np.zeros((4, 2), np.float32) + np.arange(4)[:, None])
    filters, disabled, show = list(warnings.filters), logging.root.manager.disable, warnings.showwarning
    assert invoke("import", tmp_path / "z.npy", "--out", tmp_path / "run", "--quiet").code == 0
    assert (warnings.filters, logging.root.manager.disable, warnings.showwarning) == (filters, disabled, show)


def test_hub_libraries_stay_offline(tmp_path, monkeypatch):
    import os

    from latentviz.cli.main import OFFLINE_ENV

    for key in OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    np.save(tmp_path / "z.npy", np.zeros((4, 2), np.float32) + np.arange(4)[:, None])
    assert invoke("import", tmp_path / "z.npy", "--out", tmp_path / "run", "--quiet").code == 0
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_repeated_metrics_show_their_spread(tmp_path):
    from dashboards.pages.metrics import table
    from latentviz.figures import metric_rows
    from latentviz.metrics import REGISTRY
    from latentviz.run import Run
    from reports import write_report

    run = write_run(tmp_path / "run", np.random.default_rng(0).normal(size=(30, 3)))
    metrics = {
        "consistency_prior": 0.5,
        "prior_kl": 0.1,
        "repeats": 3,
        "detail": {
            "consistency_prior": {"std": 0.0123, "values": [0.49, 0.5, 0.51]},
            "prior_kl": {"std": [1.0, 1.0, 1.0]},
        },
    }  # prior_fit's per-dimension stds, not a spread
    (run / "metrics.json").write_text(json.dumps(metrics))
    rows = {r.name: r for r in metric_rows(metrics, REGISTRY)}
    assert rows["consistency_prior"].spread == 0.0123 and rows["prior_kl"].spread is None
    html = write_report(Run(run)).read_text()
    assert "± 0.0123" in html
    assert "± 0.0123" in str(table(list(rows.values())))
