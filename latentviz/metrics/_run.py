"""The ``metrics`` stage: every metric that applies to a run, written to ``metrics.json``.

Disentanglement scores use the reference's sample sizes (10000 training and 5000 test codes,
drawn with the seed); neighbourhood scores use a sample of at most 10000 points; per-dimension
statistics use every code. Metrics that cannot run say why in one line and land in ``skipped``.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from latentviz._validation import check_random_state
from latentviz.errors import InputError, LatentvizError, UnsafeCheckpointError
from latentviz.metrics._registry import REGISTRY

N_TRAIN, N_TEST = 10000, 5000
NEIGHBOUR_SAMPLE = 10000
INPUT_PCA_DIMS = 50
DECODER_SAMPLE = 1000
N_PATHS, PATH_STEPS = 64, 10


def compute_run_metrics(run, *, seed: int = 0, repeats: int = 1, quiet: bool = False, device: str = "auto",
                        trust_checkpoint: bool = False) -> dict:
    """Compute every applicable metric of ``run``, write ``metrics.json`` and return its content.

    Parameters
    ----------
    run : latentviz.run.Run
        A complete run folder.
    seed : int, default=0
        Seeds every sample, split and draw.
    repeats : int, default=1
        Stochastic metrics are computed with seeds ``seed .. seed + repeats - 1``; the flat
        value is the mean and ``detail[name]`` holds the ``std`` and the ``values``.
    quiet : bool, default=False
        No status lines.
    device : str, default="auto"
        Where the model reloads for the decoder metrics and fresh shapes batches (CUDA, then
        MPS, then CPU for ``"auto"``).
    trust_checkpoint : bool, default=False
        Reload the run's model and dataset callable even where they run code that this machine
        has no record of its user running for this run (see :mod:`latentviz.trust`); without
        it such metrics are skipped with the reason.

    Returns
    -------
    dict
        Flat metric names (see :data:`latentviz.metrics.REGISTRY`) with ``detail``, ``timings``
        (seconds per metric group), ``skipped`` (name -> reason), ``seed`` and ``repeats``.
    """
    from latentviz.progress import progress, say
    from latentviz.run import METRICS, write_json

    if int(repeats) < 1:
        raise InputError(f"--repeats must be a positive integer; got {repeats}")
    started = time.perf_counter()
    with run.stage("metrics") as stage:  # held throughout: metrics.json and the manifest's entry land together
        ctx = _RunData(run, seed, device, trust_checkpoint)
        out = {"detail": {}, "timings": {}, "skipped": {}, "seed": int(seed), "repeats": int(repeats)}
        if ctx.nonfinite:
            out["detail"]["nonfinite_rows"] = ctx.nonfinite
        with progress(total=len(_TASKS), desc="metrics", unit="metric", quiet=quiet) as bar:
            for names, needs, task in _TASKS:
                bar.set_description_str(f"metrics: {names[0]}")
                reason = needs(ctx)
                if reason is None:
                    t0 = time.perf_counter()
                    try:
                        _run_task(out, names, task, ctx, seed, repeats)
                    except LatentvizError as exc:
                        reason = str(exc)
                    out["timings"][names[0]] = round(time.perf_counter() - t0, 4)
                if reason is not None:
                    for name in names:
                        out["skipped"][name] = reason
                    say(f"metrics: skipped {', '.join(names)}: {reason}", quiet=quiet)
                bar.update()
        write_json(stage.path(METRICS), out)
        stage.record_stage(time.perf_counter() - started, seed=int(seed), repeats=int(repeats))
    return out


def _run_task(out: dict, names, task, ctx, seed: int, repeats: int) -> None:
    """Run ``task`` once, or ``repeats`` times with seeds ``seed + r`` when any of its metrics is stochastic.

    Each stochastic name gets the mean and ``detail[name]["std"]``/``["values"]``; a deterministic
    name sharing the task keeps its first value.
    """
    stochastic = {name for name in names if REGISTRY[name].stochastic}
    runs = []
    for r in range(repeats if stochastic else 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values, detail = task(ctx, seed + r)
        runs.append((values, detail, sorted({str(w.message) for w in caught})))
    values, detail, caveats = runs[0]
    for name in names:
        series = [v[name] for v, _, _ in runs] if name in stochastic else [values[name]]
        out[name] = series[0] if len(series) == 1 else float(np.mean(series))
        entry = dict(detail) if name == names[0] else {}
        if len(series) > 1:
            entry.update(std=float(np.std(series, ddof=1)), values=series)
        if caveats and name == names[0]:
            entry["caveats"] = caveats
        if entry:
            out["detail"][name] = entry


class _RunData:
    """The run's arrays, loaded and sampled once, lazily."""

    def __init__(self, run, seed: int, device: str = "auto", trust_checkpoint: bool = False):
        self.run = run
        self.seed = seed
        self.device = device
        self.trust_checkpoint = trust_checkpoint
        z = np.asarray(run.z, dtype=np.float64)
        self.finite = np.isfinite(z).all(axis=1)
        self.nonfinite = int((~self.finite).sum())
        self.z = z[self.finite]
        self.logvar = None if run.logvar is None else np.asarray(run.logvar, np.float64)[self.finite]
        self.factors = None if run.factors is None else np.asarray(run.factors)[self.finite]
        self.labels = None if run.labels is None else np.asarray(run.labels)[self.finite]
        self.ids = np.asarray(run.ids)[self.finite]
        self._splits: dict = {}

    @property
    def split(self):
        """(train rows, test rows) drawn with the run's seed: the split of the deterministic metrics."""
        return self.split_for(self.seed)

    def split_for(self, seed: int):
        """(train rows, test rows) of the reference's sizes, or 2/3 : 1/3 of a smaller run, drawn with ``seed``.

        A repeat of a split-based metric (SAP, DCI, explicitness) draws its own split, so its
        spread covers the choice of the evaluation sample, not only the classifier's randomness.
        """
        if seed not in self._splits:
            n = len(self.z)
            order = check_random_state(seed).permutation(n)
            n_train = min(N_TRAIN, max(1, int(round(n * 2 / 3))))
            self._splits[seed] = order[:n_train], order[n_train:n_train + N_TEST]
        return self._splits[seed]

    @functools.cached_property
    def data_spec(self) -> str:
        return str((self.run.manifest.get("data") or {}).get("spec") or "")

    @functools.cached_property
    def model(self):
        """(LatentModel or None, reason when None)."""
        if not self.run.manifest.get("model"):
            return None, "the run has no model (imported latents)"
        try:
            model = self.run.load_model(device=self.device, trust_checkpoint=self.trust_checkpoint)
        except UnsafeCheckpointError as exc:  # it would run code that neither the flag nor the record allows
            return None, str(exc)
        except LatentvizError as exc:
            return None, f"the model could not be reloaded ({exc})"
        if model is None or not model.has_decoder:
            return None, "the model has no decoder"
        return model, None

    @functools.cached_property
    def source(self):
        from latentviz.data import open_source
        from latentviz.trust import check_data

        if not self.data_spec:
            raise InputError("the run records no data source")
        check_data(self.run.manifest.get("data"), trust_checkpoint=self.trust_checkpoint)
        recorded = self.run.manifest.get("data") or {}  # the --image-size and --channels the run was encoded with
        return open_source(self.data_spec, image_size=recorded.get("image_size"), channels=recorded.get("channels"))

    @functools.cached_property
    def neighbour_rows(self) -> np.ndarray:
        n = len(self.z)
        if n <= NEIGHBOUR_SAMPLE:
            return np.arange(n)
        return np.sort(check_random_state(self.seed).choice(n, NEIGHBOUR_SAMPLE, replace=False))

    def raw_inputs(self, rows: np.ndarray) -> np.ndarray:
        """Inputs of the given (finite) rows as float arrays, read from the run's data source."""
        positions = np.flatnonzero(self.finite)[rows]
        source = self.source
        batches = []
        for start in range(0, len(positions)):
            x = source.read(int(positions[start]), int(positions[start]) + 1).x
            if isinstance(x, dict) or not hasattr(x, "shape"):
                raise InputError("the inputs are not arrays (text or dict inputs)")
            batches.append(np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64))
        return np.concatenate(batches)

    @functools.cached_property
    def input_space(self) -> np.ndarray:
        """Flattened inputs of the neighbour sample, reduced to 50 PCA dimensions when wider."""
        from sklearn.decomposition import PCA

        x = self.raw_inputs(self.neighbour_rows).reshape(len(self.neighbour_rows), -1)
        if x.shape[1] > INPUT_PCA_DIMS:
            x = PCA(INPUT_PCA_DIMS, random_state=0).fit_transform(x)
        return x

    @functools.cached_property
    def latent_graph(self):
        """The run's neighbours.npz restricted to the sample when it covers every point, else None."""
        from latentviz.neighbors import Neighbors
        from latentviz.run import NEIGHBORS

        if len(self.neighbour_rows) != len(self.z) or self.nonfinite or not self.run.has(NEIGHBORS):
            return None
        try:
            return Neighbors.load(self.run.file(NEIGHBORS), n=len(self.z))
        except InputError:
            return None

    def sampler(self):
        """Grid sampler over the built-in shapes (the reference protocol) when possible, else rows."""
        from latentviz.metrics._sampling import GridSampler, RowSampler

        train = self.split[0]
        rows = RowSampler(self.z[train], self.factors[train])
        if not self.data_spec.startswith("builtin:shapes"):
            return rows, "batches drawn from rows sharing the factor value"
        source = self.source
        lookup = {}
        for i, key in enumerate(self.ids):
            if key.isdigit():
                lookup[int(key)] = i
        model, _ = self.model
        grid_size = int(np.prod(source.factor_sizes))
        if len(lookup) < grid_size and model is None:
            return rows, "batches drawn from rows sharing the factor value (the run covers part of the grid, no model)"

        def encode(factors):
            index = source.index_of(factors)
            out = np.empty((len(index), self.z.shape[1]))
            missing = []
            for j, g in enumerate(index):
                if int(g) in lookup:
                    out[j] = self.z[lookup[int(g)]]
                else:
                    missing.append(j)
            if missing:
                import torch

                with torch.inference_mode():
                    x = torch.from_numpy(source.conform(source.render(factors[missing])))
                    out[missing] = model.encode(x.to(model.device))[0].float().cpu().numpy()
            return out

        return GridSampler(source.sample_factors, encode, len(source.factor_sizes)), "fresh fixed-factor batches of builtin:shapes"


# -- requirements ---------------------------------------------------------------------------------

def _needs_factors(ctx):
    if ctx.factors is None:
        return "the run has no ground-truth factors"
    if len(ctx.z) < 10:
        return f"needs at least 10 samples; the run has {len(ctx.z)}"
    return None


def _needs_two_dims(ctx):
    return _needs_factors(ctx) or (None if ctx.z.shape[1] >= 2 else "needs at least 2 latent dimensions")


def _always(ctx):
    return None if len(ctx.z) >= 3 else f"needs at least 3 samples; the run has {len(ctx.z)}"


def _needs_two_dims_only(ctx):
    return _always(ctx) or (None if ctx.z.shape[1] >= 2 else "needs at least 2 latent dimensions")


def _needs_logvar(ctx):
    return None if ctx.logvar is not None else "the model gives no log variances"


def _needs_labels(ctx):
    if ctx.labels is None:
        return "the run has no labels"
    if len(np.unique(ctx.labels.astype(str))) < 2:
        return "the labels have a single class"
    return None


def _needs_inputs(ctx):
    try:
        ctx.input_space
    except LatentvizError as exc:
        return f"the inputs cannot be read ({exc})"
    except Exception as exc:  # a data source that fails to reopen: skip, say why
        return f"the inputs cannot be read ({type(exc).__name__}: {exc})"
    return None


def _needs_decoder(ctx):
    return ctx.model[1]


def _needs_decoder_and_inputs(ctx):
    return _needs_decoder(ctx) or _needs_inputs(ctx)


# -- tasks: (ctx, seed) -> ({flat name: value}, detail) -------------------------------------------

def _train(ctx, seed=None):
    rows = (ctx.split if seed is None else ctx.split_for(seed))[0]
    return ctx.z[rows], ctx.factors[rows]


def _test(ctx, seed=None):
    rows = (ctx.split if seed is None else ctx.split_for(seed))[1]
    return ctx.z[rows], ctx.factors[rows]


def _beta_vae(ctx, seed):
    from latentviz.metrics._sampling import beta_vae_from_sampler

    sampler, how = ctx.sampler()
    scores = beta_vae_from_sampler(sampler, check_random_state(seed))
    return {"beta_vae": scores["eval_accuracy"]}, {"train_accuracy": scores["train_accuracy"], "protocol": how}


def _factor_vae(ctx, seed):
    from latentviz.metrics._sampling import factor_vae_from_sampler

    sampler, how = ctx.sampler()
    scores = factor_vae_from_sampler(sampler, check_random_state(seed))
    return {"factor_vae": scores["eval_accuracy"]}, {"train_accuracy": scores["train_accuracy"],
                                                     "num_active_dims": scores["num_active_dims"], "protocol": how}


def _mig(ctx, seed):
    from latentviz.metrics._binning import discrete_mutual_info, discretize, entropy
    from latentviz.metrics._mig import _mean_over_informative, _mig_per_factor

    z, f = _train(ctx)
    mi = discrete_mutual_info(discretize(z), f)
    factor_entropy = entropy(f)
    per_factor = _mig_per_factor(mi, factor_entropy)
    return ({"mig": _mean_over_informative(per_factor, whom="mig")},
            {"per_factor": [None if np.isnan(v) else float(v) for v in per_factor], "mutual_info_matrix": mi,
             "factor_entropy": factor_entropy})


def _dci(ctx, seed):
    from latentviz.metrics._dci import dci_detail

    z, f = _train(ctx, seed)
    zt, ft = _test(ctx, seed)
    d = dci_detail(z, f, z_test=zt if len(zt) else None, factors_test=ft if len(zt) else None, seed=seed)
    return ({"dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
             "dci_informativeness": d["informativeness_test"]},
            {"importance_matrix": d["importance_matrix"], "per_latent": d["disentanglement_per_latent"],
             "per_factor_completeness": d["completeness_per_factor"],
             "per_factor_informativeness": d["informativeness_test_per_factor"],
             "informativeness_train": d["informativeness_train"]})


def _sap(ctx, seed):
    from latentviz.metrics._sap import sap_matrix

    z, f = _train(ctx, seed)
    zt, ft = _test(ctx, seed)
    matrix, score, gaps = sap_matrix(z, f, z_test=zt if len(zt) else None, factors_test=ft if len(zt) else None,
                                     seed=seed)
    return {"sap": score}, {"score_matrix": matrix, "per_factor": gaps}


def _modularity(ctx, seed):
    from latentviz.metrics._binning import discrete_mutual_info, discretize
    from latentviz.metrics._modularity import _modularity_per_latent

    z, f = _train(ctx)
    per_latent = _modularity_per_latent(discrete_mutual_info(discretize(z), f))
    return {"modularity": float(per_latent.mean())}, {"per_latent": per_latent}


def _explicitness(ctx, seed):
    from latentviz.metrics._modularity import _explicitness_detail

    z, f = _train(ctx, seed)
    zt, ft = _test(ctx, seed)
    d = _explicitness_detail(z, f, zt if len(zt) else None, ft if len(zt) else None, seed)
    return {"explicitness": d.pop("explicitness")}, d


def _irs(ctx, seed):
    from latentviz.metrics._irs import irs

    z, f = _train(ctx)
    return {"irs": irs(z, f)}, {}


def _total_correlation(ctx, seed):
    from latentviz.metrics._unsupervised import total_correlation

    value = total_correlation(ctx.z[ctx.split[0]])
    return {"total_correlation": value}, ({"why_inf": "the covariance is singular (duplicate or dependent latents)"}
                                          if np.isinf(value) else {})


def _wasserstein(ctx, seed):
    from latentviz.metrics._unsupervised import gaussian_wasserstein_correlation

    z = ctx.z[ctx.split[0]]
    return ({"gaussian_wasserstein_correlation": gaussian_wasserstein_correlation(z)},
            {"normalized": gaussian_wasserstein_correlation(z, normalize=True)})


def _mi_score(ctx, seed):
    from latentviz.metrics._unsupervised import mutual_info_score

    return {"mutual_info_score": mutual_info_score(ctx.z[ctx.split[0]])}, {}


def _active_units(ctx, seed):
    from latentviz.metrics._regularity import active_units

    d = active_units(ctx.z)
    return {"active_units": d["count"], "active_units_fraction": d["fraction"]}, {"variance": d["variance"]}


def _kl(ctx, seed):
    from latentviz.metrics._regularity import collapsed_dims, kl_per_dim

    kl = kl_per_dim(ctx.z, ctx.logvar)
    collapsed = collapsed_dims(kl)
    return ({"kl_total": float(kl.sum()), "collapsed_units": int(collapsed.sum())},
            {"kl_per_dim": kl, "collapsed": collapsed.tolist()})


def _prior(ctx, seed):
    from latentviz.metrics._regularity import prior_fit

    d = prior_fit(ctx.z)
    return {"prior_kl": d.pop("kl"), "prior_ks_max": d.pop("ks_max")}, d


def _neighbourhood(ctx, seed):
    from latentviz.metrics._neighborhood import continuity, knn_preservation, trustworthiness

    x, z = ctx.input_space, ctx.z[ctx.neighbour_rows]
    k = min(10, (len(z) - 1) // 2)
    return ({"trustworthiness": trustworthiness(x, z, k, neighbors=ctx.latent_graph), "continuity": continuity(x, z, k),
             "knn_preservation": knn_preservation(x, z, k)},
            {"k": k, "n_points": len(z), "input_dims": x.shape[1]})


def _intrinsic(ctx, seed):
    from latentviz.metrics._regularity import intrinsic_dimension

    z = ctx.z[ctx.neighbour_rows]
    return {"intrinsic_dimension": intrinsic_dimension(z, neighbors=ctx.latent_graph)}, {"n_points": len(z)}


def _effective_rank(ctx, seed):
    from latentviz.metrics._regularity import effective_rank

    return {"effective_rank": effective_rank(ctx.z)}, {}


def _correlation(ctx, seed):
    from latentviz.metrics._regularity import latent_correlation

    corr = latent_correlation(ctx.z)
    off = ~np.eye(len(corr), dtype=bool)
    return {"mean_abs_correlation": float(np.abs(corr[off]).mean())}, {"matrix": corr}


def _model_calls(ctx):
    import torch

    model = ctx.model[0]

    def encode(x):
        with torch.inference_mode():
            return model.encode(torch.as_tensor(np.asarray(x), dtype=torch.float32, device=model.device))[0].float().cpu().numpy()

    def decode(z):
        with torch.inference_mode():
            return model.decode(torch.as_tensor(np.asarray(z), dtype=torch.float32, device=model.device)).float().cpu().numpy()

    return model, encode, decode


def _reconstruction(ctx, seed):
    from latentviz.metrics._decoder import reconstruction_error

    _, _, decode = _model_calls(ctx)
    rows = ctx.neighbour_rows[:DECODER_SAMPLE]
    x = ctx.raw_inputs(rows)
    x_hat = decode(ctx.z[rows])
    if x_hat.size != x.size:
        raise InputError(f"the decoder's outputs {x_hat.shape[1:]} do not match the inputs {x.shape[1:]}")
    d = reconstruction_error(x.reshape(len(x), -1), x_hat.reshape(len(x), -1))
    per_sample = d.pop("per_sample")
    return {"reconstruction_error": d.pop("mean")}, {**d, "n_samples": len(per_sample)}


def _consistency(ctx, seed):
    from latentviz.metrics._decoder import consistency

    model, encode, decode = _model_calls(ctx)
    rs = check_random_state(seed)
    rows = rs.choice(len(ctx.z), min(DECODER_SAMPLE, len(ctx.z)), replace=False)
    data = consistency(ctx.z[rows], encode, decode)
    prior = consistency(rs.randn(min(DECODER_SAMPLE, len(ctx.z)), ctx.z.shape[1]), encode, decode)
    return {"consistency": data, "consistency_prior": prior}, {"n_samples": len(rows)}


def _interpolation(ctx, seed):
    """Smoothness of the traversal stage's decoded paths (``traversals/paths.npz``), else of new ones."""
    from latentviz.metrics._decoder import _smoothness_from_steps, interpolation_smoothness
    from latentviz.traversal import load_paths

    shared = load_paths(ctx.run)
    if shared is not None and "lerp_step_sizes" in shared and shared["lerp_step_sizes"].shape[1] >= 2:
        _, _, decode = _model_calls(ctx)
        outputs = shared.get("lerp_outputs")
        n_values = int(np.prod(outputs.shape[2:])) if outputs is not None else int(decode(ctx.z[:1]).size)
        d = _smoothness_from_steps(shared["lerp_step_sizes"], n_values)
        source = "traversals/paths.npz (lerp)"
        n_paths, steps = shared["lerp_step_sizes"].shape[0], shared["lerp_step_sizes"].shape[1] + 1
    else:
        _, _, decode = _model_calls(ctx)
        rs = check_random_state(seed)
        pairs = rs.randint(len(ctx.z), size=(N_PATHS, 2))
        t = np.linspace(0.0, 1.0, PATH_STEPS)[None, :, None]
        path_codes = ctx.z[pairs[:, 0]][:, None] * (1 - t) + ctx.z[pairs[:, 1]][:, None] * t
        decoded = decode(path_codes.reshape(-1, ctx.z.shape[1]))
        d = interpolation_smoothness(decoded.reshape(N_PATHS, PATH_STEPS, -1))
        source, n_paths, steps = "decoded here (no traversals/paths.npz)", N_PATHS, PATH_STEPS
    return ({"interpolation_smoothness": d["smoothness"], "path_length": d["path_length"]},
            {"n_paths": n_paths, "steps": steps, "paths": source, "per_path": d["per_path"]})


def _linear_probe(ctx, seed):
    from latentviz.metrics._labels import linear_probe_accuracy

    return {"linear_probe_accuracy": linear_probe_accuracy(ctx.z, ctx.labels.astype(str), seed=seed)}, {}


def _knn_accuracy(ctx, seed):
    from latentviz.metrics._labels import knn_accuracy

    return {"knn_accuracy": knn_accuracy(ctx.z, ctx.labels.astype(str), seed=seed)}, {}


def _silhouette(ctx, seed):
    from latentviz.metrics._labels import silhouette

    return {"silhouette": silhouette(ctx.z, ctx.labels.astype(str), seed=seed)}, {}


# (flat names the task writes, requirement check -> reason or None, task)
_TASKS = [
    (("beta_vae",), _needs_factors, _beta_vae),
    (("factor_vae",), _needs_factors, _factor_vae),
    (("mig",), _needs_two_dims, _mig),
    (("dci_disentanglement", "dci_completeness", "dci_informativeness"), _needs_factors, _dci),
    (("sap",), _needs_two_dims, _sap),
    (("modularity",), _needs_factors, _modularity),
    (("explicitness",), _needs_factors, _explicitness),
    (("irs",), _needs_factors, _irs),
    (("total_correlation",), _always, _total_correlation),
    (("gaussian_wasserstein_correlation",), _always, _wasserstein),
    (("mutual_info_score",), _needs_two_dims_only, _mi_score),
    (("active_units", "active_units_fraction"), _always, _active_units),
    (("kl_total", "collapsed_units"), _needs_logvar, _kl),
    (("prior_kl", "prior_ks_max"), _always, _prior),
    (("trustworthiness", "continuity", "knn_preservation"), _needs_inputs, _neighbourhood),
    (("intrinsic_dimension",), _always, _intrinsic),
    (("effective_rank",), _always, _effective_rank),
    (("mean_abs_correlation",), _needs_two_dims_only, _correlation),
    (("reconstruction_error",), _needs_decoder_and_inputs, _reconstruction),
    (("consistency", "consistency_prior"), _needs_decoder, _consistency),
    (("interpolation_smoothness", "path_length"), _needs_decoder, _interpolation),
    (("linear_probe_accuracy",), _needs_labels, _linear_probe),
    (("knn_accuracy",), _needs_labels, _knn_accuracy),
    (("silhouette",), _needs_labels, _silhouette),
]
