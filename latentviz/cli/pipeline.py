"""``latentviz run`` (every stage that exists, in order) and ``latentviz demo``.

The stages after encoding each take the finished :class:`~latentviz.run.Run`; this module is the
composition root that knows their order. A stage is one line in ``STAGES``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import click

from latentviz.cli._options import encode_options, quiet_of


@dataclass
class StageOptions:
    seed: int = 0
    quiet: bool = False
    device: str = "auto"
    trust_checkpoint: bool = False  # the later stages reload the model (the encode's own record allows it anyway)


def _timed(name, fn):
    def stage(run, opts: StageOptions):
        started = time.perf_counter()
        fn(run, opts)
        run.invalidate()
        run.record_stage(name, time.perf_counter() - started)

    return stage


def _project(run, opts: StageOptions) -> None:
    from latentviz.projection import project

    project(run, seed=opts.seed, quiet=opts.quiet, device=opts.device)


def _cluster(run, opts: StageOptions) -> None:
    from latentviz.clusters import cluster_run

    cluster_run(run, seed=opts.seed, quiet=opts.quiet)


def _metrics(run, opts: StageOptions) -> None:
    from latentviz.metrics import compute_run_metrics

    compute_run_metrics(
        run, seed=opts.seed, quiet=opts.quiet, device=opts.device, trust_checkpoint=opts.trust_checkpoint
    )


def _traverse(run, opts: StageOptions) -> None:
    from latentviz.traversal import traverse_stage

    traverse_stage(run, seed=opts.seed, quiet=opts.quiet, device=opts.device, trust_checkpoint=opts.trust_checkpoint)


def _report(run, opts: StageOptions) -> None:
    from reports import write_report

    write_report(run, quiet=opts.quiet)


# Traversals come before metrics: the metrics stage measures interpolation smoothness on the paths
# the traversal stage decoded (traversals/paths.npz) instead of decoding them again.
STAGES: list[tuple[str, Callable[..., None]]] = [
    ("project", _timed("project", _project)),
    ("cluster", _timed("cluster", _cluster)),  # after project: the UMAP it clusters in is fed by project's kNN graph
    ("traverse", _timed("traverse", _traverse)),
    ("metrics", _timed("metrics", _metrics)),
    ("report", _timed("report", _report)),  # last: it shows what the stages before wrote
]


def run_stages(run, opts: StageOptions) -> None:
    for _name, stage in STAGES:
        stage(run, opts)
        run.invalidate()


def _summary(run) -> str:
    from latentviz.run import CLUSTERS, LATENTS, METRICS, PROJECTIONS, REPORT, TRAVERSALS

    lines = [f"run folder: {run.path.resolve()}"]
    for name in (LATENTS, PROJECTIONS, CLUSTERS, METRICS, TRAVERSALS, REPORT):
        if run.has(name):
            lines.append(f"  {name:20s} {run.file(name).resolve()}")
    return "\n".join(lines)


@click.command("run")
@click.argument("checkpoint")
@encode_options
@click.pass_context
def run_command(ctx, checkpoint, **kw):
    """Encode, then run every later stage (projections, clusters, traversals, metrics, report) into RUN."""
    from latentviz.cli.encode import run_encode

    run = run_encode(ctx, checkpoint, kw)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    run_stages(
        run,
        StageOptions(
            seed=kw["seed"],
            quiet=quiet_of(ctx, kw["local_quiet"]),
            device=kw["device"],
            trust_checkpoint=kw["trust_checkpoint"],
        ),
    )
    click.echo(_summary(run))


@click.command("demo")
@click.option("--out", default="runs/demo", show_default=True, metavar="DIR", help="Where the demo run goes.")
@click.option(
    "--serve/--no-serve", default=True, show_default=True, help="Serve the dashboard on 127.0.0.1:8050 afterwards."
)
@click.option("--port", default=8050, show_default=True, type=int)
@click.option("--retrain", is_flag=True, help="Train the demo VAE again instead of using the cached one.")
@click.option("--quiet", "-q", "local_quiet", is_flag=True)
@click.pass_context
def demo_command(ctx, out, serve, port, retrain, local_quiet):
    """Train the built-in demo VAE on builtin:shapes (cached) and run every stage on it."""
    import torch

    from latentviz.encode import EncodeOptions, encode_checkpoint
    from latentviz.models.demo_vae import DEMO_CONFIG, demo_checkpoint

    quiet = quiet_of(ctx, local_quiet)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    checkpoint, kwargs = demo_checkpoint(quiet=quiet, retrain=retrain)
    run = encode_checkpoint(
        str(checkpoint),
        DEMO_CONFIG["data"],
        out,
        factory="latentviz.models.demo_vae:DemoVAE",
        factory_kwargs=kwargs,
        options=EncodeOptions(overwrite=True, quiet=quiet, seed=DEMO_CONFIG["seed"], recon_error=True),
    )
    run_stages(run, StageOptions(seed=DEMO_CONFIG["seed"], quiet=quiet))
    click.echo(_summary(run))
    if serve:
        _serve(run, port)


def _serve(run, port: int) -> None:
    try:
        from dashboards.app import serve
    except ImportError:
        click.echo("(the dashboard is not part of this version yet; the files above are the demo's result)")
        return
    serve([run.path], host="127.0.0.1", port=port)
