"""The ``metrics`` stage: every registry entry that applies to a run, written to ``metrics.json``.

The entries (facts, requirements, randomness, call) live in :mod:`latentviz.metrics._registry`;
this module gives them the run (:class:`_RunData`), says why an entry is skipped
(:func:`skip_reason`) and repeats the stochastic ones. Disentanglement scores use the reference's
sample sizes (10000 training and 5000 test codes, drawn with the seed); neighbourhood scores use a
sample of at most 10000 points; per-dimension statistics use every code. Metrics that cannot run say
why in one line and land in ``skipped``.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from latentviz._validation import Integer, check_param, check_random_state
from latentviz.errors import InputError, LatentvizError, UnsafeCheckpointError
from latentviz.metrics._registry import ENTRIES, Metric

N_TRAIN, N_TEST = 10000, 5000
NEIGHBOUR_SAMPLE = 10000
INPUT_PCA_DIMS = 50


def compute_run_metrics(
    run, *, seed: int = 0, repeats: int = 1, quiet: bool = False, device: str = "auto", trust_checkpoint: bool = False
) -> dict:
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

    check_param("metrics", "repeats", repeats, Integer(1, None))
    started = time.perf_counter()
    with run.stage("metrics") as stage:  # held throughout: metrics.json and the manifest's entry land together
        ctx = _RunData(run, seed, device, trust_checkpoint)
        out: dict = {"detail": {}, "timings": {}, "skipped": {}, "seed": int(seed), "repeats": int(repeats)}
        if ctx.nonfinite:
            out["detail"]["nonfinite_rows"] = ctx.nonfinite
        with progress(total=len(ENTRIES), desc="metrics", unit="metric", quiet=quiet) as bar:
            for metric in ENTRIES:
                bar.set_description_str(f"metrics: {metric.name}")
                reason = skip_reason(metric, ctx)
                if reason is None:
                    t0 = time.perf_counter()
                    try:
                        _run_metric(out, metric, ctx, seed, repeats)
                    except LatentvizError as exc:
                        reason = str(exc)
                    out["timings"][metric.name] = round(time.perf_counter() - t0, 4)
                if reason is not None:
                    for name in metric.names:
                        out["skipped"][name] = reason
                    say(f"metrics: skipped {', '.join(metric.names)}: {reason}", quiet=quiet)
                bar.update()
        write_json(stage.path(METRICS), out)
        stage.record_stage(time.perf_counter() - started, seed=int(seed), repeats=int(repeats))
    return out


def _run_metric(out: dict, metric: Metric, ctx, seed: int, repeats: int) -> None:
    """Write the keys ``metric.compute`` returns into ``out``: once, or ``repeats`` times with seeds
    ``seed + r`` when the entry is stochastic (each key the mean, ``detail[key]`` its ``std`` and
    ``values``). The detail and the warnings of the first call go to the entry's first key."""
    runs = []
    for r in range(repeats if metric.stochastic else 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values, detail = metric.compute(ctx, seed + r)
        runs.append(values)
        if r == 0:
            first_detail, caveats = detail, sorted({str(w.message) for w in caught})
    for name in runs[0]:
        series = [values[name] for values in runs]
        out[name] = series[0] if len(series) == 1 else float(np.mean(series))
        entry = dict(first_detail) if name == metric.name else {}
        if len(series) > 1:
            entry.update(std=float(np.std(series, ddof=1)), values=series)
        if caveats and name == metric.name:
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
        self._input_spaces: dict = {}

    @property
    def split(self):
        """(train rows, test rows) drawn with the run's seed: the rows BetaVAE's and FactorVAE's sampler draws from."""
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
            self._splits[seed] = order[:n_train], order[n_train : n_train + N_TEST]
        return self._splits[seed]

    def train(self, seed: int):
        """(codes, factors or None) of the training rows of :meth:`split_for` ``seed``."""
        return self._rows(self.split_for(seed)[0])

    def test(self, seed: int):
        """(codes, factors or None) of the test rows of :meth:`split_for` ``seed``."""
        return self._rows(self.split_for(seed)[1])

    def _rows(self, rows):
        return self.z[rows], None if self.factors is None else self.factors[rows]

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

    def neighbour_rows(self, seed: int) -> np.ndarray:
        """The neighbourhood sample: every row of a run of at most 10000 codes, else 10000 drawn with ``seed``."""
        n = len(self.z)
        if n <= NEIGHBOUR_SAMPLE:
            return np.arange(n)
        return np.sort(check_random_state(seed).choice(n, NEIGHBOUR_SAMPLE, replace=False))

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

    def input_space(self, seed: int) -> np.ndarray:
        """Flattened inputs of the neighbourhood sample of ``seed``, reduced to 50 PCA dimensions when wider."""
        from sklearn.decomposition import PCA

        key = seed if len(self.z) > NEIGHBOUR_SAMPLE else None  # one sample, read once, when it is every row
        if key not in self._input_spaces:
            rows = self.neighbour_rows(seed)
            x = self.raw_inputs(rows).reshape(len(rows), -1)
            if x.shape[1] > INPUT_PCA_DIMS:
                x = PCA(INPUT_PCA_DIMS, random_state=0).fit_transform(x)
            self._input_spaces[key] = x
        return self._input_spaces[key]

    @functools.cached_property
    def latent_graph(self):
        """The run's neighbours.npz when the neighbourhood sample is every point, else None."""
        if len(self.z) > NEIGHBOUR_SAMPLE or self.nonfinite:
            return None
        try:
            return self.run.neighbors()
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

        grid = GridSampler(source.sample_factors, encode, len(source.factor_sizes))
        return grid, "fresh fixed-factor batches of builtin:shapes"

    def model_calls(self):
        """(encode, decode) of the reloaded model on numpy arrays: the mean codes, the outputs."""
        import torch

        model = self.model[0]

        def encode(x):
            with torch.inference_mode():
                x = torch.as_tensor(np.asarray(x), dtype=torch.float32, device=model.device)
                return model.encode(x)[0].float().cpu().numpy()

        def decode(z):
            with torch.inference_mode():
                z = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=model.device)
                return model.decode(z).float().cpu().numpy()

        return encode, decode


def skip_reason(metric: Metric, ctx: _RunData) -> str | None:
    """Why ``metric`` cannot run on ``ctx``'s run: its first unmet requirement, in one line; None when it can.

    The one place the reasons of :data:`latentviz.metrics._registry.REQUIREMENTS` are worded.
    """
    needs, n = metric.needs, len(ctx.z)
    if "factors" in needs and ctx.factors is None:
        return "the run has no ground-truth factors"
    if "logvar" in needs and ctx.logvar is None:
        return "the model gives no log variances"
    if "labels" in needs:
        if ctx.labels is None:
            return "the run has no labels"
        if len(np.unique(ctx.labels.astype(str))) < 2:
            return "the labels have a single class"
    if n < metric.min_samples:
        return f"needs at least {metric.min_samples} samples; the run has {n}"
    if "two_dims" in needs and ctx.z.shape[1] < 2:
        return "needs at least 2 latent dimensions"
    if "decoder" in needs and ctx.model[1]:
        return ctx.model[1]
    if "inputs" in needs:
        try:
            ctx.input_space(ctx.seed)
        except LatentvizError as exc:
            return f"the inputs cannot be read ({exc})"
        except Exception as exc:  # a data source that fails to reopen: skip, say why
            return f"the inputs cannot be read ({type(exc).__name__}: {exc})"
    return None
