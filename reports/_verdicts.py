"""Plain-language verdicts for the summary: one sentence per area, each tied to the numbers behind it.

The cut-offs are rules of thumb from the literature, stated where they are used so a reader can
disagree with them: active units (Burda et al., 2016: variance of the codes > 0.01), MIG on
dSprites-like data (Chen et al., 2018: β-TCVAE and β-VAE reach 0.2-0.4), trustworthiness
(Venna & Kaski, 2006: above 0.9 is a faithful map).
"""

from __future__ import annotations

import numpy as np

from latentviz.run import PROJECTION_METHODS
from reports._model import Verdict
from reports._sections import NO_STATS

MIG_GOOD, MIG_FAIR = 0.4, 0.15
TRUST_GOOD, TRUST_FAIR = 0.95, 0.9
CORR_GOOD, CORR_FAIR = 0.3, 0.6
NOT_COMPUTED = "not computed: run `latentviz metrics RUN`"


def verdicts(*, stats: dict, metrics: dict, projections: dict, has_factors: bool) -> list[Verdict]:
    """The four summary verdicts: collapse, disentanglement, regularity and projection quality.

    ``stats`` is the manifest's ``latent_stats``, ``metrics`` the run's ``metrics.json`` and
    ``projections`` the manifest's ``projections`` entry (per method, its trustworthiness).
    """
    return [
        collapse(stats),
        disentanglement(metrics, has_factors),
        regularity(metrics, stats),
        projection_quality(projections),
    ]


def _names(mask) -> str:
    return ", ".join(f"z{j}" for j in np.flatnonzero(mask)) or "none"


def collapse(stats: dict) -> Verdict:
    if "active" not in stats:
        return Verdict("Collapse", "unknown", "Not recorded.", NO_STATS)
    active = np.asarray(stats.get("active", []), dtype=bool)
    d, n_active = len(active), int(active.sum())
    collapsed = np.asarray(stats["collapsed"], dtype=bool) if "collapsed" in stats else ~active
    n_collapsed = int(collapsed.sum())
    evidence = f"{n_active} of {d} dimensions vary across samples (variance > 0.01); " + (
        f"collapsed (KL < 0.01 nats): {_names(collapsed)}." if "collapsed" in stats else f"inactive: {_names(~active)}."
    )
    if n_active == 0:
        return Verdict("Collapse", "poor", "Posterior collapse: no latent dimension carries information.", evidence)
    if n_collapsed == 0 and n_active == d:
        return Verdict("Collapse", "good", f"All {d} latent dimensions are in use.", evidence)
    if n_active * 2 >= d:
        return Verdict(
            "Collapse",
            "fair",
            f"{d - n_active} of {d} dimensions are unused; {n_active} carry the "
            "information (common with a strong KL weight, as in a β-VAE).",
            evidence,
        )
    return Verdict(
        "Collapse", "poor", f"Most dimensions are unused: only {n_active} of {d} carry information.", evidence
    )


def disentanglement(metrics: dict, has_factors: bool) -> Verdict:
    if not has_factors:
        return Verdict(
            "Disentanglement",
            "unknown",
            "Not measurable: the data has no ground-truth factors.",
            "Disentanglement scores compare the code with known generative factors (shape, scale, ...).",
        )
    found = {k: metrics[k] for k in ("mig", "dci_disentanglement", "sap") if _number(metrics.get(k))}
    if "mig" not in found:
        return Verdict("Disentanglement", "unknown", "Not measured yet.", NOT_COMPUTED)
    evidence = (
        ", ".join(f"{_label(k)} {v:.2f}" for k, v in found.items())
        + f" (0 to 1, higher is better; MIG above {MIG_GOOD} is strong, β-VAEs on dSprites reach 0.2–0.4)."
    )
    return _graded(
        "Disentanglement",
        found["mig"],
        good=MIG_GOOD,
        fair=MIG_FAIR,
        evidence=evidence,
        headlines={
            "good": "Well disentangled: each factor is captured mainly by one latent dimension.",
            "fair": "Partly disentangled: some factors are spread over several dimensions.",
            "poor": "Entangled: the factors are mixed across latent dimensions.",
        },
    )


def regularity(metrics: dict, stats: dict) -> Verdict:
    """The largest correlation between active dimensions, read from the correlation matrix the metrics
    stage recorded (``detail.mean_abs_correlation.matrix``)."""
    if "active" not in stats:
        return Verdict("Regularity", "unknown", "Not recorded.", NO_STATS)
    active = np.flatnonzero(np.asarray(stats["active"], dtype=bool))
    if len(active) < 2:
        return Verdict(
            "Regularity",
            "unknown",
            "Fewer than two active dimensions: nothing to correlate.",
            f"{len(active)} active dimension(s).",
        )
    entry = (metrics.get("detail") or {}).get("mean_abs_correlation")
    matrix = np.asarray(entry.get("matrix") if isinstance(entry, dict) else [], dtype=float)
    if matrix.shape != (len(stats["active"]),) * 2:
        return Verdict("Regularity", "unknown", "Not measured yet.", NOT_COMPUTED)
    corr = np.abs(np.nan_to_num(matrix[np.ix_(active, active)]))
    np.fill_diagonal(corr, 0)
    i, j = np.unravel_index(np.argmax(corr), corr.shape)
    worst = float(corr[i, j])
    spread = np.asarray(stats.get("var", []), dtype=float)[active]
    evidence = (
        f"Largest correlation between active dimensions: z{active[i]}–z{active[j]}, |r| = {worst:.2f}; "
        f"variance of the active codes {spread.min():.2g} to {spread.max():.2g}."
    )
    return _graded(
        "Regularity",
        worst,
        good=CORR_GOOD,
        fair=CORR_FAIR,
        higher_is_better=False,
        evidence=evidence,
        headlines={
            "good": "The active dimensions are nearly uncorrelated: each adds information of its own.",
            "fair": "Some active dimensions are moderately correlated.",
            "poor": "Some active dimensions are strongly correlated: they encode overlapping information.",
        },
    )


def projection_quality(projections: dict) -> Verdict:
    found = {
        m: float(e["trustworthiness"])
        for m, e in sorted(projections.items())
        if isinstance(e, dict) and _number(e.get("trustworthiness"))
    }
    if not found:
        return Verdict(
            "Projection quality", "unknown", "Not measured yet.", "not computed: run `latentviz project RUN`"
        )
    worst = min(found.values())
    evidence = (
        "Trustworthiness of the 2-D maps: "
        + ", ".join(f"{_label(m)} {v:.3f}" for m, v in found.items())
        + f" (1 is perfect; above {TRUST_FAIR} the neighbours you see in a map are neighbours in the latent space)."
    )
    return _graded(
        "Projection quality",
        worst,
        good=TRUST_GOOD,
        fair=TRUST_FAIR,
        evidence=evidence,
        headlines={
            "good": "The 2-D maps are faithful: points that sit together in them are neighbours in the latent space.",
            "fair": "The 2-D maps are mostly faithful; small clusters may be artefacts.",
            "poor": "The 2-D maps distort neighbourhoods: read clusters in them with care.",
        },
    )


def _graded(
    area: str, value: float, *, good: float, fair: float, headlines: dict, evidence: str, higher_is_better: bool = True
) -> Verdict:
    """The verdict whose cut-off ``value`` reaches: ``good``, then ``fair``, else ``poor``."""
    sign = 1 if higher_is_better else -1
    tone = "good" if sign * value >= sign * good else "fair" if sign * value >= sign * fair else "poor"
    return Verdict(area, tone, headlines[tone], evidence)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _label(key: str) -> str:
    names = {"mig": "MIG", "sap": "SAP", "dci_disentanglement": "DCI disentanglement", **PROJECTION_METHODS}
    return names.get(key, key.replace("_", " "))
