"""``latentviz drift REFERENCE CURRENT``: has CURRENT's data moved away from REFERENCE's, through one model?"""

from __future__ import annotations

import click

from latentviz.cli._options import quiet_of


@click.command("drift")
@click.argument("reference", metavar="REFERENCE")
@click.argument("current", metavar="CURRENT")
@click.option(
    "--allow-different-models",
    is_flag=True,
    help="Compare runs whose checkpoints (sha256) cannot be confirmed to be the same model.",
)
@click.option(
    "--permutations",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Permutations of the MMD test (its p-value's resolution is 1 / (N + 1)).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", "-q", "local_quiet", is_flag=True, help="No progress output.")
@click.pass_context
def drift_command(ctx, reference, current, allow_different_models, permutations, seed, local_quiet):
    """Measure the drift of CURRENT's latents from REFERENCE's; writes drift.json into CURRENT.

    \b
    Scores (each on a bounded, seeded sample; drift when past the threshold):
      drift_domain_auc    classifier ROC AUC telling the sets apart    > 0.55
      drift_mmd_p_value   MMD permutation p-value (RBF kernel)         < 0.05
      drift_ks_share      share of dims whose KS test rejects (0.05/d)  > 0
      drift_mean_shift    |mean difference| / reference spread         > 0.2
    """
    from latentviz.drift import THRESHOLDS, drift_runs
    from latentviz.run import DRIFT

    out = drift_runs(
        reference,
        current,
        allow_different_models=allow_different_models,
        seed=seed,
        permutations=permutations,
        quiet=quiet_of(ctx, local_quiet),
    )
    symbols = {"lte": "≤", "gte": "≥"}
    for name, value in out["scores"].items():
        if name in THRESHOLDS:
            condition, threshold = THRESHOLDS[name]
            verdict = "DRIFT" if out["drifted"][name] else "ok"
            click.echo(f"{verdict:5s}  {name:18s} {value:.4g} (fine while {symbols[condition]} {threshold:g})")
        else:
            click.echo(f"       {name:18s} {value:.4g}")
    if out["ks"]["flagged"]:
        click.echo("drifted dimensions: " + ", ".join(f"z{j}" for j in out["ks"]["flagged"]))
    moved = sum(out["drifted"].values())
    click.echo(f"drift: {moved} of {len(out['drifted'])} scores past their thresholds -> {current}/{DRIFT}")
