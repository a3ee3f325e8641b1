"""``latentviz export``: a run's latents for other tools (TensorBoard projector, CSV, Parquet)."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("run_path", metavar="RUN")
@click.argument("out", metavar="OUT")
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["tensorboard", "csv", "parquet"]),
    help="tensorboard: a folder for the Embedding Projector; csv/parquet: one table file.",
)
def export_command(run_path, out, fmt):
    """Export RUN to OUT: TensorBoard projector files, or id + metadata + projections + latents as a table."""
    from latentviz.export import export_run
    from latentviz.run import Run

    written = export_run(Run(run_path), out, fmt=fmt)
    click.echo(f"export: {len(written)} file(s) in {out}: " + ", ".join(p.name for p in written))
