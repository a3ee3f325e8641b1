"""``latentviz dashboard RUN [RUN ...]``: serve the live dashboard over run folders (Dash is imported here, lazily)."""

from __future__ import annotations

import click

from latentviz.cli._options import reload_trust_option


@click.command("dashboard")
@click.argument("runs", nargs=-1, required=True, metavar="RUN [RUN ...]")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but 127.0.0.1 exposes the runs to your network. Only requests "
    "addressed to this name or a loopback name are answered (others get 403).",
)
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--no-model",
    "no_model",
    is_flag=True,
    help="Do not reload the models: no live decoding, the saved traversal images instead.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    help="Where live decoding runs.",
)
@click.option(
    "--policy",
    type=click.Path(dir_okay=False),
    default=None,
    help="An audit policy (YAML) whose results the Metrics page shows.",
)
@reload_trust_option
def dashboard_command(runs, host, port, no_model, device, policy, trust_checkpoint):
    """Explore, decode and compare runs in the browser (binds 127.0.0.1 unless --host says otherwise)."""
    from latentviz._optional import require

    require("dash", purpose="the dashboard")
    from dashboards.app import serve

    if not no_model:
        _say_untrusted(runs, trust_checkpoint)
    serve(
        list(runs),
        host=host,
        port=port,
        load_model=not no_model,
        device=device,
        policy=policy,
        trust_checkpoint=trust_checkpoint,
    )


def _say_untrusted(runs, trust_checkpoint: bool) -> None:
    """One line for each run whose model will not reload (it would run code nothing allows, or a file changed)."""
    from latentviz.errors import InputError
    from latentviz.progress import say
    from latentviz.run import Run
    from latentviz.trust import check_model

    for path in runs:
        spec = Run(path).manifest.get("model")
        try:
            if spec:
                check_model(spec, trust_checkpoint=trust_checkpoint)
        except InputError as exc:
            say(f"latentviz: {path}: {exc}; its Decode page shows the saved traversal images")
