"""``latentviz project RUN [--methods pca,tsne,umap] [--dims 2|3] [--sample N] [--seed N] ...``."""

from __future__ import annotations

import click

from latentviz.cli._options import quiet_of


@click.command("project")
@click.argument("run")
@click.option(
    "--methods",
    default="pca,tsne,umap",
    show_default=True,
    metavar="LIST",
    help="Comma-separated projections: pca, tsne, umap.",
)
@click.option("--dims", default=2, show_default=True, type=click.Choice(["2", "3"]), help="Output dimensions.")
@click.option(
    "--sample",
    type=click.IntRange(min=10),
    metavar="N",
    help="Fit t-SNE and UMAP on a seeded sample of N points and place the rest by transform [default: 50000].",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--k",
    "k",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neighbours per point in the shared kNN graph.",
)
@click.option(
    "--metric",
    default="euclidean",
    show_default=True,
    type=click.Choice(["euclidean", "cosine"]),
    help="Distance between latents for the kNN graph, t-SNE/UMAP and the quality figures (cosine for word vectors).",
)
@click.option("--tsne-backend", default="opentsne", show_default=True, type=click.Choice(["opentsne", "sklearn"]))
@click.option("--reference", metavar="RUN_A", help="Put this run into RUN_A's maps (transform or Procrustes).")
@click.option(
    "--align",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "transform", "procrustes"]),
    help="How --reference aligns the maps.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    help="Where the exact kNN search and PCA run.",
)
@click.option(
    "--dask",
    metavar="ADDRESS|local:N",
    help="Run PCA and the placement of the points outside the sample over row-shards on a Dask cluster: "
    "a running scheduler's address (tcp://HOST:PORT) or local:N worker processes; same result.",
)
@click.option("--quiet", "-q", "local_quiet", is_flag=True, help="No progress output.")
@click.pass_context
def project_command(
    ctx, run, methods, dims, sample, seed, k, metric, tsne_backend, reference, align, device, dask, local_quiet
):
    """Project the latents of RUN with PCA, t-SNE and UMAP over one shared neighbour graph."""
    from latentviz.projection import project

    result = project(
        run,
        methods=methods,
        dims=int(dims),
        sample=sample,
        seed=seed,
        k=k,
        quiet=quiet_of(ctx, local_quiet),
        reference=reference,
        align=align,
        tsne_backend=tsne_backend,
        device=device,
        metric=metric,
        dask=dask,
    )
    quality = ", ".join(
        f"{m} {e['trustworthiness']:.3f}" if e["trustworthiness"] is not None else f"{m} -"
        for m, e in result.methods.items()
    )
    graph = result.neighbors
    click.echo(
        f"projected {graph.n} points with {', '.join(result.methods)} ({dims}-D) -> {run}; "
        f"trustworthiness@10: {quality}; kNN graph k={graph.k} ({graph.metric}, {graph.method})"
    )
