"""``latentviz import LATENTS --out RUN``."""

from __future__ import annotations

import click

from latentviz.cli._options import dedupe_ids_option, quiet_of


@click.command("import")
@click.argument("latents")
@click.option("--out", required=True, metavar="RUN", help="The run folder to write.")
@click.option(
    "--columns",
    metavar="A,B,C",
    help="Table columns that hold the latents: names, globs ('e*') and ranges (e0:e31) "
    "[default: every float column; integer, text, id and label columns stay metadata].",
)
@click.option(
    "--metadata",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="A .csv/.parquet table with an 'id' column (for word vectors: the word); its columns are joined by id.",
)
@click.option(
    "--trust-checkpoint", is_flag=True, help="Allow a gensim .model/.kv file (a pickle) to run code when loaded."
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a complete run already in --out (it stays whole until the new one is written).",
)
@dedupe_ids_option
@click.option("--quiet", "-q", "local_quiet", is_flag=True, help="Do not say which columns became latents.")
@click.pass_context
def import_command(ctx, latents, out, columns, metadata, trust_checkpoint, overwrite, dedupe_ids, local_quiet):
    """Make a run folder from precomputed LATENTS — no model needed.

    LATENTS: .npy, .npz, .parquet, .csv, or word vectors: gensim .model/.kv, word2vec .bin,
    word2vec text (.txt/.vec with a header line) or GloVe text (.txt without one).
    """
    from latentviz.importer import import_latents
    from latentviz.progress import say

    cols = [c.strip() for c in columns.split(",")] if columns else None
    run = import_latents(
        latents, out, columns=cols, overwrite=overwrite, dedupe=dedupe_ids, metadata=metadata, trust=trust_checkpoint
    )
    used = run.manifest["parameters"]["import"]["columns"]
    if used is not None:
        rest = [c for c in run.metadata_columns if c != "id"]
        say(
            f"import: latents from {len(used)} column(s) {_names(used)}; metadata: {_names(rest) or 'none'}",
            quiet=quiet_of(ctx, local_quiet),
        )
    click.echo(f"imported {run.manifest['n']} latents of dimension {run.manifest['latent_dim']} -> {run.path}")


def _names(columns: list[str], most: int = 8) -> str:
    """'a, b, c' or 'a, b, ... (40 more)' for a long list."""
    shown = ", ".join(columns[:most])
    return shown if len(columns) <= most else f"{shown}, ... ({len(columns) - most} more)"
