"""``LatentModel``: one interface (encode, decode, sample_prior) over any loaded model.

Encoder resolution: ``--layer NAME`` (a forward hook on that submodule) > an ``encode`` method >
an ``encoder`` attribute > ``forward``. Decoder: a ``decode`` method > a ``decoder`` attribute >
``forward`` for generator-only models. Programs whose forward *is* the encoder (``torch.export``,
transformers models, whose ``encoder`` attribute is only a part) pass ``forward_only=True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from latentviz._validation import ParameterError
from latentviz.errors import InputError
from latentviz.models._conventions import interpret_output

KINDS = ("vae", "autoencoder", "generator", "feature_extractor", "embedding")


class LatentModel:
    """Wraps a module. ``encode(x) -> (mu, logvar | None)`` with latents flattened to (batch, d)."""

    def __init__(
        self,
        module: nn.Module,
        *,
        spec: dict,
        layer: str | None = None,
        generator: bool = False,
        input_transform: Callable | None = None,
        output_transform: Callable | None = None,
        pool: Callable | None = None,
        forward_only: bool = False,
        no_decoder_reason: str | None = None,
        latent_scaling: tuple[float, float] | None = None,
    ):
        self.module = _eval_mode(module)
        self.spec = spec
        self.layer = layer
        self.input_transform = input_transform
        self.output_transform = output_transform
        self.pool = pool
        self.latent_scaling = latent_scaling  # (shift, scale): latents are (mean - shift) * scale, decoded inversely
        self.latent_shape: tuple[int, ...] | None = tuple(spec["latent_shape"]) if spec.get("latent_shape") else None
        self.gives_variance: bool | None = None
        self.forward_only = forward_only
        self._encode_fn: Callable | None
        self.encoder_source: str | None
        self._encode_fn, self.encoder_source = (None, None) if generator else self._find_encoder()
        self._decode_fn, self.decoder_source = self._find_decoder(generator)
        if no_decoder_reason and self._decode_fn is not None:
            self._decode_fn, self.decoder_source = None, f"none ({no_decoder_reason})"
        if self._encode_fn is None and self._decode_fn is None:
            raise InputError("the model has neither an encoder nor a decoder latentviz can find")

    # -- resolution ---------------------------------------------------------------------------
    def _find_encoder(self) -> tuple[Callable, str]:
        m = self.module
        if self.layer:
            names = dict(m.named_modules()) if hasattr(m, "named_modules") else {}
            if self.layer not in names:
                close = [n for n in names if n and self.layer.split(".")[-1] in n][:5]
                hint = f"; similar: {', '.join(close)}" if close else "; 'latentviz inspect' lists candidates"
                raise ParameterError("encode", "layer", f"the model has no submodule '{self.layer}'{hint}")
            return self._hooked(names[self.layer]), f"layer '{self.layer}' (forward hook)"
        if self.forward_only:
            return m, "forward"
        if callable(getattr(m, "encode", None)):
            return m.encode, "encode method"
        if isinstance(getattr(m, "encoder", None), nn.Module) or callable(getattr(m, "encoder", None)):
            return m.encoder, "encoder attribute"
        return m, "forward"

    def _find_decoder(self, generator: bool) -> tuple[Callable | None, str | None]:
        m = self.module
        if self.forward_only:
            return None, None
        if callable(getattr(m, "decode", None)):
            return m.decode, "decode method"
        if callable(getattr(m, "decoder", None)):
            return m.decoder, "decoder attribute"
        if generator:
            return m, "forward"
        return None, None

    def _hooked(self, submodule: nn.Module):
        captured = {}

        def hook(_mod, _inp, out):
            captured["out"] = _copied(out)  # an in-place activation after the layer would overwrite it

        def encode(x):
            try:
                handle = submodule.register_forward_hook(hook)
            except RuntimeError as exc:  # TorchScript modules refuse hooks
                raise ParameterError(
                    "encode",
                    "layer",
                    f"{self.layer}: this model takes no forward hooks ({exc}); load it from its Python code "
                    "(a state dict and its factory) to hook a layer",
                ) from exc
            try:
                self._call(self.module, x)
            finally:
                handle.remove()
            if "out" not in captured:
                raise ParameterError(
                    "encode",
                    "layer",
                    f"{self.layer}: that submodule is not called by the model's forward; "
                    "'latentviz inspect --data DATA' lists the layers that are",
                )
            return captured.pop("out")

        return encode

    # -- properties -----------------------------------------------------------------------------
    @property
    def has_encoder(self) -> bool:
        return self._encode_fn is not None

    @property
    def has_decoder(self) -> bool:
        return self._decode_fn is not None

    @property
    def latent_dim(self) -> int | None:
        return math.prod(self.latent_shape) if self.latent_shape else None

    @property
    def kind(self) -> str:
        if not self.has_encoder:
            return "generator"
        if self.layer:
            return "feature_extractor"
        if self.has_decoder:
            return "vae" if self.gives_variance else "autoencoder"
        return "embedding"

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def _float_dtype(self) -> torch.dtype:
        return next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)

    def parameters(self):
        return self.module.parameters() if hasattr(self.module, "parameters") else iter(())

    def to(self, device) -> LatentModel:
        self.module = self.module.to(device)
        return self

    # -- calls ------------------------------------------------------------------------------------
    @staticmethod
    def _call(fn, x):
        return fn(**x) if isinstance(x, dict) else fn(x)

    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latent means (batch, d) and log variances (batch, d) or None."""
        if self._encode_fn is None:
            raise InputError("this model has no encoder (a generator); use 'latentviz sample'")
        if self.input_transform is not None:
            x = self.input_transform(x)
        out = self._call(self._encode_fn, x)
        mu, logvar = interpret_output(out)
        if self.latent_scaling is not None:
            shift, scale = self.latent_scaling
            mu = (mu - shift) * scale
            logvar = None if logvar is None else logvar + 2.0 * math.log(scale)
        if self.pool is not None:
            mu, logvar = self.pool(mu, logvar, x)
        shape = tuple(mu.shape[1:])
        if self.latent_shape is None:
            self.latent_shape = shape
        self.gives_variance = logvar is not None
        mu = mu.reshape(len(mu), -1)
        return mu, (logvar.reshape(len(logvar), -1) if logvar is not None else None)

    def decode(self, z):
        """Decoded outputs for flat latents (batch, d); reshaped to the latent's own shape first.

        ``z`` may be a tensor or an array of any float dtype: it is moved to the model's device
        and floating dtype.
        """
        if self._decode_fn is None:
            raise InputError("this model has no decoder (no decode method, decoder attribute or generator forward)")
        z = torch.as_tensor(z, device=self.device, dtype=self._float_dtype())
        if self.latent_shape is not None and len(self.latent_shape) > 1:
            z = z.reshape(len(z), *self.latent_shape)
        if self.latent_scaling is not None:
            shift, scale = self.latent_scaling
            z = z / scale + shift
        out = self._decode_fn(z)
        if hasattr(out, "sample") and not isinstance(out, torch.Tensor):
            out = out.sample
        if isinstance(out, (tuple, list)):
            out = out[0]
        if self.output_transform is not None:
            out = self.output_transform(out)
        return out

    def sample_prior(self, n: int, *, seed: int = 0, device=None) -> torch.Tensor:
        """n draws from N(0, I) in the flat latent space, reproducible from ``seed``."""
        if self.latent_dim is None:
            raise InputError("the latent dimension is unknown; give --latent-dim")
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.latent_dim, generator=gen).to(device or self.device)

    def describe(self) -> dict:
        """What ``inspect`` prints and the manifest records."""
        n_params = sum(p.numel() for p in self.parameters())
        return {
            "kind": self.kind,
            "encoder": self.encoder_source,
            "decoder": self.decoder_source,
            "latent_dim": self.latent_dim,
            "latent_shape": list(self.latent_shape) if self.latent_shape else None,
            "parameters": n_params,
        }


def _copied(out):
    """``out`` with every tensor cloned (through plain tuples, lists and dicts): what the layer returned."""
    if isinstance(out, torch.Tensor):
        return out.clone()
    if type(out) in (tuple, list):
        return type(out)(_copied(v) for v in out)
    if type(out) is dict:
        return {k: _copied(v) for k, v in out.items()}
    return out  # other containers (library output classes) as they are


def _eval_mode(module):
    """``module.eval()``; a torch.export program keeps the mode it was exported in and refuses the call."""
    try:
        return module.eval()
    except NotImplementedError:
        return module


def expected_input(module) -> str | None:
    """A phrase describing what the first layer expects, for shape-mismatch messages."""
    if not hasattr(module, "modules"):
        return None
    for sub in module.modules():
        if isinstance(sub, nn.modules.conv._ConvNd):
            return f"its first layer ({type(sub).__name__}) expects {sub.in_channels} input channels"
        if isinstance(sub, nn.Linear):
            return f"its first layer (Linear) expects {sub.in_features} input features"
        if isinstance(sub, nn.Embedding):
            return f"its first layer (Embedding) expects integer ids below {sub.num_embeddings}"
    return None


def shape_error(model, x, exc: Exception) -> InputError:
    """The one-line error for inputs ``x`` that ``model`` failed to encode with ``exc`` (encode and inspect)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(x, list):  # texts from a .txt or --text-column
        return InputError(
            f"the model cannot encode the texts from --data ({first}); texts need a transformers "
            "model folder as CHECKPOINT, or give token ids (.npy/.npz)"
        )
    shape = {k: tuple(v.shape[1:]) for k, v in x.items()} if isinstance(x, dict) else tuple(x.shape[1:])
    expects = expected_input(model.module) or "it rejected them"
    return InputError(
        f"the model cannot encode inputs of shape {shape} from --data: {expects} ({first}); "
        "check --data, --image-size or --model"
    )
