"""``latentviz inspect CHECKPOINT [--model ...] [--data DATA]``: what latentviz sees in a checkpoint."""

from __future__ import annotations

import json

import click

from latentviz.cli._options import data_options_of, model_options, parse_json_kwargs, reading_options


@click.command("inspect")
@click.argument("checkpoint")
@model_options
@reading_options
@click.option("--data", metavar="DATA", help="Encode a probe batch of this data to measure the latent and layers.")
@click.option("--generator", is_flag=True, help="CHECKPOINT is a generator: forward maps latents to outputs.")
@click.option("--probe", default=4, show_default=True, type=click.IntRange(min=1), help="Samples in the probe batch.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def inspect_command(
    checkpoint,
    factory,
    model_kwargs,
    layer,
    trust_checkpoint,
    strict,
    image_size,
    channels,
    features,
    text_column,
    pool,
    max_length,
    data,
    generator,
    probe,
    as_json,
    weights,
    pool_axis,
    scale_latents,
):
    """Show what latentviz detects in CHECKPOINT: format, kind, encoder, decoder, latent size, layers."""
    from latentviz.inspect import inspect_model

    info = inspect_model(
        checkpoint,
        data=data,
        probe=probe,
        image_size=image_size,
        features=features,
        data_options=data_options_of({"text_column": text_column, "channels": channels}),
        factory=factory,
        factory_kwargs=parse_json_kwargs(model_kwargs),
        layer=layer,
        trust_checkpoint=trust_checkpoint,
        strict=strict,
        weights=weights,
        pool=pool,
        pool_axis=pool_axis,
        scale_latents=scale_latents,
        max_length=max_length,
        generator=generator,
    )
    click.echo(json.dumps(info, indent=2) if as_json else render(info))


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def render(info: dict) -> str:
    """The aligned, human-readable form of :func:`latentviz.inspect.inspect_model`'s result."""
    kind = info["kind_name"]
    if not info["kind_known"]:
        kind = "VAE or autoencoder (--data tells: a VAE's encoder also gives a variance)"
    elif info["kind"] == "vae":
        kind += " (the encoder gives a mean and a log variance)"
    probe = info["probe"]
    if info["latent_dim"]:
        latent = f"{info['latent_dim']} dimensions, shape {_shape(info['latent_shape'])}"
        if len(info["latent_shape"]) > 1:
            latent += " (flattened for analysis; --pool mean|channel to pool)"
    else:
        latent = "unknown until encoded: give --data DATA" if info["encoder"] else "set by --latent-dim when sampling"
    decoder = info["decoder"] or "none"
    if probe and probe.get("decoded_shape"):
        decoder += f" -> {_shape(probe['decoded_shape'])}"
    rows = [
        ("checkpoint", info["checkpoint"]),
        ("format", info["format"]),
        ("kind", kind),
        ("parameters", f"{info['parameters']:,}"),
        ("encoder", info["encoder"] or "none"),
        ("decoder", decoder),
        ("latent", latent),
    ]
    if probe:
        shape = f", input shape {_shape(probe['input_shape'])}" if probe["input_shape"] else ""
        rows.append(("probe", f"{probe['n']} sample(s) of {probe['data']}{shape}"))
    lines = [f"{name:<12}{value}" for name, value in rows]
    lines += _layer_lines(info["layers"], measured=probe is not None)
    lines += [f"{'note':<12}{note}" for note in info["notes"]]
    return "\n".join(lines)


def _layer_lines(layers: list[dict], *, measured: bool) -> list[str]:
    if not layers:
        return [f"{'layers':<12}none that --layer can hook"]
    head = "candidates for --layer" + (" (output shape per sample)" if measured else "")
    width = max(len(layer["name"]) for layer in layers) + 2
    type_width = max(len(layer["type"]) for layer in layers) + 2
    lines = [f"{'layers':<12}{head}:"]
    for layer in layers:  # every one: the last layers (avgpool, fc) are the ones most often hooked
        shape = _shape(layer["output_shape"]) if layer["output_shape"] else ""
        lines.append(f"{'':<14}{layer['name']:<{width}}{layer['type']:<{type_width}}{shape}".rstrip())
    return lines
