"""Compare runs of the same data: one result, :class:`Comparison`, that the report and the dashboard render.

Rows are matched by sample id (the ids every run shares, in the first run's order, with finite
latents in every run). Each similarity score of :mod:`latentviz.metrics` is computed for every
pair of runs beside its chance level (its mean over row permutations of one run), so a reader
can tell a high score from chance. Per point, the neighbourhood agreement with the first run
says where two spaces organise the data differently; every run's 2-D maps are aligned onto the
first run's (Procrustes on the shared ids), so the same sample sits in the same place.

>>> comparison = compare_runs([Run("runs/a"), Run("runs/b")])    # doctest: +SKIP
>>> comparison.scores["linear_cka"].values[0, 1]                 # doctest: +SKIP
0.93
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from latentviz._validation import check_choice
from latentviz.errors import InputError
from latentviz.run import PROJECTION_METHODS, Run, atomic_path, write_json

#: Shared rows the similarity scores use at most (a seeded sample above it).
SIMILARITY_ROWS = 2_000
#: Neighbours per point for the neighbourhood agreement.
AGREEMENT_K = 10
#: Shared sample ids the runs need at least (each point needs its AGREEMENT_K neighbours and more).
MIN_SHARED = AGREEMENT_K + 2
#: Row permutations averaged for each score's chance level.
PERMUTATIONS = 20
ORDERS = ("given", "name", "step")
#: The files :meth:`Comparison.save` writes.
RESULT_SUFFIXES = (".json", ".npz")


@dataclasses.dataclass(frozen=True)
class Similarity:
    """A similarity score of :mod:`latentviz.metrics`: ``fn(a, b, baseline=True, ...) -> (score, chance)``."""

    name: str
    label: str
    higher_is_better: bool
    top: float  # the largest value it takes

    def with_chance(self, a: np.ndarray, b: np.ndarray, *, permutations: int, seed: int) -> tuple[float, float]:
        """The score of ``a`` and ``b``, and its mean over ``permutations`` seeded row shuffles of ``b``."""
        from latentviz import metrics

        score, chance = getattr(metrics, self.name)(a, b, baseline=True, seed=seed, permutations=permutations)
        return float(score), float(chance)


SIMILARITIES = (
    Similarity("linear_cka", "linear CKA", True, 1.0),
    Similarity("svcca", "SVCCA", True, 1.0),
    Similarity("procrustes_distance", "Procrustes distance", False, 2**0.5),
    Similarity("mutual_knn", "mutual kNN", True, 1.0),
)


@dataclasses.dataclass(frozen=True, eq=False)
class Score:
    """One similarity between every pair of runs: ``values`` and ``chance``, each (n_runs, n_runs).

    The diagonal of ``values`` is a run against itself (1, or 0 for a distance); of ``chance``, NaN.
    """

    similarity: Similarity
    values: np.ndarray
    chance: np.ndarray

    def beats_chance(self, i: int, j: int) -> bool:
        """Whether runs ``i`` and ``j`` are more alike than chance by a tenth of the score's range."""
        gain = self.values[i, j] - self.chance[i, j]
        return bool((gain if self.similarity.higher_is_better else -gain) > 0.1 * self.similarity.top)


@dataclasses.dataclass(frozen=True, eq=False)
class Comparison:
    """Runs of the same data compared sample by sample (see :func:`compare_runs`)."""

    runs: list[Run]  # in comparison order
    names: list[str]
    order: str  # how the runs were ordered: given, name or step
    ids: np.ndarray  # the shared ids, in the first run's order
    rows: list[np.ndarray]  # per run, the row of each shared id
    scores: dict[str, Score]  # similarity name -> its values between every pair of runs
    scored_rows: int  # shared rows the scores were computed on
    agreement: list[np.ndarray]  # agreement[j - 1]: run j against the first run, per shared id
    maps: dict[str, list[np.ndarray]]  # projection method -> every run's (n_run, 2) map, aligned to the first's
    k: int
    permutations: int
    seed: int

    @property
    def n_shared(self) -> int:
        return len(self.ids)

    def run_agreement(self, i: int) -> np.ndarray:
        """Per row of run ``i``, its agreement with the first run (the first run's: with the second); NaN
        on rows outside the shared ids."""
        values = np.full(self.runs[i].n, np.nan)
        values[self.rows[i]] = self.agreement[max(i, 1) - 1]
        return values

    def to_dict(self) -> dict:
        """The scores and summaries as plain JSON data (no per-point arrays)."""
        return {
            "runs": [str(r.path.resolve()) for r in self.runs],
            "names": self.names,
            "n_shared": self.n_shared,
            "scored_rows": self.scored_rows,
            "k": self.k,
            "permutations": self.permutations,
            "seed": self.seed,
            "scores": {name: {"values": s.values, "chance": s.chance} for name, s in self.scores.items()},
            "agreement_mean": [float(a.mean()) for a in self.agreement],
        }

    def save(self, path: str | Path) -> Path:
        """Write the result atomically: ``.json`` holds :meth:`to_dict`; ``.npz`` the names, the score
        matrices, the shared ids, each run's rows of them, the per-point agreement and the aligned maps."""
        path = check_results_path(path)
        if path.suffix == ".json":
            write_json(path, self.to_dict())
        elif path.suffix == ".npz":
            arrays: dict[str, Any] = {"ids": self.ids.astype(str), "names": np.array(self.names)}
            arrays.update(
                {f"{name}_{part}": getattr(s, part) for name, s in self.scores.items() for part in ("values", "chance")}
            )
            arrays.update({f"rows_{i}": r for i, r in enumerate(self.rows)})
            arrays.update({f"agreement_{j + 1}": a for j, a in enumerate(self.agreement)})
            arrays.update({f"map_{m}_{i}": xy for m, maps in self.maps.items() for i, xy in enumerate(maps)})
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        return path


def check_results_path(path: str | Path) -> Path:
    """``path`` as a :class:`Path` when it names a file :meth:`Comparison.save` can write (checked before computing)."""
    path = Path(path)
    if path.suffix not in RESULT_SUFFIXES:
        raise InputError(f"{path}: a comparison is written to a {' or '.join(RESULT_SUFFIXES)} file; name one")
    return path


def compare_runs(
    runs: list[Run],
    *,
    order: str = "given",
    permutations: int = PERMUTATIONS,
    seed: int = 0,
    max_rows: int = SIMILARITY_ROWS,
    k: int = AGREEMENT_K,
    quiet: bool = True,
) -> Comparison:
    """Compare ``runs`` (at least two, encodings of the same data) sample by sample.

    Parameters
    ----------
    runs : list of Run
        Complete runs; rows are matched by sample id.
    order : {"given", "name", "step"}
        The order of the runs; the first is the one the others are measured and aligned against.
    permutations : int, default=20
        Row shuffles averaged for each score's chance level.
    seed : int, default=0
        Seeds the row sample and the shuffles.
    max_rows : int, default=2000
        Shared rows the similarity scores use at most (a seeded sample above it).
    k : int, default=10
        Neighbours per point for the neighbourhood agreement.
    quiet : bool, default=True
        No progress bar.

    Returns
    -------
    Comparison
        The matched rows, each score with its chance level, the per-point agreement with the first
        run and the aligned maps.
    """
    from latentviz.neighbors import neighbour_jaccard
    from latentviz.progress import progress

    if len(runs) < 2:
        raise InputError(f"compare: give at least two runs; got {len(runs)}")
    for run in runs:
        run.require_complete()
    runs = order_runs(runs, order)
    names = run_names(runs)
    pairs = [(i, j) for i in range(len(runs)) for j in range(i + 1, len(runs))]
    scores = {}
    # one step per part, each named as it starts: at a million points matching the ids, each agreement (two
    # neighbour graphs) and the alignment take from seconds to minutes, the scores (on a sample) a second
    steps = 1 + len(pairs) * len(SIMILARITIES) + len(runs) - 1 + 1
    with progress(total=steps, desc="compare", unit="step", quiet=quiet) as bar:
        bar.set_postfix_str("matching rows by id")
        ids, rows = matched_rows(runs, minimum=k + 2)
        zs = [np.asarray(run.z, np.float64)[index] for run, index in zip(runs, rows, strict=True)]
        bar.update(1)
        sample = np.arange(len(ids))
        if len(ids) > max_rows:
            sample = np.sort(np.random.default_rng(seed).choice(len(ids), max_rows, replace=False))
        for similarity in SIMILARITIES:
            values = np.full((len(runs), len(runs)), 1.0 if similarity.higher_is_better else 0.0)
            chance = np.full((len(runs), len(runs)), np.nan)
            for i, j in pairs:
                bar.set_postfix_str(f"{similarity.label}, {names[i]} vs {names[j]}")
                values[i, j], chance[i, j] = similarity.with_chance(
                    zs[i][sample], zs[j][sample], permutations=permutations, seed=seed
                )
                values[j, i], chance[j, i] = values[i, j], chance[i, j]
                bar.update(1)
            scores[similarity.name] = Score(similarity, values, chance)
        agreement, first = [], None
        for j in range(1, len(runs)):
            bar.set_postfix_str(f"neighbourhood agreement of {len(ids):,} points, {names[j]} vs {names[0]}")
            first = _matched_graph(runs[0], rows[0], zs[0], k) if first is None else first
            agreement.append(neighbour_jaccard(first, _matched_graph(runs[j], rows[j], zs[j], k)))
            bar.update(1)
        bar.set_postfix_str("aligning the maps")
        maps = aligned_maps(runs, ids, rows)
        bar.update(1)
    return Comparison(
        runs=runs,
        names=names,
        order=order,
        ids=ids,
        rows=rows,
        scores=scores,
        scored_rows=len(sample),
        agreement=agreement,
        maps=maps,
        k=k,
        permutations=permutations,
        seed=seed,
    )


def _matched_graph(run: Run, rows: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Each matched row's ``k`` nearest matched rows (Euclidean): the run's own ``neighbors.npz`` when every one
    of its rows is matched (renumbered into the matched order), else searched here over ``z``.

    At 300k points the two searches were 218 s of a 222 s comparison; ``project`` has already made the graph.
    """
    from latentviz.neighbors import knn

    stored = None
    if len(rows) == run.n:
        with contextlib.suppress(InputError):  # unreadable or stale: searched instead, as without one
            stored = run.neighbors()
    if stored is not None and stored.metric == "euclidean" and stored.k >= k:
        found = stored.head(k).indices[rows]
        if ((found >= 0) & (found < run.n)).all():  # every row finite and every neighbour a row of the run
            position = np.empty(run.n, np.int64)
            position[rows] = np.arange(len(rows))
            return position[found]
    return knn(z, k).indices


# -- matching and ordering ------------------------------------------------------------------------


def order_runs(runs: list[Run], order: str) -> list[Run]:
    """The runs as given, by folder name, or by training step (:func:`run_step`)."""
    check_choice("compare", "order", order, ORDERS)
    if order == "name":
        return sorted(runs, key=lambda r: _natural(r.path.resolve().name))
    if order == "step":
        return sorted(runs, key=run_step)
    return list(runs)


def run_step(run: Run) -> float:
    """The training step of a run (:attr:`Run.step`), else the last number in its folder name."""
    if run.step is not None:
        return run.step
    numbers = re.findall(r"\d+", run.path.resolve().name)
    if numbers:
        return float(numbers[-1])
    raise InputError(
        f"--order step: found no step in {run.path} (manifest 'step'/'epoch', or a number in its name); "
        "use --order name or given"
    )


def series_order(runs) -> list[int] | None:
    """Order of runs along a checkpoint series, by :attr:`Run.step`; None unless every run has a step."""
    steps = [run.step for run in runs]
    if any(s is None for s in steps):
        return None
    return sorted(range(len(runs)), key=lambda i: steps[i])


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def run_names(runs: list[Run]) -> list[str]:
    """Each run's folder name (its path where two folders share a name)."""
    names = [r.path.resolve().name for r in runs]
    if len(set(names)) < len(names):
        names = [str(r.path) for r in runs]
    return names


def matched_rows(runs: list[Run], *, minimum: int = MIN_SHARED) -> tuple[np.ndarray, list[np.ndarray]]:
    """The ids all runs share with finite latents (in the first run's order), and each run's rows of them."""
    usable = [set(np.asarray(run.ids)[np.isfinite(run.z).all(axis=1)]) for run in runs]
    shared = set.intersection(*usable)
    if len(shared) < minimum:
        raise InputError(
            f"compare: the runs share {len(shared)} sample ids; they must be encodings of the same data "
            f"(rows are matched by id, at least {minimum} are needed)"
        )
    ids = np.array([i for i in runs[0].ids if i in shared])
    rows = []
    for run in runs:
        where = {v: r for r, v in enumerate(run.ids)}
        rows.append(np.fromiter((where[i] for i in ids), dtype=np.int64, count=len(ids)))
    return ids, rows


def aligned_maps(runs: list[Run], ids: np.ndarray, rows: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """For each 2-D projection every run has, every run's map moved onto the first run's.

    Each map is computed on its own, so its axes are arbitrary; a similarity transform fitted on
    the shared ids (Procrustes) makes the maps comparable point by point.
    """
    from latentviz.projection import align_procrustes

    maps = {}
    for method in PROJECTION_METHODS:
        if not all(run.projection_methods.get(method, 0) >= 2 for run in runs):
            continue
        coords = [run.projection(method, 2).astype(np.float64) for run in runs]
        reference = coords[0][rows[0]]
        maps[method] = [coords[0]] + [
            align_procrustes(xy, reference, moving_ids=run.ids, reference_ids=ids)[0]
            for run, xy in zip(runs[1:], coords[1:], strict=True)
        ]
    return maps
