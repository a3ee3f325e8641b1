"""``latentviz sample GENERATOR --out RUN --latent-dim D [--n N]``."""

from __future__ import annotations

import click

from latentviz.cli._options import model_options, parse_json_kwargs, quiet_of


@click.command("sample")
@click.argument("generator")
@model_options
@click.option("--out", required=True, metavar="RUN")
@click.option("--latent-dim", type=int, help="Size of the generator's input noise.")
@click.option("--n", "n", default=1000, show_default=True, type=int, help="How many samples to draw.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), show_default=True)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a complete run already in --out (it stays whole until the new one is written).",
)
@click.option("--quiet", "-q", "local_quiet", is_flag=True)
@click.pass_context
def sample_command(
    ctx,
    generator,
    factory,
    model_kwargs,
    layer,
    trust_checkpoint,
    strict,
    out,
    latent_dim,
    n,
    seed,
    batch_size,
    device,
    overwrite,
    local_quiet,
    weights,
):
    """Draw latents from N(0, I), decode them with GENERATOR, and store both."""
    from latentviz.models import load_model
    from latentviz.sampling import sample
    from latentviz.trust import remember

    model = load_model(
        generator,
        factory=factory,
        factory_kwargs=parse_json_kwargs(model_kwargs),
        trust_checkpoint=trust_checkpoint,
        strict=strict,
        weights=weights,
        generator=True,
    )
    run = sample(
        model,
        out,
        n=n,
        latent_dim=latent_dim,
        seed=seed,
        batch_size=batch_size,
        device=device,
        overwrite=overwrite,
        quiet=quiet_of(ctx, local_quiet),
    )
    remember(model=model.spec, trust_checkpoint=trust_checkpoint)
    click.echo(f"sampled {n} latents of dimension {run.manifest['latent_dim']} -> {run.path}")
