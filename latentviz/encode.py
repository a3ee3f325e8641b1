"""The encoding engine: data source + model -> a run folder, streaming and resumable.

The rows are cut into shards of ``shard_size``; each shard is encoded batch by batch and written
as soon as it is complete, so an interrupted encode resumes at the first missing shard. Under
``torchrun`` each rank encodes the shards ``i % world_size == rank`` and rank 0 merges them in
order, so the result equals a single-process run.

``--overwrite`` of a complete run encodes into ``.NAME.new`` beside it (:func:`latentviz.run.new_run`),
which replaces the old run only once merged; an interrupted overwrite leaves the old run whole and
keeps that folder, so ``--overwrite --resume`` continues it (``--overwrite`` alone starts afresh).
Rank 0 holds the run's lock throughout and tells the other ranks which folder to write.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from latentviz import run as runfolder
from latentviz._validation import DEDUPE_IDS, Integer, Options, dedupe_ids, validate_params
from latentviz.data import DataSource
from latentviz.devices import torch_device
from latentviz.errors import InputError
from latentviz.models import LatentModel, shape_error
from latentviz.progress import progress, say
from latentviz.thumbnails import thumbnails

DEFAULT_SHARD_SIZE = 65536
RECON_ERROR = "recon_error"  # the per-sample metadata column written with --recon-error


@dataclass
class EncodeOptions:
    batch_size: int = 256
    limit: int | None = None
    seed: int = 0
    num_workers: int = 0
    amp: bool = True
    device: str = "auto"
    resume: bool = False
    overwrite: bool = False
    shard_size: int = DEFAULT_SHARD_SIZE
    normalize: tuple[list[float], list[float]] | None = None
    recon_error: bool = False  # decode each batch too and store the per-sample squared error
    dedupe_ids: str | None = None  # --dedupe-ids: how duplicate ids are resolved (None refuses them)
    quiet: bool = False
    extra: dict = field(default_factory=dict)  # recorded in the manifest's parameters as given

    def check(self) -> None:
        positive = [Integer(1, None)]
        validate_params(
            "encode",
            {name: getattr(self, name) for name in ("batch_size", "shard_size", "limit", "num_workers", "dedupe_ids")},
            {
                "batch_size": positive,
                "shard_size": positive,
                "limit": [None, *positive],
                "num_workers": [Integer(0, None)],
                "dedupe_ids": [None, Options(*DEDUPE_IDS)],
            },
        )


def versions() -> dict:
    import latentviz

    return {
        "latentviz": latentviz.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# -- distributed --------------------------------------------------------------------------------
def _distributed() -> tuple[int, int]:
    """(rank, world_size); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def _shared_start(error: InputError | None, where: str | None, world: int) -> tuple[InputError | None, str | None]:
    """Rank 0's error (or None) and the folder it prepared (the run, or the replacement built beside it),
    known to every rank."""
    if world <= 1:
        return error, where
    import torch.distributed as dist

    message = [None if error is None else str(error), where]
    dist.broadcast_object_list(message, src=0)
    return (None if message[0] is None else InputError(message[0])), message[1]


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


# -- data loading -------------------------------------------------------------------------------
class _Ranges(torch.utils.data.Dataset):
    """A map-style view whose items are whole batches: index = (start, stop)."""

    def __init__(self, source: DataSource, ranges: list[tuple[int, int]]):
        self.source, self.ranges = source, ranges

    def __len__(self) -> int:
        return len(self.ranges)

    def __getitem__(self, i: int):
        start, stop = self.ranges[i]
        batch = self.source.read(start, stop)
        thumbs = thumbnails(batch.images) if batch.images is not None else None  # in the workers, when there are any
        return start, stop, batch.x, batch.meta, thumbs


def _as_is(item):
    return item


def _to_device(x, device: torch.device, non_blocking: bool):
    if isinstance(x, dict):
        return {k: _to_device(v, device, non_blocking) for k, v in x.items()}
    return x.to(device, non_blocking=non_blocking) if isinstance(x, torch.Tensor) else x


# -- the engine ---------------------------------------------------------------------------------
class _Encoder:
    """Encodes one batch, halving the batch on CUDA out-of-memory."""

    def __init__(self, model: LatentModel, device: torch.device, options: EncodeOptions):
        self.model, self.device, self.options = model, device, options
        self.chunk = options.batch_size
        self.amp = options.amp and device.type == "cuda"
        self.non_blocking = device.type == "cuda"
        self.normalize = None
        if options.normalize:
            mean, std = (torch.tensor(v, dtype=torch.float32, device=device) for v in options.normalize)
            self.normalize = (mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1))

    def __call__(self, x) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(mu, logvar or None, per-sample reconstruction error or None) of one loader batch."""
        n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        mus, logvars, errors, start = [], [], [], 0
        while start < n:
            stop = min(n, start + self.chunk)
            part = {k: v[start:stop] for k, v in x.items()} if isinstance(x, dict) else x[start:stop]
            try:
                mu, logvar, error = self._encode(part)
            except torch.cuda.OutOfMemoryError:
                if self.chunk == 1:
                    raise InputError(
                        "CUDA ran out of memory with a batch of 1; use --device cpu or a smaller model"
                    ) from None
                self.chunk = max(1, self.chunk // 2)
                torch.cuda.empty_cache()
                say(f"CUDA out of memory: batch halved to {self.chunk}", quiet=self.options.quiet)
                continue
            mus.append(mu)
            logvars.append(logvar)
            errors.append(error)
            start = stop
        mu = np.concatenate(mus)
        logvar = None if logvars[0] is None else np.concatenate(logvars)
        error = None if errors[0] is None else np.concatenate(errors)
        return mu, logvar, error

    def _encode(self, x):
        x = _to_device(x, self.device, self.non_blocking)
        if self.normalize is not None and isinstance(x, torch.Tensor):
            mean, std = self.normalize
            if x.ndim != 4 or x.shape[1] != mean.shape[1]:
                raise InputError(
                    f"--normalize gives {mean.shape[1]} channel(s) but the inputs have shape {tuple(x.shape[1:])}"
                )
            x = (x - mean) / std
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            try:
                mu, logvar = self.model.encode(x)
            except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                if isinstance(exc, torch.cuda.OutOfMemoryError):
                    raise
                raise shape_error(self.model, x, exc) from exc
            if mu.is_complex():  # .float() would drop the imaginary part without a word
                raise InputError(
                    f"the model's latents are complex ({mu.dtype}); latentviz needs real codes: return "
                    "torch.view_as_real(z).flatten(1) from the model, or choose a --layer with real outputs"
                )
            error = self._reconstruction_error(x, mu) if self.options.recon_error else None
        mu = mu.float().cpu().numpy()
        return mu, (None if logvar is None else logvar.float().cpu().numpy()), error

    def _reconstruction_error(self, x, mu) -> np.ndarray:
        """Mean squared error per sample between the inputs and the decoded posterior means."""
        if not self.model.has_decoder or not isinstance(x, torch.Tensor):
            raise InputError(
                "--recon-error needs a model with a decoder and tensor inputs; "
                f"this one has {'no decoder' if not self.model.has_decoder else 'token inputs'}"
            )
        x_hat = self.model.decode(mu)
        if tuple(x_hat.shape) != tuple(x.shape):
            raise InputError(
                f"--recon-error: the decoder's outputs {tuple(x_hat.shape[1:])} do not match "
                f"the inputs {tuple(x.shape[1:])}; drop --recon-error"
            )
        return (x_hat.float() - x.float()).pow(2).flatten(1).mean(1).cpu().numpy()


def _shard_ranges(n: int, shard_size: int) -> list[tuple[int, int, int]]:
    return [(i, start, min(n, start + shard_size)) for i, start in enumerate(range(0, n, shard_size))]


def encode(
    model: LatentModel,
    source: DataSource,
    out: str | os.PathLike,
    options: EncodeOptions | None = None,
    *,
    manifest: dict | None = None,
) -> runfolder.Run:
    """Encode ``source`` with ``model`` into the run folder ``out`` and return the :class:`Run`."""
    options = options or EncodeOptions()
    options.check()
    rank, world = _distributed()
    n = min(len(source), options.limit) if options.limit else len(source)
    if n == 0:
        raise InputError(f"--data {source.spec}: the data set is empty")
    device = torch_device(options.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    model.to(device)
    started = time.perf_counter()
    with contextlib.ExitStack() as writing:  # rank 0 holds the lock; a replacement goes in place at the end
        error = where = None
        if rank == 0:
            try:
                own_ids = getattr(source, "ids", None)
                if own_ids is not None:  # a table's own ids: refuse duplicates before encoding
                    dedupe_ids(own_ids[:n], options.dedupe_ids, whom=f"--data {source.spec}")
                run = writing.enter_context(
                    runfolder.new_run(
                        out,
                        command="latentviz encode",
                        overwrite=options.overwrite,
                        resume=options.resume,
                        keep_partial=True,
                    )
                )
                _start_manifest(run, model, source, n, device, options, manifest or {})
                where = str(run.path)
            except InputError as exc:
                error = exc
        error, where = _shared_start(error, where, world)  # every rank stops on rank 0's error, not waiting forever
        if error is not None:
            raise error
        assert where is not None  # rank 0 prepared the folder, as it raised nothing
        run = runfolder.Run(where)
        if run.complete:  # --resume of a finished run: nothing left to do
            return runfolder.Run(out)

        torch.manual_seed(options.seed)
        shards = [s for s in _shard_ranges(n, options.shard_size) if s[0] % world == rank]
        pending = [s for s in shards if not run.shard_path(s[0], "latents").exists()]
        _encode_shards(model, source, run, pending, device, options, rank=rank)
        _barrier(world)
        if rank == 0:
            merge_shards(
                run,
                n_shards=len(_shard_ranges(n, options.shard_size)),
                model=model,
                seconds=time.perf_counter() - started,
                dedupe=options.dedupe_ids,
            )
    _barrier(world)  # rank 0 has put the new run in place
    return runfolder.Run(out)


def _start_manifest(run, model, source, n, device, options, extra: dict) -> None:
    """Write the manifest of a fresh encode, or check that --resume continues the same one."""
    fingerprint = resume_fingerprint(model, source, n, options)
    if options.resume and run.has(runfolder.MANIFEST):
        recorded = run.manifest.get("fingerprint")
        problem = (
            "the run records no fingerprint of its inputs (another version or command made it)"
            if not isinstance(recorded, dict)
            else _difference(recorded, fingerprint)
        )
        if problem:
            raise InputError(f"--resume: {problem}; start afresh with --overwrite")
        return
    run.clear()
    params = {k: v for k, v in asdict(options).items() if k not in ("quiet", "extra", "resume", "overwrite")}
    params.update(options.extra)
    run.update_manifest(
        complete=False,
        versions=versions(),
        model=model.spec,
        data=source.describe(),
        n=n,
        device=str(device),
        seed=options.seed,
        parameters={"encode": params},
        timings={},
        fingerprint=fingerprint,
        **extra,
    )


# -- what --resume compares ---------------------------------------------------------------------
HASH_LIMIT = 64 * 2**20  # files up to this size are hashed; larger ones are compared by size and mtime


def resume_fingerprint(model: LatentModel, source: DataSource, n: int, options: EncodeOptions) -> dict:
    """Everything that decides the latents, as JSON: a resume must find it unchanged."""
    import json

    spec = model.spec
    data = source.describe()
    return json.loads(
        json.dumps(
            {
                "data": {**data, "spec": _resolved(source.spec), "file": _files_fingerprint(source.spec)},
                "checkpoint": spec.get("sha256") or spec.get("checkpoint"),
                "--model": spec.get("factory"),
                "--model file": _files_fingerprint(spec.get("factory")),
                "--model-kwargs": spec.get("kwargs"),
                "--layer": spec.get("layer"),
                "--pool": spec.get("pool"),
                "--pool-axis": spec.get("pool_axis"),
                "--weights": spec.get("weights"),
                "--scale-latents": spec.get("scale_latents"),
                "--max-length": spec.get("max_length"),
                "--strict": spec.get("strict"),
                "--limit": n,
                "--normalize": options.normalize,
                "--shard-size": options.shard_size,
                "--seed": options.seed,
                "--amp": options.amp,
                "--recon-error": options.recon_error,
            },
            default=str,
        )
    )


def _spec_path(spec: str | None) -> Path | None:
    """The file or folder a data/model spec names (``x.npy``, ``folder/``, ``file.py:callable``), if any."""
    if not spec or spec.startswith("builtin:"):
        return None
    for candidate in (spec, spec.rsplit(":", 1)[0]):
        path = Path(candidate)
        if path.exists():
            return path
    return None


def _resolved(spec: str) -> str:
    path = _spec_path(spec)
    return spec if path is None else str(path.resolve()) + spec[len(str(path)) :]


def _files_fingerprint(spec: str | None) -> dict | None:
    """A file's size and sha256 (size and mtime above HASH_LIMIT); a folder's listing digest."""
    import hashlib

    from latentviz.trust import sha256_of

    path = _spec_path(spec)
    if path is None:
        return None
    if path.is_dir():
        listing = hashlib.sha256()
        count = 0
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = item.stat()
            listing.update(f"{item.relative_to(path).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            count += 1
        return {"files": count, "listing": listing.hexdigest()}
    stat = path.stat()
    if stat.st_size <= HASH_LIMIT:
        return {"size": stat.st_size, "sha256": sha256_of(path)}
    return {"size": stat.st_size, "mtime": stat.st_mtime_ns}


def _difference(old: dict, new: dict) -> str | None:
    """The first thing that differs between two fingerprints, said the way a user gave it."""
    old_data, new_data = old.get("data") or {}, new.get("data") or {}
    if old_data.get("spec") != new_data.get("spec"):
        return f"the data source differs (the run was started on {old_data.get('spec')}, now {new_data.get('spec')})"
    if old_data.get("file") != new_data.get("file"):
        keys = sorted(set(old_data.get("file") or {}) | set(new_data.get("file") or {}))
        changed = "/".join(
            k for k in keys if (old_data.get("file") or {}).get(k) != (new_data.get("file") or {}).get(k)
        )
        return f"the data changed since the run started ({changed} of {Path(str(new_data.get('spec'))).name})"
    for key in sorted(set(old_data) | set(new_data)):
        if old_data.get(key) != new_data.get(key):
            return f"the data's {key} differs (was {old_data.get(key)}, now {new_data.get(key)})"
    if old.get("checkpoint") != new.get("checkpoint"):
        return "the checkpoint changed since the run started (its sha256 differs)"
    for key in new:
        if key in ("data", "checkpoint") or old.get(key) == new.get(key):
            continue
        if key.endswith(" file"):
            return f"the {key} changed since the run started"
        return f"{key} differs from the run's (was {old.get(key)!r}, now {new.get(key)!r})"
    return None


def _encode_shards(model, source, run, shards, device, options, *, rank: int) -> None:
    if not shards:
        return
    batch_ranges, owner = [], []
    for index, start, stop in shards:
        for b in range(start, stop, options.batch_size):
            batch_ranges.append((b, min(stop, b + options.batch_size)))
            owner.append(index)
    loader = torch.utils.data.DataLoader(
        _Ranges(source, batch_ranges),
        batch_size=None,
        shuffle=False,
        collate_fn=_as_is,
        num_workers=options.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if options.num_workers else None,
    )
    encoder = _Encoder(model, device, options)
    total = sum(stop - start for _, start, stop in shards)
    collected: dict[int, list] = {}
    remaining = {index: stop - start for index, start, stop in shards}
    with progress(
        total=total,
        desc=f"encode{'' if rank == 0 else f' [rank {rank}]'}",
        unit="sample",
        quiet=options.quiet or rank != 0,
    ) as bar:
        for (start, stop, x, meta, thumbs), index in zip(loader, owner, strict=True):
            mu, logvar, error = encoder(x)
            if error is not None:
                meta = {**meta, RECON_ERROR: error}
            if len(mu) != stop - start:
                raise InputError(
                    f"the model returned {len(mu)} latents for a batch of {stop - start} inputs; "
                    "its output's first axis must be the batch"
                )
            collected.setdefault(index, []).append((meta, mu, logvar, thumbs))
            remaining[index] -= stop - start
            if remaining[index] == 0:
                write_shard(run, index, collected.pop(index))
            bar.update(stop - start)


def write_shard(run, index: int, parts: list) -> None:
    import pyarrow as pa

    meta: dict[str, list] = {k: [] for k in parts[0][0]}
    for part_meta, *_ in parts:
        for key, values in part_meta.items():
            meta[key].extend(values.tolist() if hasattr(values, "tolist") else list(values))
    mu = np.concatenate([p[1] for p in parts]).astype(np.float32)
    columns = {key: _column(values) for key, values in meta.items()}
    columns["id"] = pa.array([str(v) for v in meta["id"]], type=pa.string())
    for j in range(mu.shape[1]):
        columns[f"{runfolder.Z_PREFIX}{j}"] = pa.array(mu[:, j])
    if parts[0][2] is not None:
        logvar = np.concatenate([p[2] for p in parts]).astype(np.float32)
        for j in range(logvar.shape[1]):
            columns[f"{runfolder.LOGVAR_PREFIX}{j}"] = pa.array(logvar[:, j])
    order = ["id"] + [k for k in columns if k != "id"]
    if parts[0][3] is not None:  # thumbnails first: the latents file is what marks the shard as done
        pngs = [png for p in parts for png in p[3]]
        runfolder.write_table(
            run.shard_path(index, "thumbs"), pa.table({"id": columns["id"], "png": pa.array(pngs, type=pa.binary())})
        )
    runfolder.write_table(run.shard_path(index, "latents"), pa.table({k: columns[k] for k in order}))


def _column(values: list):
    """A pyarrow column: numbers stay numbers, anything else (labels, paths, None) becomes text."""
    import pyarrow as pa

    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return pa.array(values, type=pa.bool_())
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return pa.array(values, type=pa.int64())
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        return pa.array(values, type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def merge_shards(run, *, n_shards: int, model: LatentModel, seconds: float, dedupe: str | None = None) -> None:
    """Concatenate the shards in order into latents.parquet / thumbnails.parquet, then mark complete.

    Duplicate ids are refused unless ``dedupe`` (``--dedupe-ids``) resolves them, and latents
    without one finite row are refused: every later stage would be silently wrong.
    """
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from latentviz.latent_stats import LatentStats

    paths = [run.shard_path(i, "latents") for i in range(n_shards)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise InputError(f"encode: shard(s) {', '.join(missing[:3])} missing after encoding; re-run with --resume")
    schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
    shard_ids = [pq.read_table(p, columns=["id"])["id"].to_pylist() for p in paths]
    ids, keep = dedupe_ids(
        [i for part in shard_ids for i in part],
        dedupe,
        whom=f"--data {(run.manifest.get('data') or {}).get('spec', '')}".rstrip(),
    )
    bounds = np.cumsum([0] + [len(part) for part in shard_ids])

    def resolved(table, i: int):
        """Shard ``i``'s rows with their resolved ids (and only the kept rows)."""
        rows = slice(bounds[i], bounds[i + 1])
        table = table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids[rows].tolist(), pa.string()))
        return table if keep is None else table.filter(pa.array(keep[rows]))

    stats, finite = None, 0
    with runfolder.atomic_path(run.file(runfolder.LATENTS)) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            for i, path in enumerate(paths):
                table = resolved(pq.read_table(path).cast(schema), i)
                writer.write_table(table)
                z = np.column_stack([table[c].to_numpy() for c in schema.names if _is_z(c, runfolder.Z_PREFIX)])
                lv_cols = [c for c in schema.names if _is_z(c, runfolder.LOGVAR_PREFIX)]
                logvar = np.column_stack([table[c].to_numpy() for c in lv_cols]) if lv_cols else None
                stats = stats or LatentStats(z.shape[1])
                stats.update(z, logvar)
                finite += int(np.isfinite(z).all(axis=1).sum())
        if not finite or stats is None:  # stats is None only when no shard had a row
            raise InputError(
                f"encode: the model's latents hold NaN or inf for all {len(ids)} samples; nothing to "
                "project or measure: check the checkpoint's weights and the inputs (--normalize)"
            )
    thumb_paths = [run.shard_path(i, "thumbs") for i in range(n_shards)]
    if all(p.exists() for p in thumb_paths):
        with runfolder.atomic_path(run.file(runfolder.THUMBNAILS)) as tmp:
            with pq.ParquetWriter(tmp, pq.read_schema(thumb_paths[0])) as writer:
                for i, path in enumerate(thumb_paths):
                    writer.write_table(resolved(pq.read_table(path), i))
    run.invalidate()
    spec = dict(run.manifest.get("model") or {})
    spec.update(
        latent_shape=list(model.latent_shape) if model.latent_shape else None, gives_variance=model.gives_variance
    )
    run.update_manifest(
        model=spec,
        kind=model.kind,
        latent_dim=stats.dim,
        latent_shape=spec["latent_shape"],
        latent_stats=stats.compute(),
        timings={"encode": round(seconds, 4)},
        n=len(ids) if keep is None else int(keep.sum()),
    )
    if dedupe is not None:
        encode_params = (run.manifest.get("parameters") or {}).get("encode") or {}
        run.update_manifest(parameters={"encode": {**encode_params, "dedupe_ids": dedupe}})
    shutil.rmtree(run.shard_dir, ignore_errors=True)
    run.update_manifest(complete=True)


def _is_z(column: str, prefix: str) -> bool:
    return column.startswith(prefix) and column[len(prefix) :].isdigit()


def encode_checkpoint(
    checkpoint: str,
    data: str,
    out,
    *,
    factory: str | None = None,
    factory_kwargs: dict | None = None,
    layer: str | None = None,
    trust_checkpoint: bool = False,
    strict: bool = True,
    pool: str | None = None,
    pool_axis: str | None = None,
    max_length: int | None = None,
    weights: str | None = None,
    scale_latents: bool = False,
    image_size=None,
    features=None,
    data_options: dict | None = None,
    options: EncodeOptions | None = None,
) -> runfolder.Run:
    """Load the checkpoint and the data source, then :func:`encode` — what ``latentviz encode`` does.

    A dataset callable is recorded by its absolute path and sha256, and this machine's trust
    store records that its user made the run with what was named here (:mod:`latentviz.trust`).
    """
    from latentviz.data import open_source
    from latentviz.models import load_model
    from latentviz.trust import code_sha256, pin, remember

    options = options or EncodeOptions()
    options.check()
    source = open_source(pin(data), image_size=image_size, features=features, **(data_options or {}))
    digest = code_sha256(data)
    if digest:  # checked before a later command imports that file again
        source.options = {**source.options, "sha256": digest}
    model = load_model(
        checkpoint,
        factory=factory,
        factory_kwargs=factory_kwargs,
        layer=layer,
        trust_checkpoint=trust_checkpoint,
        strict=strict,
        pool=pool,
        pool_axis=pool_axis,
        max_length=max_length,
        weights=weights,
        scale_latents=scale_latents,
        device="cpu",
    )
    run = encode(model, source, out, options)
    remember(model=model.spec, data=source.describe(), trust_checkpoint=trust_checkpoint)
    return run
