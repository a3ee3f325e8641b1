"""Options shared by several commands, declared once."""

from __future__ import annotations

import json

import click

from latentviz.errors import InputError


def quiet_of(ctx: click.Context, local: bool = False) -> bool:
    """The command's own --quiet or the global one."""
    root = ctx.find_root().obj or {}
    return bool(local or root.get("quiet"))


def parse_json_kwargs(text: str | None, option: str = "--model-kwargs") -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{option}: not valid JSON ({exc.msg} at column {exc.colno}); e.g. '{{\"latent_dim\": 8}}'"
        ) from None
    if not isinstance(value, dict):
        raise InputError(f"{option}: must be a JSON object like '{{\"latent_dim\": 8}}'; got {type(value).__name__}")
    return value


def parse_normalize(text: str | None):
    """'MEAN,STD' with one or more per-channel values: '0.5,0.5' or '0.485,0.456,0.406,0.229,0.224,0.225'."""
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--normalize: '{text}' is not numbers MEAN,STD (per channel: m1,m2,m3,s1,s2,s3)") from None
    if len(values) % 2 or not values:
        raise InputError(f"--normalize: '{text}' needs as many means as standard deviations")
    half = len(values) // 2
    mean, std = values[:half], values[half:]
    if any(s <= 0 for s in std):
        raise InputError(f"--normalize: standard deviations must be positive; got {std}")
    return mean, std


def dedupe_ids_option(f):
    """--dedupe-ids (import, encode, run): how to resolve duplicate ids instead of refusing them."""
    return click.option(
        "--dedupe-ids",
        type=click.Choice(["suffix", "first"]),
        help="Duplicate ids: suffix renames repeats to ID#2, ID#3; first keeps the first row of each id. "
        "Without it duplicates are refused.",
    )(f)


def reload_trust_option(f):
    """--trust-checkpoint on a command that reloads a run's model or data set (see latentviz.trust)."""
    return click.option(
        "--trust-checkpoint",
        is_flag=True,
        help="Reload the run's model and data set even where they run code (a factory or dataset "
        "file, a pickled module) and this machine has no record that you made the run with "
        "those files. Only for runs you trust.",
    )(f)


def model_options(f):
    """How to load a checkpoint (shared by encode, run, sample, inspect)."""
    for option in reversed(
        [
            click.option(
                "--model", "factory", metavar="MODULE_OR_FILE:CALLABLE", help="Builds the nn.Module for a state dict."
            ),
            click.option("--model-kwargs", metavar="JSON", help="Keyword arguments for --model, as a JSON object."),
            click.option(
                "--layer", metavar="NAME", help="Take the latent from this submodule's output (forward hook)."
            ),
            click.option(
                "--trust-checkpoint",
                is_flag=True,
                help="Allow the checkpoint to run code when loaded (a pickled module, remote code, a program with non-tensor operations).",
            ),
            click.option("--strict/--no-strict", default=True, help="Require the state dict keys to fit the model."),
            click.option(
                "--weights",
                metavar="NAME",
                help="Which set of weights a training checkpoint holding several takes: ema, or the key "
                "(state_dict_ema, model_ema...); 'latentviz inspect' lists them.",
            ),
        ]
    ):
        f = option(f)
    return f


def encode_options(f):
    """The encoding engine's options (shared by encode and run)."""
    for option in reversed(
        [
            click.option(
                "--data",
                "data",
                required=True,
                metavar="DATA",
                help="Image folder, .npy/.npz/.pt, .parquet/.csv, MODULE:CALLABLE dataset, or builtin:shapes.",
            ),
            click.option("--out", "out", required=True, metavar="RUN", help="The run folder to write."),
            click.option(
                "--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), show_default=True
            ),
            click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1)),
            click.option("--limit", type=click.IntRange(min=1), help="Encode only the first N samples."),
            click.option("--seed", default=0, show_default=True, type=int),
            click.option("--num-workers", default=0, show_default=True, type=click.IntRange(min=0)),
            click.option("--amp/--no-amp", default=True, show_default=True, help="bf16 autocast on CUDA."),
            click.option(
                "--resume", is_flag=True, help="Continue an interrupted encode without redoing finished shards."
            ),
            click.option(
                "--overwrite",
                is_flag=True,
                help="Replace a complete run already in --out: the new run is built beside it and replaces it "
                "when complete (with --resume: continue an interrupted overwrite).",
            ),
            click.option("--shard-size", default=65536, show_default=True, type=click.IntRange(min=1)),
            click.option(
                "--normalize", metavar="MEAN,STD", help="Per-channel normalisation the model was trained with."
            ),
            click.option(
                "--recon-error",
                is_flag=True,
                help="Also decode every batch and store each sample's reconstruction error (column recon_error).",
            ),
            click.option("--quiet", "-q", "local_quiet", is_flag=True, help="No progress bar."),
        ]
    ):
        f = option(f)
    return model_options(reading_options(dedupe_ids_option(f)))


def reading_options(f):
    """How inputs are read and latents pooled (shared by encode, run and inspect)."""
    for option in reversed(
        [
            click.option(
                "--image-size",
                metavar="HxW",
                help="Resize image inputs (a folder, image arrays, datasets) to this size.",
            ),
            click.option(
                "--channels",
                type=click.Choice(["1", "3"]),
                help="Convert image inputs to 1 (grayscale) or 3 (RGB) channels for the model.",
            ),
            click.option(
                "--features",
                metavar="A,B,C",
                help="Table columns to use as input (a Hugging Face dataset: its one image or list column).",
            ),
            click.option(
                "--text-column", metavar="NAME", help="The column of texts in a .csv/.parquet (transformers models)."
            ),
            click.option(
                "--pool",
                type=click.Choice(["flatten", "mean", "max", "channel", "cls"]),
                help="Spatial latents: flatten (default), mean, max or channel statistics; token states "
                "(transformers folders, hooked ViT blocks): mean (transformers' default), cls or max.",
            ),
            click.option(
                "--pool-axis",
                type=click.Choice(["tokens", "spatial"]),
                help="What a 3-axis latent holds, where the hooked layer's type does not tell: "
                "tokens (batch, tokens, channels) or spatial (batch, channels, positions).",
            ),
            click.option(
                "--scale-latents",
                is_flag=True,
                help="diffusers VAEs: (mean - shift_factor) * scaling_factor, as latent-diffusion pipelines use.",
            ),
            click.option(
                "--max-length",
                type=click.IntRange(min=1),
                metavar="TOKENS",
                help="Truncate texts to this many tokens (transformers models).",
            ),
        ]
    ):
        f = option(f)
    return f


def data_options_of(kw: dict) -> dict:
    """The data source's reading options among the parsed CLI options (passed on to ``open_source``)."""
    return {key: kw[key] for key in ("text_column", "channels") if kw.get(key)}
