"""``latentviz encode CHECKPOINT --data DATA --out RUN``."""

from __future__ import annotations

import os

import click

from latentviz.cli._options import data_options_of, encode_options, parse_json_kwargs, parse_normalize, quiet_of


def options_from(kw: dict, quiet: bool):
    from latentviz.encode import EncodeOptions

    return EncodeOptions(
        batch_size=kw["batch_size"],
        limit=kw["limit"],
        seed=kw["seed"],
        num_workers=kw["num_workers"],
        amp=kw["amp"],
        device=kw["device"],
        resume=kw["resume"],
        overwrite=kw["overwrite"],
        shard_size=kw["shard_size"],
        normalize=parse_normalize(kw["normalize"]),
        recon_error=kw["recon_error"],
        dedupe_ids=kw["dedupe_ids"],
        quiet=quiet,
    )


def run_encode(ctx, checkpoint: str, kw: dict):
    """Shared by ``encode`` and ``run``: returns the Run."""
    from latentviz.encode import encode_checkpoint

    quiet = quiet_of(ctx, kw["local_quiet"])
    return encode_checkpoint(
        checkpoint,
        kw["data"],
        kw["out"],
        factory=kw["factory"],
        factory_kwargs=parse_json_kwargs(kw["model_kwargs"]),
        layer=kw["layer"],
        trust_checkpoint=kw["trust_checkpoint"],
        strict=kw["strict"],
        pool=kw["pool"],
        pool_axis=kw["pool_axis"],
        max_length=kw["max_length"],
        weights=kw["weights"],
        scale_latents=kw["scale_latents"],
        image_size=kw["image_size"],
        features=kw["features"],
        data_options=data_options_of(kw),
        options=options_from(kw, quiet),
    )


@click.command("encode")
@click.argument("checkpoint")
@encode_options
@click.pass_context
def encode_command(ctx, checkpoint, **kw):
    """Encode DATA with the model in CHECKPOINT into the run folder RUN."""
    run = run_encode(ctx, checkpoint, kw)
    if int(os.environ.get("RANK", "0")) == 0:
        m = run.manifest
        click.echo(f"encoded {m['n']} samples -> {m['latent_dim']}-d latents ({m['kind']}) in {run.path}")
