"""``latentviz import LATENTS --out RUN``."""

from __future__ import annotations

import click


@click.command("import")
@click.argument("latents")
@click.option("--out", required=True, metavar="RUN", help="The run folder to write.")
@click.option("--columns", metavar="A,B,C", help="Table columns that hold the latents (default: every numeric column).")
@click.option("--overwrite", is_flag=True, help="Replace a complete run already in --out.")
def import_command(latents, out, columns, overwrite):
    """Make a run folder from precomputed LATENTS (.npy, .npz, .parquet, .csv) — no model needed."""
    from latentviz.importer import import_latents

    cols = [c.strip() for c in columns.split(",")] if columns else None
    run = import_latents(latents, out, columns=cols, overwrite=overwrite)
    click.echo(f"imported {run.manifest['n']} latents of dimension {run.manifest['latent_dim']} -> {run.path}")
