"""``latentviz sample``: for generator-only models (GANs), draw z ~ N(0, I), decode, store both."""

from __future__ import annotations

import os
import time

import torch

from latentviz import run as runfolder
from latentviz._validation import Integer, ParameterError, validate_params
from latentviz.devices import torch_device
from latentviz.encode import merge_shards, versions, write_shard
from latentviz.errors import InputError
from latentviz.models import LatentModel
from latentviz.progress import progress
from latentviz.thumbnails import is_image_batch, thumbnails


def sample(
    model: LatentModel,
    out: str | os.PathLike,
    *,
    n: int,
    latent_dim: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device: str = "auto",
    overwrite: bool = False,
    quiet: bool = False,
) -> runfolder.Run:
    """Decode ``n`` prior samples into a run folder (latents + thumbnails of the decoded outputs)."""
    validate_params(
        "sample", {"n": n, "latent_dim": latent_dim}, {"n": [Integer(1, None)], "latent_dim": [None, Integer(1, None)]}
    )
    if latent_dim is not None:
        model.latent_shape = (latent_dim,)
    if not model.latent_shape:  # so latent_dim is None
        raise ParameterError(
            "sample", "latent_dim", "is required: the generator's latent size cannot be read from the checkpoint"
        )
    dev = torch_device(device)
    model.to(dev)
    # an overwrite builds beside the old run, which stays whole until the new one replaces it
    with runfolder.new_run(out, command="latentviz sample", overwrite=overwrite) as run:
        run.clear()
        started = time.perf_counter()
        model.spec["latent_shape"] = list(model.latent_shape)
        run.update_manifest(
            complete=False,
            versions=versions(),
            model=model.spec,
            data={"spec": "prior:N(0,I)", "kind": "prior", "n": n},
            n=n,
            device=str(dev),
            seed=seed,
            parameters={"sample": {"n": n, "batch_size": batch_size}},
            timings={},
        )
        z_all = model.sample_prior(n, seed=seed, device="cpu")
        with progress(total=n, desc="sample", unit="sample", quiet=quiet) as bar:
            for start in range(0, n, batch_size):
                z = z_all[start : start + batch_size]
                with torch.inference_mode():
                    try:
                        out_batch = model.decode(z.to(dev)).float().cpu()
                    except RuntimeError as exc:
                        raise InputError(
                            f"the generator cannot decode latents of shape ({model.latent_dim},): "
                            f"{str(exc).splitlines()[0]}; check --latent-dim"
                        ) from exc
                thumbs = thumbnails(out_batch) if is_image_batch(out_batch) else None
                meta = {"id": [str(i) for i in range(start, start + len(z))]}
                write_shard(run, start // batch_size, [(meta, z.numpy(), None, thumbs)])
                bar.update(len(z))
        merge_shards(
            run, n_shards=(n + batch_size - 1) // batch_size, model=model, seconds=time.perf_counter() - started
        )
    return runfolder.Run(out)
