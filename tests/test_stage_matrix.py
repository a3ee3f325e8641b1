"""The stage matrix (issue #13): every way data enters a run, through every stage that follows it.

Each entry path (ENTRIES) makes one run folder, once per session, through the CLI; then each later
stage (STAGES) runs on it through the CLI too. Every cell either produces its output (the cell's
check asserts something specific about it) or refuses in one line that names why (REFUSALS holds
each expected refusal and the words its message must contain). No cell may print "unexpected".

A new entry path: add a builder to ENTRIES (tiny data, 64-200 rows). A new stage: add a function to
STAGES. Every pair becomes a cell; a pair that must refuse goes in REFUSALS with its reason.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from latentviz.run import Run
from tests.conftest import VAE_FACTORY, Result, invoke

MODELS = Path(__file__).with_name("checkpoint_models.py")
N = 96  # rows of every array entry
SHAPES = "builtin:shapes?size=32&scales=2&rotations=4&positions=2"  # 96 images with known factors
WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "red", "blue", "big", "small", "and", "home"]


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _model(name: str) -> str:
    return f"{MODELS}:{name}"


# -- entry paths: each writes its inputs into ``folder`` and returns the CLI arguments that make ``folder/run`` ------
def _import_npy(folder: Path) -> list:
    np.save(folder / "z.npy", _rng().normal(size=(N, 5)).astype(np.float32))
    return ["import", folder / "z.npy"]


def _import_npy_nan_constant(folder: Path) -> list:
    """A collapsed code: one constant dimension, and two rows holding NaN or inf."""
    z = _rng().normal(size=(N, 4)).astype(np.float32)
    z[:, 2] = 0.1
    z[5], z[40, 1] = np.nan, np.inf
    np.save(folder / "z.npy", z)
    return ["import", folder / "z.npy"]


def _import_parquet(folder: Path) -> list:
    """Labelled embeddings with string ids and metadata columns (text and integer)."""
    rng = _rng()
    labels = np.array(["cat", "dog", "bird"])[np.arange(N) % 3]
    table = pd.DataFrame(
        {
            "id": [f"item-{i:03d}" for i in range(N)],
            "label": labels,
            "source": np.where(np.arange(N) % 2, "web", "book"),
            "count": np.arange(N) % 7,
        }
    )
    for j in range(6):
        table[f"e{j}"] = (rng.normal(size=N) + (np.arange(N) % 3 == j % 3)).astype(np.float32)
    table.to_parquet(folder / "table.parquet")
    return ["import", folder / "table.parquet"]


def _encode_vae(folder: Path) -> list:
    from latentviz.models.demo_vae import DemoVAE

    torch.manual_seed(0)
    torch.save(DemoVAE().state_dict(), folder / "vae.pt")
    return ["encode", folder / "vae.pt", "--model", VAE_FACTORY, "--data", SHAPES, "--device", "cpu"]


def _features(folder: Path) -> Path:
    np.save(folder / "x.npy", _rng().normal(size=(N, 6)).astype(np.float32))
    return folder / "x.npy"


def _encode_autoencoder(folder: Path) -> list:
    return ["encode", _model("make_AttributeAutoencoder"), "--data", _features(folder), "--device", "cpu"]


def _encode_classifier_layer(folder: Path) -> list:
    """A classifier's hooked ``features`` layer on a labelled table (--features names the inputs)."""
    x = _rng().normal(size=(N, 6)).astype(np.float32)
    table = pd.DataFrame({f"f{j}": x[:, j] for j in range(6)})
    table["label"] = (x[:, 0] > 0).astype(int)
    table.to_parquet(folder / "table.parquet")
    return [
        "encode",
        _model("make_Classifier"),
        "--layer",
        "features",
        "--data",
        folder / "table.parquet",
        "--features",
        ",".join(f"f{j}" for j in range(6)),
        "--device",
        "cpu",
    ]


def _encode_spatial(folder: Path) -> list:
    np.save(folder / "images.npy", _rng().random(size=(N, 1, 6, 6)).astype(np.float32))
    return ["encode", _model("make_SpatialAutoencoder"), "--data", folder / "images.npy", "--device", "cpu"]


def _encode_text(folder: Path) -> list:
    """A transformers folder: a random BERT from a config and a WordPiece tokenizer trained by ``tokenizers``."""
    from ecosystem_models import tiny_bert

    rng = _rng()
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(2, 7))) for _ in range(N)]
    fast, bert = tiny_bert(texts, vocab_size=60, hidden_size=8, max_positions=32)
    bert.save_pretrained(folder / "bert")
    fast.save_pretrained(folder / "bert")
    pd.DataFrame({"sentence": texts, "label": ["cat" in t for t in texts]}).to_csv(folder / "texts.csv", index=False)
    return ["encode", folder / "bert", "--data", folder / "texts.csv", "--text-column", "sentence", "--device", "cpu"]


def _sample_generator(folder: Path) -> list:
    return ["sample", _model("make_Generator"), "--latent-dim", "3", "--n", str(N), "--device", "cpu"]


#: entry name -> (builder, the run's kind in its manifest)
ENTRIES: dict[str, tuple[Callable[[Path], list], str]] = {
    "import-npy": (_import_npy, "imported"),
    "import-npy-nan-constant": (_import_npy_nan_constant, "imported"),
    "import-parquet": (_import_parquet, "imported"),
    "encode-vae": (_encode_vae, "vae"),
    "encode-autoencoder": (_encode_autoencoder, "autoencoder"),
    "encode-classifier-layer": (_encode_classifier_layer, "feature_extractor"),
    "encode-spatial": (_encode_spatial, "autoencoder"),
    "encode-text": (_encode_text, "embedding"),
    "sample-generator": (_sample_generator, "generator"),
}

#: entries whose codes hold rows of NaN or inf: how many (the stages leave those rows out or mark them)
NONFINITE_ROWS = {"import-npy-nan-constant": 2}
#: (entry, stage) -> words the one-line refusal must contain: the cells where refusing is correct.
NO_DECODER = "traversals need a run made by 'latentviz encode' or 'latentviz sample' with a model that decodes"
REFUSALS: dict[tuple[str, str], str] = {
    ("import-npy", "traverse"): NO_DECODER,
    ("import-npy-nan-constant", "traverse"): NO_DECODER,
    ("import-parquet", "traverse"): NO_DECODER,
    ("encode-classifier-layer", "traverse"): NO_DECODER,
    ("encode-text", "traverse"): NO_DECODER,
    **{
        (name, "drift"): "records no checkpoint or model-code sha256"  # imported latents name no model
        for name in ("import-npy", "import-npy-nan-constant", "import-parquet")
    },
}


class Built:
    """One entry's run folder, built once with the entry command, ``project`` and ``metrics``."""

    def __init__(self, name: str, root: Path):
        builder, self.kind = ENTRIES[name]
        self.name, self.root = name, root
        self.run = root / "run"
        self.results = {"entry": invoke(*builder(root), "--out", self.run, "--quiet")}
        if self.results["entry"].code == 0:
            self.results["project"] = invoke("project", self.run, "--quiet", "--k", "10", "--device", "cpu")
            self.results["metrics"] = invoke("metrics", self.run, "--quiet", "--device", "cpu")

    def copy(self, to: Path, **manifest) -> Path:
        """A copy of the run folder (a stage that rewrites the run works on it), its manifest updated."""
        shutil.copytree(self.run, to)
        if manifest:
            Run(to).update_manifest(**manifest)
        return to


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Callable[[str], Built]:
    cache: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            cache[name] = Built(name, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


def _finite_numbers(values: dict) -> dict:
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


# -- stages: each runs on a built entry and returns the CLI result, having asserted its output when it succeeds -------
def stage_entry(b: Built, tmp: Path) -> Result:
    result = b.results["entry"]
    if result.code == 0:
        run = Run(b.run)
        assert run.manifest["complete"] and run.manifest["kind"] == b.kind
        assert len(run.ids) == len(run.z) == N
        assert (~np.isfinite(run.z).all(axis=1)).sum() == NONFINITE_ROWS.get(b.name, 0)
        assert len(set(run.ids)) == N
    return result


def stage_project(b: Built, tmp: Path) -> Result:
    result = b.results["project"]
    if result.code == 0:
        table = pd.read_parquet(b.run / "projections.parquet")
        assert len(table) == N and table["id"].tolist() == list(Run(b.run).ids)
        finite = np.isfinite(Run(b.run).z).all(axis=1)
        for method in ("pca", "tsne", "umap"):  # rows of NaN codes have no place on a map
            placed = np.isfinite(table[[f"{method}_0", f"{method}_1"]].to_numpy()).all(axis=1)
            assert (placed == finite).all(), method
    return result


def stage_metrics(b: Built, tmp: Path) -> Result:
    result = b.results["metrics"]
    if result.code == 0:
        metrics = json.loads((b.run / "metrics.json").read_text())
        numbers = _finite_numbers(metrics)
        assert {"effective_rank", "active_units", "mutual_info_score"} <= set(numbers)
        if b.name == "import-npy-nan-constant":  # a constant latent: N(mean, Sigma) is degenerate, KL infinite
            assert metrics["prior_kl"] is None and "singular" in " ".join(metrics["detail"]["prior_kl"]["caveats"])
        assert all(np.isfinite(v) for k, v in numbers.items() if k != "total_correlation"), numbers
        round_trip = b.kind in ("vae", "autoencoder")  # consistency: encode(decode(z))
        assert ("consistency" in numbers) == round_trip, metrics["skipped"]
        assert ("mig" in numbers) == (b.name == "encode-vae"), metrics["skipped"]
        has_labels = b.name in ("import-parquet", "encode-classifier-layer", "encode-text", "encode-vae")
        assert ("linear_probe_accuracy" in numbers) == has_labels, metrics["skipped"]
    return result


def stage_metrics_repeats(b: Built, tmp: Path) -> Result:
    from latentviz.metrics import REGISTRY

    run = b.copy(tmp / "run")
    result = invoke("metrics", run, "--quiet", "--device", "cpu", "--repeats", "3")
    if result.code == 0:
        metrics = json.loads((run / "metrics.json").read_text())
        stochastic = [k for k in _finite_numbers(metrics) if k in REGISTRY and REGISTRY[k].stochastic]
        for name in stochastic:  # every stochastic metric carries mean +- sd over the three seeds
            detail = metrics["detail"][name]
            assert len(detail["values"]) == 3 and np.isfinite(detail["std"]), name
            assert metrics[name] == pytest.approx(np.mean(detail["values"])), name
    return result


def stage_cluster(b: Built, tmp: Path) -> Result:
    run = b.copy(tmp / "run")
    result = invoke("cluster", run, "--quiet")
    if result.code == 0:  # every row has a cluster or is an outlier; non-finite rows are outliers
        table = pd.read_parquet(run / "clusters.parquet")
        assert table["id"].tolist() == list(Run(run).ids)
        finite = np.isfinite(Run(run).z).all(axis=1)
        assert (table["cluster"][~finite] == -1).all() and (table["outlier"] == (table["cluster"] < 0)).all()
        facts = json.loads((run / "clusters.json").read_text())
        assert sum(c["size"] for c in facts["clusters"]) + facts["n_outliers"] == finite.sum()
    return result


def stage_drift(b: Built, tmp: Path) -> Result:
    other = b.copy(tmp / "other")
    result = invoke("drift", b.run, other, "--permutations", "20", "--quiet")
    if result.code == 0:  # a run and its copy: the same codes, no score past its threshold, no dimension named
        drift = json.loads((other / "drift.json").read_text())
        assert not any(drift["drifted"].values()) and drift["ks"]["flagged"] == [], drift["scores"]
    return result


def stage_traverse(b: Built, tmp: Path) -> Result:
    run = b.copy(tmp / "run")
    result = invoke("traverse", run, "--quiet", "--device", "cpu", "--samples", "2", "--steps", "3", "--no-gif")
    if result.code == 0:
        listing = json.loads((run / "traversals" / "traversals.json").read_text())["files"]
        assert listing and all((run / "traversals" / entry["file"]).is_file() for entry in listing)
    return result


def stage_report(b: Built, tmp: Path) -> Result:
    result = invoke("report", b.run, "--out", tmp / "report.html", "--quiet")
    if result.code == 0:  # the metrics table shows every metric of metrics.json, and the samples are there
        from bs4 import BeautifulSoup

        html = (tmp / "report.html").read_text()
        rows = BeautifulSoup(html, "html.parser").select("table.metrics tbody tr")
        shown = {row.find("code").get_text() for row in rows if row.find("code")}
        metrics = json.loads((b.run / "metrics.json").read_text())
        nulls = {k for k, v in metrics.items() if v is None}  # NaN or inf: JSON has no such numbers (a dash)
        assert shown == set(_registry_values(b)) | nulls, (set(_registry_values(b)) | nulls) ^ shown
        assert Run(b.run).ids[0] in html
    return result


def _registry_values(b: Built) -> dict:
    from latentviz.metrics import REGISTRY

    metrics = json.loads((b.run / "metrics.json").read_text())
    return {k: v for k, v in _finite_numbers(metrics).items() if k in REGISTRY}


def stage_audit(b: Built, tmp: Path) -> Result:
    result = invoke("audit", b.run, "--json", tmp / "audit.json")
    if result.code in (0, 1):  # 1: a check failed, an answer of the audit, not an error
        audit = json.loads((tmp / "audit.json").read_text())
        policy = {"vae": "VAEs", "autoencoder": "autoencoders", "generator": "generators"}  # by the run's kind
        assert audit["results"]
        assert audit["policy_name"] == f"latentviz default for {policy.get(b.kind, 'embeddings and features')}"
        assert all(r["status"] in ("pass", "fail", "warn", "skip") for r in audit["results"])
        values = _registry_values(b)
        for r in audit["results"]:  # a metric of metrics.json is checked on its number there
            if r["metric"] in values:
                assert r["value"] == values[r["metric"]], r
            elif not r["metric"].startswith("projection_trustworthiness"):  # from the manifest
                assert r["status"] == "skip", r
        assert result.code == (1 if audit["counts"]["fail"] else 0)
    return result


def _export_table(fmt: str, read: Callable[[Path], pd.DataFrame]) -> Callable[[Built, Path], Result]:
    def stage(b: Built, tmp: Path) -> Result:
        out = tmp / f"export.{fmt}"
        result = invoke("export", b.run, out, "--format", fmt)
        if result.code == 0:
            table = read(out)
            run = Run(b.run)
            assert table["id"].astype(str).tolist() == list(run.ids)
            np.testing.assert_allclose(table[[f"z_{j}" for j in range(run.z.shape[1])]], run.z, rtol=1e-6)
            assert {"pca_0", "tsne_1", "umap_1"} <= set(table.columns)
        return result

    return stage


def stage_export_tensorboard(b: Built, tmp: Path) -> Result:
    out = tmp / "tensorboard"
    result = invoke("export", b.run, out, "--format", "tensorboard")
    if result.code == 0:
        z = Run(b.run).z
        finite = np.isfinite(z).all(axis=1)  # the projector cannot place a row of NaN: such rows are left out
        tensors = np.loadtxt(out / "tensors.tsv", delimiter="\t", ndmin=2)
        np.testing.assert_allclose(tensors, z[finite], rtol=1e-5, atol=1e-6)
        assert len((out / "metadata.tsv").read_text().splitlines()) - finite.sum() in (0, 1)  # a header or none
        left_out = NONFINITE_ROWS.get(b.name, 0)
        assert (f"export: left out {left_out} of {N} rows" in result.err) == bool(left_out), result.err
        assert list(out.glob("events.out.tfevents.*"))
        has_images = b.name in ("encode-vae", "encode-spatial")  # image inputs: the run has thumbnails
        assert ("sprite" in (out / "projector_config.pbtxt").read_text()) == has_images
    return result


def stage_compare_pair(b: Built, tmp: Path) -> Result:
    other = b.copy(tmp / "other")
    result = invoke("compare", b.run, other, "--out", tmp / "compare.html", "--permutations", "2", "--quiet")
    if result.code == 0:  # a run and its copy: identical codes, linear CKA 1 and Procrustes distance 0
        from bs4 import BeautifulSoup

        soup = BeautifulSoup((tmp / "compare.html").read_text(), "html.parser")
        table = next(t for t in soup.find_all("table") if "linear CKA" in t.get_text())
        head, row = (
            [" ".join(c.get_text(" ").split()) for c in tr.find_all(["th", "td"])] for tr in table.find_all("tr")[:2]
        )
        cells = dict(zip(head, row, strict=True))
        assert cells["Runs"] == "run vs other"
        assert cells["linear CKA"].startswith("1.000") and cells["Procrustes distance"].startswith("0.000"), cells
    return result


def stage_compare_series(b: Built, tmp: Path) -> Result:
    runs = [b.copy(tmp / f"epoch{step}", step=step) for step in (30, 10, 20)]
    result = invoke("compare", *runs, "--order", "step", "--out", tmp / "series.html", "--permutations", "2", "--quiet")
    if result.code == 0:
        html = (tmp / "series.html").read_text()
        assert html.index("epoch10") < html.index("epoch20") < html.index("epoch30")
    return result


STAGES: dict[str, Callable[[Built, Path], Result]] = {
    "entry": stage_entry,
    "project": stage_project,
    "metrics": stage_metrics,
    "metrics-repeats": stage_metrics_repeats,
    "cluster": stage_cluster,
    "drift": stage_drift,
    "traverse": stage_traverse,
    "report": stage_report,
    "audit": stage_audit,
    "export-csv": _export_table("csv", lambda path: pd.read_csv(path, dtype={"id": str})),
    "export-parquet": _export_table("parquet", pd.read_parquet),
    "export-tensorboard": stage_export_tensorboard,
    "compare-pair": stage_compare_pair,
    "compare-series": stage_compare_series,
}


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_cell(built, tmp_path, entry, stage):
    result = STAGES[stage](built(entry), tmp_path)
    assert "unexpected" not in result.err.lower(), result.err
    refusal = REFUSALS.get((entry, stage))
    if refusal is None:
        assert result.code in (0, 1) if stage == "audit" else result.code == 0, result.err
        quiet = "" if result.code == 0 else f"latentviz: error: audit of {built(entry).run}: "
        assert result.err.startswith(quiet) and result.err.count("\n") <= 1, result.err  # no library warnings
    else:
        assert result.code == 2, result.out
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("latentviz: error: ") and refusal in lines[0], result.err
