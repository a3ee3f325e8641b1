"""``latentviz report`` (one run) and ``latentviz compare`` (several runs): static HTML files.

``reports`` is imported inside the commands, so ``latentviz --help`` stays instant and the core
never depends on it.
"""

from __future__ import annotations

import click

from latentviz.cli._options import quiet_of

MAX_POINTS_HELP = "Scatter points per projection at most; above it a seeded sample stratified by label."


@click.command("report")
@click.argument("run_path", metavar="RUN")
@click.option("-o", "--out", metavar="FILE", help="Where to write the HTML (default RUN/report.html).")
@click.option("--policy", metavar="POLICY.yaml", help="Add an audit of the run against this policy.")
@click.option(
    "--baseline",
    metavar="RUN",
    help="Baseline run for the policy's relative checks and the reference of its drift checks.",
)
@click.option("--max-points", default=20_000, show_default=True, type=click.IntRange(min=1), help=MAX_POINTS_HELP)
@click.option(
    "--color-mode",
    "color_modes",
    metavar="COLUMN=MODE",
    multiple=True,
    help="Colour COLUMN by 'categorical' (a legend) or 'continuous' (a colour scale); by default "
    "whole numbers with few distinct values (class ids) are categorical. Repeatable.",
)
@click.option("--quiet", "-q", "local_quiet", is_flag=True)
@click.pass_context
def report_command(ctx, run_path, out, policy, baseline, max_points, color_modes, local_quiet):
    """Write one self-contained HTML report of RUN (opens offline in any browser)."""
    from latentviz.audit import baseline_drift, load_policy
    from latentviz.progress import say
    from latentviz.run import Run
    from reports import write_report

    run, quiet = Run(run_path), quiet_of(ctx, local_quiet)
    say(f"report: building the report of {run.path}", quiet=quiet)
    rules, base = load_policy(policy) if policy else None, Run(baseline) if baseline else None
    if rules is not None and base is not None:  # the audit section's drift checks, as 'latentviz audit' measures them
        baseline_drift(run, base, rules)
    path = write_report(
        run,
        out,
        policy=rules,
        baseline=base,
        max_points=max_points,
        color_modes=_color_modes(color_modes),
        quiet=quiet,
    )
    click.echo(f"report: {path} ({path.stat().st_size / 2**20:.1f} MB)")


def _color_modes(pairs) -> dict:
    """``("label=categorical", ...)`` -> ``{"label": "categorical"}``; a malformed pair is a one-line error."""
    from latentviz.errors import InputError
    from latentviz.figures import COLOR_MODES

    modes = {}
    for pair in pairs:
        column, sep, mode = pair.partition("=")
        if not sep or not column or mode not in COLOR_MODES:
            raise InputError(
                f"--color-mode {pair!r}: give COLUMN=MODE with MODE one of {', '.join(COLOR_MODES)} "
                "(e.g. --color-mode label=categorical)"
            )
        modes[column] = mode
    return modes


@click.command("compare")
@click.argument("run_paths", metavar="RUN_A RUN_B [RUN ...]", nargs=-1, required=True)
@click.option("-o", "--out", metavar="FILE", default="compare.html", show_default=True, help="Where to write the HTML.")
@click.option(
    "--order",
    type=click.Choice(["step", "name", "given"]),
    default="given",
    show_default=True,
    help="Order of the runs: as given, by name, or by training step (a checkpoint series).",
)
@click.option("--max-points", default=20_000, show_default=True, type=click.IntRange(min=1), help=MAX_POINTS_HELP)
@click.option(
    "--permutations",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Row permutations for the chance level of each similarity score.",
)
@click.option(
    "--results",
    metavar="FILE",
    help="Also write the comparison's numbers: FILE.json (scores, chance "
    "levels) or FILE.npz (with the per-point agreement and aligned maps).",
)
@click.option("--quiet", "-q", "local_quiet", is_flag=True)
@click.pass_context
def compare_command(ctx, run_paths, out, order, max_points, permutations, results, local_quiet):
    """Compare runs of the same data side by side in one HTML report (rows matched by id)."""
    from latentviz.errors import InputError
    from latentviz.run import Run
    from reports.compare import write_comparison

    if len(run_paths) < 2:
        raise InputError(f"compare: give at least two runs; got {len(run_paths)}")
    runs = [Run(p) for p in run_paths]
    path = write_comparison(
        runs,
        out,
        results=results,
        order=order,
        max_points=max_points,
        permutations=permutations,
        quiet=quiet_of(ctx, local_quiet),
    )
    click.echo(f"compare: {path} ({path.stat().st_size / 2**20:.1f} MB, {len(runs)} runs)")
