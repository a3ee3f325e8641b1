"""``latentviz cluster RUN [--min-cluster-size N] [--space auto|latents|umap] [--sample N] [--seed N]``."""

from __future__ import annotations

import click

from latentviz.cli._options import quiet_of


@click.command("cluster")
@click.argument("run_path", metavar="RUN")
@click.option(
    "--min-cluster-size",
    type=click.IntRange(min=2),
    metavar="N",
    help="HDBSCAN's smallest cluster [default: max(10, fitted points // 100)].",
)
@click.option(
    "--min-samples",
    type=click.IntRange(min=1),
    metavar="N",
    help="HDBSCAN's density neighbours [default: the min cluster size].",
)
@click.option(
    "--space",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "latents", "umap"]),
    help="What is clustered: auto is a 5-D UMAP (on the shared kNN graph) above 10 latent dimensions, else the latents.",
)
@click.option(
    "--sample",
    default=20_000,
    show_default=True,
    type=click.IntRange(min=10),
    metavar="N",
    help="Fit on a seeded sample of N points; the rest join their nearest sampled points' cluster.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", "-q", "local_quiet", is_flag=True, help="No progress output.")
@click.pass_context
def cluster_command(ctx, run_path, min_cluster_size, min_samples, space, sample, seed, local_quiet):
    """Find density-based clusters (HDBSCAN) in RUN's latents; writes clusters.parquet and clusters.json."""
    from latentviz.clusters import cluster_run

    facts = cluster_run(
        run_path,
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        space=space,
        sample=sample,
        seed=seed,
        quiet=quiet_of(ctx, local_quiet),
    )
    scores = " and ".join(f"{name.upper()} {facts[name]:.3f}" for name in ("ari", "nmi") if name in facts)
    scores = f"; {scores} against the labels" if scores else ""
    click.echo(
        f"clustered {facts['n']} points in {facts['space']}: {facts['n_clusters']} clusters, "
        f"{facts['outlier_share']:.1%} outliers (min cluster size {facts['parameters']['min_cluster_size']})"
        f"{scores} -> {run_path}"
    )
