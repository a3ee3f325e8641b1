"""``latentviz metrics RUN``: every applicable metric into ``metrics.json``."""

from __future__ import annotations

import click

from latentviz.cli._options import quiet_of, reload_trust_option


@click.command("metrics")
@click.argument("run_path", metavar="RUN")
@click.option(
    "--repeats",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rerun the stochastic metrics with this many seeds; report mean and std.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds every sample, split and draw.")
@click.option(
    "--device",
    default="auto",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    show_default=True,
    help="Where the model runs for the decoder metrics.",
)
@click.option("--quiet", "-q", "local_quiet", is_flag=True, help="No status lines.")
@reload_trust_option
@click.pass_context
def metrics_command(ctx, run_path, repeats, seed, device, local_quiet, trust_checkpoint):
    """Compute every metric that applies to the run RUN and write RUN/metrics.json."""
    from latentviz.metrics import REGISTRY, compute_run_metrics
    from latentviz.run import METRICS, Run

    run = Run(run_path)
    run.require_complete()
    out = compute_run_metrics(
        run,
        seed=seed,
        repeats=repeats,
        quiet=quiet_of(ctx, local_quiet),
        device=device,
        trust_checkpoint=trust_checkpoint,
    )
    computed = [name for name in REGISTRY if name in out]
    shown = ", ".join(f"{name} {out[name]:.3g}" for name in computed[:6])
    click.echo(f"{len(computed)} metrics ({len(out['skipped'])} skipped) -> {run.file(METRICS)}: {shown}")
