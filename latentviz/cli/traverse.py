"""``latentviz traverse RUN``: traversal grids, interpolation strips and direction sweeps into RUN/traversals/."""

from __future__ import annotations

import click

from latentviz.cli._options import quiet_of, reload_trust_option


@click.command("traverse")
@click.argument("run_path", metavar="RUN")
@click.option("--samples", type=int, default=None, help="Seed samples drawn at random with --seed.  [default: 4]")
@click.option(
    "--ids", metavar="A,B,C", help="Seed samples by id (instead of --samples); consecutive ids are interpolated."
)
@click.option(
    "--dims",
    default="all",
    show_default=True,
    metavar="all|0,3,5",
    help="Latent dimensions (channels, for spatial latents) to traverse.",
)
@click.option(
    "--range", "range_", default=3.0, show_default=True, type=float, help="Sweep half-width in standard deviations."
)
@click.option("--steps", default=9, show_default=True, type=int, help="Columns of a grid, frames of a GIF.")
@click.option(
    "--mode",
    default="std",
    show_default=True,
    type=click.Choice(["std", "quantile", "prior"]),
    help="Sweep over the data's sd, the data's quantiles, or the N(0, 1) prior.",
)
@click.option("--gif/--no-gif", default=True, show_default=True, help="Also write animated GIFs.")
@click.option("--direction", "direction_file", metavar="FILE.npy", help="Extra direction(s), shape (d,) or (k, d).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), show_default=True)
@click.option("--quiet", "-q", "local_quiet", is_flag=True, help="No progress bar.")
@reload_trust_option
@click.pass_context
def traverse_command(
    ctx,
    run_path,
    samples,
    ids,
    dims,
    range_,
    steps,
    mode,
    gif,
    direction_file,
    seed,
    device,
    local_quiet,
    trust_checkpoint,
):
    """Decode traversal grids, interpolations and direction sweeps of RUN's model into RUN/traversals/."""
    from latentviz.errors import InputError
    from latentviz.run import Run
    from latentviz.traversal import skip_reason, traverse

    if samples is not None and ids:
        raise InputError("--samples and --ids: give one of them (random seed samples, or these ids)")
    run = Run(run_path)
    run.require_complete()
    reason = skip_reason(run)
    if reason:
        raise InputError(
            f"traverse: {reason}; traversals need a run made by 'latentviz encode' or 'latentviz sample' "
            "with a model that decodes"
        )
    params = dict(
        samples=4 if samples is None else samples,
        ids=ids,
        dims=dims,
        range_=range_,
        steps=steps,
        mode=mode,
        gif=gif,
        seed=seed,
        direction_file=direction_file,
    )
    index = traverse(run, quiet=quiet_of(ctx, local_quiet), device=device, trust_checkpoint=trust_checkpoint, **params)
    click.echo(f"traverse: {len(index['files'])} files ({len(index['seed_ids'])} seed samples) -> {run.traversal_dir}")
