"""The ``traverse`` stage: decode grids, interpolations and direction sweeps of a run into ``traversals/``.

Writes PNG grids (GIF animations beside them), interpolation strips, direction sweeps, and the
index ``traversals.json`` describing every file. The decoded interpolation paths between sample
pairs go to ``paths.npz`` so that the metrics stage measures interpolation smoothness on the very
outputs shown here instead of decoding them again (its format: :func:`latentviz.run.write_traversal_paths`;
read it with :meth:`latentviz.run.Run.traversal_paths`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentviz import run as runfolder
from latentviz._validation import Integer, ParameterError, Real, check_choice, check_param, check_random_state
from latentviz.errors import InputError
from latentviz.progress import progress, say
from latentviz.traversal._decode import Decoder, decode_grid, grid, inactive_rows, shifted_codes, traversal_effect
from latentviz.traversal._geometry import (
    PCA_MAX_ROWS,
    SWEEP_MODES,
    Direction,
    attribute_directions,
    direction_codes,
    interpolate,
    is_continuous,
    principal_directions,
    sweep_labels,
    sweep_values,
)
from latentviz.traversal._render import is_image_output, shrink_tiles, to_gif, to_png

DECODER_KINDS = ("vae", "autoencoder", "generator")
N_RANDOM_PAIRS = 8  # random sample pairs interpolated (and kept in paths.npz for the smoothness metric)
N_PRINCIPAL = 3  # principal directions traversed
MAX_CLASSES = 10  # most frequent classes given directions and class-mean interpolations
MAX_GRID_ROWS = 32  # dims="all" shows at most this many, the most informative first
PATHS_MAX_BYTES = 64 * 2**20
VECTOR_MAX_DIM = 256  # direction vectors and class-mean codes are written into the index up to this size


def skip_reason(run) -> str | None:
    """Why the run cannot be traversed (no model, or a model with no decoder), or None when it can."""
    manifest = run.manifest
    if not manifest.get("model"):
        return "the run has no model (imported latents), so there is nothing to decode"
    kind = manifest.get("kind")
    if kind not in DECODER_KINDS:
        return f"the run's model is a{'n' if str(kind)[:1] in 'aeiou' else ''} {kind} with no decoder for its latents"
    return None


def traverse_stage(
    run, *, seed: int = 0, quiet: bool = False, device: str = "auto", trust_checkpoint: bool = False
) -> dict | None:
    """The stage of ``latentviz run``: :func:`traverse` with defaults, or a one-line skip when nothing decodes."""
    reason = skip_reason(run)
    if reason:
        say(f"traverse: skipped: {reason}", quiet=quiet)
        return None
    return traverse(run, seed=seed, quiet=quiet, device=device, trust_checkpoint=trust_checkpoint)


def traverse(
    run,
    *,
    samples: int = 4,
    ids=None,
    dims="all",
    range_: float = 3.0,
    steps: int = 9,
    mode: str = "std",
    gif: bool = True,
    seed: int = 0,
    quiet: bool = False,
    direction_file=None,
    device: str = "auto",
    model=None,
    trust_checkpoint: bool = False,
) -> dict:
    """Write the traversal figures of ``run`` into ``RUN/traversals/`` and return the index.

    Parameters
    ----------
    run : Run or path
    samples : int
        Seed samples drawn at random (with ``seed``) when ``ids`` is not given.
    ids : sequence of str, optional
        Seed samples by id; consecutive ids are also interpolated.
    dims : "all", "0,3,5" or sequence of int
        Latent dimensions (channels, for spatial latents) to traverse. ``"all"`` takes the
        :data:`MAX_GRID_ROWS` most informative.
    range_ : float
        Sweep half-width, in standard deviations (``std``, ``prior``) or normal quantile levels
        (``quantile``).
    steps : int
        Columns of a grid, frames of a GIF, points of an interpolation.
    mode : {"std", "quantile", "prior"}
        Where a coordinate's sweep values come from: see :func:`sweep_values`.
    gif : bool
        Also write the grids and direction sweeps as animations.
    seed : int
        Seeds the choice of samples and of random interpolation pairs.
    quiet : bool
        No progress bar.
    direction_file : path, optional
        A ``.npy`` of shape (d,) or (k, d): extra directions to traverse.
    device : str
        Where the run's model decodes ("auto": CUDA, MPS, then CPU).
    model : optional
        Decode with this (LatentModel, object with ``decode``, or callable) instead of the
        model the manifest names.
    trust_checkpoint : bool
        Reload the manifest's model even where it runs code that this machine has no record of
        its user running for this run (see :mod:`latentviz.trust`).

    Returns
    -------
    dict
        The contents of ``traversals.json``. The folder replaces the old ``traversals/`` whole, and
        the manifest's entry with it, only once every file is written (:meth:`Run.stage`).
    """
    started = time.perf_counter()
    run = run if isinstance(run, runfolder.Run) else runfolder.Run(run)
    run.require_complete()
    params = _check_parameters(
        run, samples=samples, ids=ids, dims=dims, range_=range_, steps=steps, mode=mode, direction_file=direction_file
    )
    if model is None:
        reason = skip_reason(run)
        if reason:
            raise InputError(f"traverse: {reason}; traversals need a run encoded from a checkpoint with a decoder")
        model = run.load_model(device=device, trust_checkpoint=trust_checkpoint)
    with run.stage("traverse") as stage:
        job = _Job(
            run=run,
            folder=stage.path(runfolder.TRAVERSALS),
            decode=Decoder(model),
            params=params,
            gif=gif,
            seed=seed,
            rng=check_random_state(seed),
        )
        job.prepare()
        directions = _directions(job)
        total = len(job.seeds) + 2 + len(directions)
        with progress(total=total, desc="traverse", unit="figure", quiet=quiet) as bar:
            job.bar = bar
            job.dimension_grids()
            job.interpolations()
            for item in directions:
                job.direction_sweep(item)
        index = job.finish()
        stage.record_stage(
            time.perf_counter() - started,
            samples=samples,
            ids=ids,
            dims=dims,
            range_=range_,
            steps=steps,
            mode=mode,
            gif=gif,
            seed=seed,
            direction_file=direction_file,
        )
    say(f"traverse: {len(index['files'])} files in {run.traversal_dir}", quiet=quiet)
    return index


# -- parameters -----------------------------------------------------------------------------------
def _check_parameters(run, *, samples, ids, dims, range_, steps, mode, direction_file) -> dict:
    check_choice("traverse", "mode", mode, SWEEP_MODES)
    check_param("traverse", "steps", steps, Integer(2, None))
    check_param("traverse", "range_", range_, Real(0, None, closed="neither"))  # standard deviations or prior units
    if ids is None:
        check_param("traverse", "samples", samples, Integer(1, None))
    shape = tuple(run.manifest.get("latent_shape") or (run.latent_dim,))
    n_units = shape[0] if len(shape) > 1 else run.latent_dim
    unit = "channel" if len(shape) > 1 else "dimension"
    if isinstance(dims, str) and dims.strip().lower() == "all":
        chosen = None
    else:
        try:
            chosen = [int(v) for v in (dims.split(",") if isinstance(dims, str) else dims)]
        except ValueError:
            raise ParameterError(
                "traverse", "dims", f"'{dims}' is not 'all' or comma-separated integers like 0,3,5"
            ) from None
        bad = [j for j in chosen if not 0 <= j < n_units]
        if bad or not chosen:
            raise ParameterError(
                "traverse",
                "dims",
                f"{unit} {bad or dims} out of range; the run's latents have {n_units} {unit}s (0..{n_units - 1})",
            )
    if ids is not None:
        ids = [str(i).strip() for i in (ids.split(",") if isinstance(ids, str) else ids) if str(i).strip()]
        if not ids:
            raise ParameterError("traverse", "ids", "give at least one sample id, e.g. 0,17,42")
        known = set(run.ids)
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ParameterError(
                "traverse",
                "ids",
                f"no sample with id {', '.join(unknown[:3])} in {run.path}; ids look like {', '.join(run.ids[:3])}",
            )
    return {
        "samples": int(samples),
        "ids": ids,
        "dims": chosen,
        "range": float(range_),
        "steps": int(steps),
        "mode": mode,
        "direction_file": str(direction_file) if direction_file else None,
        "latent_shape": list(shape),
    }


def _read_direction_file(path, d: int) -> np.ndarray:
    path = Path(path)

    def refused(problem: str) -> ParameterError:
        return ParameterError("traverse", "direction_file", f"{path}: {problem}")

    if not path.is_file():
        raise refused("no such file")
    try:
        vectors = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise refused(f"not a .npy array ({exc})") from None
    vectors = np.asarray(vectors, dtype=np.float64)
    # the trailing axes must hold one whole code: (d,), (k, d), or a spatial code's own shape; a (4, 4) array for
    # 8 latents would otherwise be cut into codes across its rows
    if vectors.size == 0 or not any(np.prod(vectors.shape[i:]) == d for i in range(vectors.ndim)):
        raise refused(f"shape {vectors.shape} does not fit latents of dimension {d}; give shape ({d},) or (k, {d})")
    vectors = vectors.reshape(-1, d)
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise refused("every direction must be finite and non-zero")
    return vectors / norms[:, None]


# -- the work -------------------------------------------------------------------------------------
@dataclass
class _Rows:
    """The rows of the per-dimension grids: which latents (or channels), their labels and sweep values."""

    units: list[int]
    labels: list[str]
    values: list[np.ndarray]  # per row: the latent's values (dims) or the channel's shifts (spatial)
    score: np.ndarray
    extra: list[dict]
    basis: np.ndarray | None = None  # spatial: one channel mask per row, flat (rows, d)


@dataclass
class _Job:
    """State shared by the steps of one traversal: the run, the decoder, seeds and what was written."""

    run: runfolder.Run
    folder: Path  # where the files go: the stage's new traversals/
    decode: Decoder
    params: dict
    gif: bool
    seed: int
    rng: np.random.RandomState
    bar: Any = None  # the stage's progress bar, while the figures are drawn
    entries: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    # -- setup --
    def prepare(self) -> None:
        run = self.run
        self.z = run.z.astype(np.float32)
        bad = int((~np.isfinite(self.z).all(axis=1)).sum())
        if bad:  # means, spreads and principal directions of such codes are NaN (the SVD fails outright)
            raise InputError(
                f"traverse: {bad} of {len(self.z)} latent codes hold NaN or inf, and traversals sweep "
                "through the codes' means and spreads; fix the model's NaN outputs and encode again"
            )
        self.ids = run.ids
        self.shape = tuple(self.params["latent_shape"])
        self.spatial = len(self.shape) > 1
        self.generator = run.manifest.get("kind") == "generator"
        if self.params["ids"]:
            where = {v: i for i, v in enumerate(self.ids)}
            self.seeds = np.array([where[i] for i in self.params["ids"]])
        else:
            k = min(self.params["samples"], len(self.z))
            self.seeds = np.sort(self.rng.choice(len(self.z), k, replace=False))
        self.recon = self.decode(self.z[self.seeds])
        self.output_shape = tuple(self.recon.shape[1:])
        self.images = is_image_output(self.output_shape)
        self.thumbs = {} if self.generator else run.thumbnails
        self.columns = sweep_labels(range_=self.params["range"], steps=self.params["steps"], mode=self.params["mode"])
        self.folder.mkdir(parents=True, exist_ok=True)

    def sweep(self, values) -> np.ndarray:
        p = self.params
        return sweep_values(values, range_=p["range"], steps=p["steps"], mode=p["mode"])

    def seed_columns(self, rows: list[int]) -> tuple[list[list], list[str]]:
        """Tiles left of a sweep: the seed's input (when the run has thumbnails) and its decoding."""
        if self.generator:
            return [[self.recon[r]] for r in rows], ["sample"]
        if self.thumbs:
            return [[self.thumbs.get(self.ids[self.seeds[r]]), self.recon[r]] for r in rows], ["input", "recon"]
        return [[self.recon[r]] for r in rows], ["recon"]

    # -- writing --
    def write(
        self,
        name: str,
        outputs: np.ndarray,
        *,
        kind: str,
        shows: str,
        row_labels,
        marks=None,
        left=None,
        left_labels=None,
        right=None,
        right_labels=None,
        col_labels=None,
        tile_labels=None,
        title: str = "",
        **entry,
    ) -> None:
        """Write one PNG (and, given ``tile_labels``, its GIF) and add their entries to the index."""
        folder = self.folder
        col_labels = self.columns if col_labels is None else col_labels
        to_png(
            outputs,
            folder / f"{name}.png",
            row_labels=row_labels,
            col_labels=col_labels,
            left=left,
            left_labels=left_labels,
            right=right,
            right_labels=right_labels,
            marks=marks,
            title=title,
        )
        layout = "images" if self.images else "heatmap"
        self.entries.append(
            {
                "file": f"{name}.png",
                "kind": kind,
                "format": "png",
                "layout": layout,
                "shows": shows,
                "columns": list(col_labels),
                **entry,
            }
        )
        if tile_labels is not None and self.gif and self.images:
            to_gif(
                outputs,
                folder / f"{name}.gif",
                tile_labels=tile_labels,
                frame_labels=col_labels,
                marks=marks,
                title=title,
            )
            self.entries.append(
                {
                    "file": f"{name}.gif",
                    "kind": kind,
                    "format": "gif",
                    "layout": "animation",
                    "shows": f"{shows} (animated: frame t shows every row at column t)",
                    "columns": list(col_labels),
                    **entry,
                }
            )

    # -- per-dimension (or per-channel) grids --
    def dimension_grids(self) -> None:
        rows = self._rows()
        per_seed, effects = [], []
        for s in self.seeds:
            if rows.basis is not None:  # spatial: rows.values are shifts of the whole channel
                outputs = decode_grid(self.decode, shifted_codes(self.z[s], rows.basis, np.stack(rows.values)))
            else:
                outputs = grid(self.decode, self.z[s], rows.units, np.stack(rows.values))
            effects.append(traversal_effect(outputs))
            per_seed.append(shrink_tiles(outputs) if self.images else outputs)
        effect = np.mean(effects, axis=0)
        inactive = inactive_rows(effect)
        unit = "channel" if self.spatial else "dim"
        self.info["dimensions"] = [
            {
                unit: int(u),
                "rank": k,
                "score": float(rows.score[k]),
                "values": rows.values[k].tolist(),
                "effect": float(effect[k]),
                "inactive": bool(inactive[k]),
                **rows.extra[k],
            }
            for k, u in enumerate(rows.units)
        ]
        what = "channel (the whole channel shifted)" if self.spatial else "latent dimension"
        for r, outputs in enumerate(per_seed):
            seed_id = self.ids[self.seeds[r]]
            left, left_labels = self.seed_columns([r])
            left += [[] for _ in rows.units[1:]]  # the seed's own tiles sit once, in the first row
            self.write(
                f"{'channels' if self.spatial else 'grid'}_{r:02d}_{_safe(seed_id)}",
                outputs,
                kind="channel_grid" if self.spatial else "grid",
                shows=(
                    f"sample {seed_id}: each row sweeps one {what}, most informative first, all other "
                    f"latents at the sample's code; rows marked inactive do not change the output"
                ),
                title=f"sample {seed_id}: {what} traversal ({self._sweep_text()})",
                row_labels=rows.labels,
                marks=inactive.tolist(),
                left=left,
                left_labels=left_labels,
                tile_labels=[f"{'channel ' if self.spatial else 'z'}{u}" for u in rows.units],
                seed_ids=[seed_id],
                **{f"{unit}s": [int(u) for u in rows.units]},
                values=[v.tolist() for v in rows.values],
                inactive=inactive.tolist(),
                effect=effect.tolist(),
            )
            self.bar.update(1)

    def _rows(self) -> _Rows:
        """Rows of the grids: latent dims (or channels), most informative first, with their sweeps and labels."""
        stats = self.run.manifest.get("latent_stats") or {}
        kl = np.asarray(stats["kl_per_dim"], dtype=np.float64) if stats.get("kl_per_dim") else None
        var = np.asarray(stats["var"], dtype=np.float64) if stats.get("var") else self.z.var(axis=0).astype(np.float64)
        by, score = ("KL", kl) if kl is not None else ("var", var)
        self.info["informativeness"] = "kl_per_dim" if kl is not None else "var"
        if self.spatial:
            score = score.reshape(self.shape[0], -1).sum(axis=1)
        units = self.params["dims"]
        if units is None:
            units = sorted(range(len(score)), key=lambda u: -score[u])
            if len(units) > MAX_GRID_ROWS:
                self.info["rows_note"] = (
                    f"showing the {MAX_GRID_ROWS} most informative of {len(units)}; choose others with --dims"
                )
                units = units[:MAX_GRID_ROWS]
        if not self.spatial:
            values = [self.sweep(self.z[:, j]) for j in units]
            labels = [
                f"z{j}  {by} {score[j]:.3g}\n{v[0]:+.2f} to {v[-1]:+.2f}" for j, v in zip(units, values, strict=True)
            ]
            extra = [{"kl": None if kl is None else float(kl[j]), "var": float(var[j])} for j in units]
            return _Rows(units, labels, values, score[units], extra)
        channels = self.z.reshape(len(self.z), self.shape[0], -1)
        basis = np.zeros((len(units), self.shape[0], channels.shape[2]), dtype=np.float32)
        basis[np.arange(len(units)), units] = 1.0
        shifts = [self.sweep(channels[:, c].ravel() - channels[:, c].mean()) for c in units]
        labels = [
            f"channel {c}\n{by} {score[c]:.3g}\nshift {v[0]:+.2f} to {v[-1]:+.2f}"
            for c, v in zip(units, shifts, strict=True)
        ]
        return _Rows(units, labels, shifts, score[units], [{} for _ in units], basis.reshape(len(units), -1))

    def _sweep_text(self) -> str:
        p = self.params
        return {
            "std": f"data mean ±{p['range']:g} sd",
            "quantile": f"data quantiles at ±{p['range']:g} normal sd",
            "prior": f"prior ±{p['range']:g}",
        }[p["mode"]]

    # -- interpolations --
    def interpolations(self) -> None:
        steps = self.params["steps"]
        pairs, groups = self._sample_pairs()
        saved = {}
        if pairs:
            ends = np.array([[self.ids[a], self.ids[b]] for a, b in pairs])
            for method in ("lerp", "slerp"):
                codes = np.stack([interpolate(self.z[a], self.z[b], steps, method) for a, b in pairs])
                codes = codes.astype(np.float32)
                outputs = decode_grid(self.decode, codes)
                saved[method] = (codes, outputs)
                for group in dict.fromkeys(groups):
                    rows = [i for i, g in enumerate(groups) if g == group]
                    self._strip(
                        f"interp_{group}_{method}",
                        outputs[rows],
                        method,
                        shows=(
                            f"{'given' if group == 'ids' else 'random'} sample pairs decoded along the "
                            f"{_PATH_NAME[method]} between their codes"
                        ),
                        row_labels=[f"{ends[i][0]} -> {ends[i][1]}" for i in rows],
                        left=[[self.thumbs.get(ends[i][0])] for i in rows],
                        right=[[self.thumbs.get(ends[i][1])] for i in rows],
                        group=group,
                        seed_ids=ends[rows].tolist(),
                    )
            self._save_paths(ends, np.array(groups), saved)
        self.bar.update(1)
        self._class_mean_strips()
        self.bar.update(1)

    def _sample_pairs(self) -> tuple[list[tuple[int, int]], list[str]]:
        pairs, groups = [], []
        if self.params["ids"] and len(self.seeds) > 1:
            pairs += list(zip(self.seeds[:-1], self.seeds[1:], strict=True))
            groups += ["ids"] * (len(self.seeds) - 1)
        n = len(self.z)
        if n > 1:
            for _ in range(N_RANDOM_PAIRS):
                a, b = self.rng.choice(n, 2, replace=False)
                pairs.append((int(a), int(b)))
                groups.append("random")
        return pairs, groups

    def _strip(self, name, outputs, method, *, shows, row_labels, left, right, **entry) -> None:
        """An interpolation strip; the endpoints' originals (``left``, ``right``) beside it when the run has them."""
        t = np.linspace(0, 1, self.params["steps"])
        originals = bool(self.thumbs) and left is not None
        self.write(
            name,
            outputs,
            kind="interpolation",
            shows=shows,
            row_labels=row_labels,
            left=left if originals else None,
            left_labels=["a"] if originals else None,
            right=right if originals else None,
            right_labels=["b"] if originals else None,
            col_labels=[f"t={v:.2f}" for v in t],
            title=f"{_PATH_NAME[method]} interpolation ({method})",
            method=method,
            t=t.tolist(),
            **entry,
        )

    def _class_mean_strips(self) -> None:
        labels = self.run.labels
        if labels is None:
            return
        labels = np.asarray(labels).astype(str)
        classes, counts = np.unique(labels, return_counts=True)
        if len(classes) < 2 or is_continuous(np.asarray(self.run.labels), max_classes=MAX_CLASSES):
            return
        keep = sorted(classes[np.argsort(-counts, kind="stable")[:MAX_CLASSES]])
        means = {c: self.z[labels == c].mean(axis=0) for c in keep}
        pairs = list(zip(keep[:-1], keep[1:], strict=True))
        for method in ("lerp", "slerp"):
            codes = np.stack([interpolate(means[a], means[b], self.params["steps"], method) for a, b in pairs])
            outputs = decode_grid(self.decode, codes.astype(np.float32))
            extra = (
                {"endpoints": [[means[a].tolist(), means[b].tolist()] for a, b in pairs]}
                if self.z.shape[1] <= VECTOR_MAX_DIM
                else {}
            )
            self._strip(
                f"interp_classes_{method}",
                outputs,
                method,
                shows=f"class mean code to class mean code along the {_PATH_NAME[method]}",
                row_labels=[f"{a} -> {b}" for a, b in pairs],
                left=None,
                right=None,
                group="classes",
                classes=[[a, b] for a, b in pairs],
                **extra,
            )

    def _save_paths(self, ends: np.ndarray, groups: np.ndarray, saved: dict) -> None:
        arrays = {
            "ids": ends.astype(str),
            "group": groups.astype(str),
            "t": np.linspace(0, 1, self.params["steps"]),
            "output_size": np.array(int(np.prod(self.output_shape))),
        }
        keep_outputs = sum(o.size * 2 for _, o in saved.values()) <= PATHS_MAX_BYTES
        for method, (codes, outputs) in saved.items():
            flat = outputs.reshape(*outputs.shape[:2], -1).astype(np.float64)
            arrays[f"{method}_z"] = codes
            arrays[f"{method}_step_sizes"] = np.linalg.norm(np.diff(flat, axis=1), axis=2)
            if keep_outputs:
                arrays[f"{method}_outputs"] = outputs.astype(np.float16)
        self.info["paths"] = {
            "file": runfolder.write_traversal_paths(self.folder, arrays),
            "pairs": len(ends),
            "steps": self.params["steps"],
            "methods": list(saved),
            "outputs_saved": keep_outputs,
            "step_size": "L2 norm of the decoded output's change between consecutive steps",
        }

    # -- directions --
    def direction_sweep(self, item: Direction) -> None:
        u = item.vector.astype(np.float32)
        projections = self.z @ u
        values = self.sweep(projections)
        outputs = decode_grid(self.decode, direction_codes(self.z[self.seeds], u, values))
        effect = traversal_effect(outputs)
        left, left_labels = self.seed_columns(list(range(len(self.seeds))))
        vector = {"vector": item.vector.round(6).tolist()} if len(u) <= VECTOR_MAX_DIM else {}
        self.write(
            f"direction_{_safe(item.name)}",
            outputs,
            kind="direction",
            shows=item.shows,
            title=f"direction {item.name} ({item.method}): {self._sweep_text()} of the codes' projection",
            row_labels=[f"sample {self.ids[s]}\nchange {e:.3g}" for s, e in zip(self.seeds, effect, strict=True)],
            left=left,
            left_labels=left_labels,
            tile_labels=[f"id {self.ids[s]}" for s in self.seeds],
            seed_ids=[str(self.ids[s]) for s in self.seeds],
            direction={"name": item.name, "method": item.method, **vector},
            values=values.tolist(),
            effect=effect.tolist(),
        )
        self.bar.update(1)

    def finish(self) -> dict:
        index = {
            "parameters": {k: v for k, v in self.params.items() if k != "latent_shape"}
            | {"gif": self.gif, "seed": self.seed},
            "kind": self.run.manifest.get("kind"),
            "latent_shape": list(self.shape),
            "output_shape": list(self.output_shape),
            "image_outputs": self.images,
            "seed_ids": [str(self.ids[s]) for s in self.seeds],
            **self.info,
            "files": self.entries,
        }
        runfolder.write_json(self.folder / runfolder.TRAVERSAL_INDEX, index)
        return index


_PATH_NAME = {"lerp": "straight line", "slerp": "great circle"}


def _directions(job: _Job) -> list[Direction]:
    """Label and factor directions, the principal directions and the user's, in that order."""
    run, z = job.run, job.z
    rows: slice | np.ndarray = slice(None)
    if len(z) > PCA_MAX_ROWS:  # directions are means and fits: a seeded sample of rows is plenty
        rows = np.sort(check_random_state(job.seed).choice(len(z), PCA_MAX_ROWS, replace=False))
    found: list[Direction] = []
    if run.labels is not None:
        found += attribute_directions(
            z[rows], np.asarray(run.labels)[rows], "label", max_classes=MAX_CLASSES, discrete_up_to=MAX_CLASSES
        )
    factors = run.factors
    if factors is not None:
        for j, name in enumerate(run.factor_names):
            found += attribute_directions(z[rows], factors[rows, j], f"factor {name}", max_classes=MAX_CLASSES)
    k = min(N_PRINCIPAL, *z.shape)
    for i, vector in enumerate(principal_directions(z[rows], k) if k else []):
        found.append(
            Direction(
                f"pc{i + 1}",
                "pca",
                vector,
                f"principal direction {i + 1} of the codes (GANSpace), swept from each seed sample",
            )
        )
    if job.params["direction_file"]:
        vectors = _read_direction_file(job.params["direction_file"], z.shape[1])
        stem = Path(job.params["direction_file"]).stem
        for i, vector in enumerate(vectors):
            found.append(
                Direction(
                    f"{stem}_{i}" if len(vectors) > 1 else stem,
                    "file",
                    vector,
                    f"direction {i} of {job.params['direction_file']}, swept from each seed sample",
                )
            )
    return found


def _safe(text) -> str:
    """A file-name-safe form of an id or a name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_.")[:48] or "x"
